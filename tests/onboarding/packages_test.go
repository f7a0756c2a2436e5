package onboarding

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestPackagesCheck: .ci/check-packages, the first step of `make test`,
// names every missing package of its list at once and fails, in seconds;
// with the repository's list on this machine (where the tests run) it
// passes, so each line's probe finds what its package installs.
func TestPackagesCheck(t *testing.T) {
	script := filepath.Join(harness.Root(), ".ci", "check-packages")
	for _, tc := range []struct {
		name, list string
		code       int
		want       []string
	}{
		{"the repository's list", "", 0, nil},
		{"three missing", "curl cmd curl\nno-such-pkg cmd no-such-command-o2p\nno-such-lib file /no/such/file.h\nno-such-py python no_such_module_o2p\n",
			1, []string{"no-such-pkg", "no-such-lib", "no-such-py", "apt-get install no-such-pkg no-such-lib no-such-py"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := script
			if tc.list != "" {
				dir := filepath.Join(t.TempDir(), ".ci")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(script)
				if err != nil {
					t.Fatal(err)
				}
				bin = filepath.Join(dir, "check-packages")
				if err := os.WriteFile(bin, b, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "packages"), []byte(tc.list), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stderr bytes.Buffer
			cmd := exec.Command(bin)
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || took > 10*time.Second {
				t.Errorf("exit %d after %v, stderr %q; want %d within 10s", code, took, stderr.String(), tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not name %q", stderr.String(), w)
				}
			}
			if strings.Contains(stderr.String(), "curl") {
				t.Errorf("an installed package was named missing: %q", stderr.String())
			}
		})
	}
}

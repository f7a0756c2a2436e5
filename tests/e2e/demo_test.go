package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestDemo runs `make demo` from the module root, as a user would on a
// machine without PostgreSQL, and wants it to say that it is building
// before the silent compile, then finish successfully.
func TestDemo(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "demo")
	cmd.Dir = harness.Root()
	// The demo must not depend on a database the caller happens to name.
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make demo: %v\n%s", err, out.Bytes())
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first, "building") {
		t.Errorf("make demo's first line is %q, want it to say it is building", first)
	}
	for _, want := range []string{"> POST https://orders.demo/oauth2/token", "< 200 OK", "< 401 Unauthorized",
		`{"revoked":1}`, "demo OK"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

package serve

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// serveCmd is `serve -config` on a free port with env added and no store
// named unless args name one.
func serveCmd(t *testing.T, env []string, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(conf, []byte(ordersConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	cmd := exec.Command(harness.Binary(t), append([]string{"serve", "-config", conf, "-http", addr}, args...)...)
	cmd.Env = append(append(os.Environ(), harness.ChildEnv()...), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, "http://" + addr, &stderr
}

// TestServeDefaultStore: serve with no store named uses the embedded store
// under $XDG_DATA_HOME (else ~/.local/share), creating its directory, and
// says so; the CLI pointed at that file sees what serve sees.
func TestServeDefaultStore(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(dir string) []string
		file string
	}{
		{"XDG_DATA_HOME", func(dir string) []string { return []string{"XDG_DATA_HOME=" + dir + "/data"} }, "data/oauth2-password/oauth2-password.db"},
		{"HOME", func(dir string) []string { return []string{"XDG_DATA_HOME=", "HOME=" + dir} }, ".local/share/oauth2-password/oauth2-password.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd, base, stderr := serveCmd(t, tc.env(dir))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			waitStatus(t, base+"/readyz", 200)
			file := filepath.Join(dir, tc.file)
			if fi, err := os.Stat(filepath.Dir(file)); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("store directory: %v %v; want it created, 0700", fi, err)
			}
			c := harness.CreateClient(t, "sqlite:"+file, "bob", "web")
			form := "grant_type=password&provision_key=" + provisionKey + "&authenticated_userid=u&client_id=" + c.ID + "&client_secret=" + c.Secret
			resp, err := http.Post(base+"/services/orders/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(form))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// Plain HTTP without a trusted X-Forwarded-Proto: the client
			// was found (else 401 invalid_client), and HTTPS is required.
			if resp.StatusCode != 400 {
				t.Errorf("token with a client created in the default store: %d, want 400 (HTTPS required)", resp.StatusCode)
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Errorf("serve after SIGTERM: %v", err)
			}
			if !strings.Contains(stderr.String(), file) {
				t.Errorf("serve's log does not name %s: %s", file, stderr)
			}
		})
	}
}

// TestServeStoreStartFailure: a store that cannot be opened at start ends
// serve with exit 1 and one line saying why: at once for the embedded
// store, after -store-start-timeout for PostgreSQL.
func TestServeStoreStartFailure(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	for _, tc := range []struct {
		name   string
		args   []string
		want   string
		within time.Duration
	}{
		{"embedded store in a missing directory", []string{"-database-url", "sqlite:" + missing + "/x.db"}, "directory " + missing + " does not exist", 15 * time.Second},
		{"PostgreSQL never up", []string{"-database-url", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", "-store-start-timeout", "3s"}, "-store-start-timeout 3s", 20 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, _, stderr := serveCmd(t, nil, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), tc.within)
			defer cancel()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				ee, ok := err.(*exec.ExitError)
				lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
				last := lines[len(lines)-1]
				if !ok || ee.ExitCode() != 1 || !strings.HasPrefix(last, "oauth2-password: serve: cannot open the store") || !strings.Contains(last, tc.want) {
					t.Errorf("exit %v, last line %q; want 1 and a line naming %q", err, last, tc.want)
				}
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("serve still running after %v: %s", tc.within, stderr)
			}
			if _, err := os.Stat(missing); err == nil {
				t.Error("the missing directory was created")
			}
		})
	}
}

func waitStatus(t *testing.T, u string, status int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %d within 20s (%v)", u, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

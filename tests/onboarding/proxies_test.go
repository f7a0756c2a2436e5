package onboarding

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestReadmeProxies runs the README's "nginx, Caddy, Traefik" section for
// each proxy installed here, as written: the set-up block (serve, the
// certificate, the stand-in API), the proxy's block, and the block that
// proves it (a client, a token through the proxy, the API with the token,
// 401 without). Only the fixed ports change, to free ones, so the test can
// run beside others. Traefik has no Debian package and is not run.
func TestReadmeProxies(t *testing.T) {
	t.Parallel()
	blocks := shBlocks(t, "## nginx, Caddy, Traefik")
	if len(blocks) != 5 {
		t.Fatalf("%d sh blocks in the proxies' section; this test runs 5: set-up, nginx, Caddy, Traefik, proof", len(blocks))
	}
	for _, tc := range []struct {
		proxy, bin string
		block      string
	}{
		{"nginx", "nginx", blocks[1]},
		{"Caddy", "caddy", blocks[2]},
	} {
		t.Run(tc.proxy, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(tc.bin); err != nil {
				if _, err := os.Stat("/usr/sbin/" + tc.bin); err != nil {
					t.Fatalf("%s is not installed: apt-get install %s", tc.bin, tc.bin)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			serve, proxy, api := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
			script := strings.NewReplacer(
				"127.0.0.1:8080", serve, "127.0.0.1:8443", proxy, "127.0.0.1:9000", api,
				"http.server 9000", "http.server "+api[strings.LastIndex(api, ":")+1:],
			).Replace(blocks[0] + tc.block + blocks[4])

			cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
			cmd.Dir = dir
			cmd.Env = append(append(os.Environ(), harness.ChildEnv()...), binPath(t)+string(os.PathListSeparator)+"/usr/sbin", "REPO="+harness.Root())
			// The background jobs (serve, the API, Caddy) share the script's
			// process group; nginx daemonizes and is stopped by its pid file.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			// A file, not a pipe: the background jobs keep their copy of
			// the script's output open after the script ends.
			outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer outFile.Close()
			cmd.Stdout, cmd.Stderr = outFile, outFile
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pgid := cmd.Process.Pid
			t.Cleanup(func() {
				if b, err := os.ReadFile(filepath.Join(dir, "nginx", "nginx.pid")); err == nil {
					_ = exec.Command("kill", "-QUIT", strings.TrimSpace(string(b))).Run()
				}
				_ = syscall.Kill(-pgid, syscall.SIGTERM)
			})
			err = cmd.Wait()
			b, _ := os.ReadFile(outFile.Name())
			out := string(b)
			logs := ""
			for _, f := range []string{"serve.log", "caddy.log", "nginx/error.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					logs += "\n--- " + f + ":\n" + string(b)
				}
			}
			if err != nil {
				t.Fatalf("the README's lines failed: %v\n%s%s", err, out, logs)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) < 2 || lines[len(lines)-2] != "the orders API" || lines[len(lines)-1] != "401" {
				t.Errorf("want the API's answer with the token and 401 without; got:\n%s%s", out, logs)
			}
		})
	}
}

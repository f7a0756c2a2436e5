package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestMakeRun runs `make run`'s program as a subprocess, twice on the same
// directory, runs the lines it prints with sh exactly as printed, and stops
// it with SIGINT. The second run keeps the config (and its provision key)
// and the example client.
func TestMakeRun(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "run")
	build := exec.Command("go", "build", "-o", prog, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building tests/run: %v\n%s", err, out)
	}
	work := t.TempDir()
	var kept map[string][]byte
	for round := 1; round <= 2; round++ {
		t.Run(fmt.Sprintf("run %d", round), func(t *testing.T) {
			out := runOnce(t, prog, work)
			files := map[string][]byte{}
			for _, f := range []string{"serve.yaml", "client.env"} {
				b, err := os.ReadFile(filepath.Join(work, "run", f))
				if err != nil {
					t.Fatal(err)
				}
				files[f] = b
			}
			env := readEnv(filepath.Join(work, "run", "client.env"))
			for _, k := range []string{"CLIENT_SECRET", "PROVISION_KEY"} {
				if env[k] == "" || strings.Contains(out, env[k]) {
					t.Errorf("%s is empty or printed", k)
				}
			}
			if kept == nil {
				kept = files
				return
			}
			for f, b := range files {
				if !bytes.Equal(b, kept[f]) {
					t.Errorf("the second run changed %s", f)
				}
			}
		})
	}
}

// runOnce starts the program in work, runs its lines, stops it with
// SIGINT, and returns what it printed.
func runOnce(t *testing.T, prog, work string) string {
	serveAddr, gatewayAddr := harness.FreeAddr(t), harness.FreeAddr(t)
	return runProgram(t, prog, work, []string{"-dir", "run", "-serve", serveAddr, "-gateway", gatewayAddr},
		[]string{serveAddr, gatewayAddr}, demoHeaders)
}

// The identity the API gets behind make run's gateway, and behind each
// gateway example (deploy/*/serve.yaml: the consumer web-app).
var (
	demoHeaders = map[string]string{"x-authenticated-userid": "user-4711", "x-consumer-username": "bob",
		"x-consumer-custom-id": "crm-17", "x-authenticated-scope": "orders.read"}
	exampleHeaders = map[string]string{"x-authenticated-userid": "user-4711", "x-consumer-username": "web-app",
		"x-authenticated-scope": "orders.read"}
)

// TestGatewayExamples runs `make example-nginx`, -caddy and -haproxy's
// program: the deploy/ files with the real proxy, and the lines it prints.
func TestGatewayExamples(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "run")
	build := exec.Command("go", "build", "-o", prog, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building tests/run: %v\n%s", err, out)
	}
	for _, gw := range []string{"nginx", "caddy", "haproxy"} {
		t.Run(gw, func(t *testing.T) {
			work := t.TempDir()
			serveAddr, proxyAddr, spoeAddr := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
			runProgram(t, prog, work, []string{"-proxy", gw, "-deploy", filepath.Join(harness.Root(), "deploy"),
				"-dir", "example", "-serve", serveAddr, "-proxy-addr", proxyAddr, "-spoe", spoeAddr},
				[]string{serveAddr, proxyAddr}, exampleHeaders)
		})
	}
}

// runProgram starts the program in work with args, runs its lines, checks
// that the API got headers, stops it with SIGINT, checks that addrs are
// closed, and returns what it printed.
func runProgram(t *testing.T, prog, work string, args, addrs []string, headers map[string]string) string {
	cmd := exec.Command(prog, append(args, "-bin", harness.Binary(t))...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), harness.ChildEnv()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	printed := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if !sent && strings.HasPrefix(sc.Text(), endLines) {
				printed <- all.String()
				sent = true
			}
		}
		if !sent {
			printed <- all.String()
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	var out string
	select {
	case out = <-printed:
	case <-time.After(60 * time.Second):
		t.Fatalf("no curl lines within 60s; stderr:\n%s", stderr.String())
	}
	block, ok := between(out, beginLines, endLines)
	if !ok {
		t.Fatalf("printed no block of lines:\n%s\nstderr:\n%s", out, stderr.String())
	}
	steps := runLines(t, work, block)
	checkSteps(t, steps, headers)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("after SIGINT: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGINT")
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the program exited", addr)
		}
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Errorf("serve did not shut down gracefully; stderr:\n%s", stderr.String())
	}
	return out
}

// between is the text between the line starting with begin and the line
// starting with end.
func between(s, begin, end string) (string, bool) {
	i := strings.Index(s, "\n"+begin)
	if i < 0 {
		return "", false
	}
	rest := s[i+1:]
	rest = rest[strings.Index(rest, "\n")+1:]
	j := strings.Index(rest, "\n"+end)
	if j < 0 {
		return "", false
	}
	return rest[:j+1], true
}

var stepRe = regexp.MustCompile(`^# (\d+)\. `)

// runLines runs the printed lines, unchanged, in one sh, and returns each
// numbered step's output (a marker line is echoed before each step).
func runLines(t *testing.T, dir, block string) map[string]string {
	t.Helper()
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, line := range strings.Split(block, "\n") {
		if m := stepRe.FindStringSubmatch(line); m != nil {
			script.WriteString("echo '@@step " + m[1] + "'\n")
		}
		script.WriteString(line + "\n")
	}
	sh := exec.Command("sh", "-c", script.String())
	sh.Dir = dir
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the printed lines failed: %v\n%s", err, out)
	}
	steps := map[string]string{}
	for _, part := range strings.Split(string(out), "@@step ")[1:] {
		n, text, _ := strings.Cut(part, "\n")
		steps[n] = text
	}
	return steps
}

// checkSteps checks that each step did what its comment says.
func checkSteps(t *testing.T, steps map[string]string, headers map[string]string) {
	t.Helper()
	var first, second struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(steps["1"]), &first); err != nil || first.AccessToken == "" || first.TokenType != "bearer" {
		t.Errorf("step 1 (password grant) printed %q", redact(steps["1"]))
	}
	var echo struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(steps["2"]), &echo); err != nil {
		t.Errorf("step 2 (protected call) printed %q", redact(steps["2"]))
	}
	for h, want := range headers {
		if echo.Headers[h] != want {
			t.Errorf("step 2: the API got %s %q, want %q", h, echo.Headers[h], want)
		}
	}
	if _, ok := echo.Headers["authorization"]; ok {
		t.Error("step 2: the API got the token (the gateway hides it)")
	}
	if err := json.Unmarshal([]byte(steps["3"]), &second); err != nil || second.AccessToken == "" || second.AccessToken == first.AccessToken {
		t.Errorf("step 3 (refresh) printed %q", redact(steps["3"]))
	}
	s4 := steps["4"]
	if !strings.Contains(s4, "revoke: 200") || !regexp.MustCompile(`HTTP/[0-9.]+ 401`).MatchString(s4) ||
		!regexp.MustCompile(`(?i)\nwww-authenticate: Bearer .*error="invalid_token"`).MatchString(s4) {
		t.Errorf("step 4 (revoke, then 401) printed %q", s4)
	}
}

var tokenRe = regexp.MustCompile(`"(access|refresh)_token":"[^"]+"`)

// redact hides tokens in a failure message.
func redact(s string) string { return tokenRe.ReplaceAllString(s, `"${1}_token":"…"`) }

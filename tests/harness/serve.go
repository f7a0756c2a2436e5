package harness

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Serve is the real binary running `oauth2-password serve`.
type Serve struct {
	URL    string       // http://127.0.0.1:port, or https:// with TLS
	Client *http.Client // trusts the server's certificate
	Config string       // the config file's path
	cmd    *exec.Cmd
	exited chan error
	mu     sync.Mutex
	lines  []string // stderr
}

// Output returns the lines the process wrote on stderr so far.
func (s *Serve) Output() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// StartServe writes config (YAML) to a file, starts `serve` on a free
// loopback port against dbURL (extra flags may follow) and waits until
// /readyz answers 200. The process is stopped when the test ends.
func StartServe(t testing.TB, dbURL, config string, extraArgs ...string) *Serve {
	t.Helper()
	s := LaunchServe(t, dbURL, config, extraArgs...)
	s.WaitReady(t)
	return s
}

// StartServeTLS is StartServe with HTTPS on a self-signed certificate that
// s.Client trusts.
func StartServeTLS(t testing.TB, dbURL, config string, extraArgs ...string) *Serve {
	t.Helper()
	cert, key, client := TLSFiles(t)
	s := LaunchServe(t, dbURL, config, append([]string{"-tls-cert", cert, "-tls-key", key}, extraArgs...)...)
	s.URL = strings.Replace(s.URL, "http://", "https://", 1)
	s.Client = client
	s.WaitReady(t)
	return s
}

// StartServePlain is StartServe on PlainBinary.
func StartServePlain(t testing.TB, dbURL, config string, extraArgs ...string) *Serve {
	t.Helper()
	s := launchServe(t, PlainBinary(t), dbURL, config, extraArgs...)
	s.WaitReady(t)
	return s
}

// LaunchServe starts `serve` without waiting for it to be ready.
func LaunchServe(t testing.TB, dbURL, config string, extraArgs ...string) *Serve {
	t.Helper()
	return launchServe(t, Binary(t), dbURL, config, extraArgs...)
}

func launchServe(t testing.TB, bin, dbURL, config string, extraArgs ...string) *Serve {
	t.Helper()
	path := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	args := append([]string{"serve", "-config", path, "-http", addr, "-database-url", dbURL}, extraArgs...)
	s := &Serve{URL: "http://" + addr, Client: &http.Client{Timeout: 30 * time.Second}, Config: path, exited: make(chan error, 1)}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), ChildEnv()...)
	logf := SafeLog(t)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting serve: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			logf("serve: " + sc.Text())
		}
		s.exited <- s.cmd.Wait()
	}()
	t.Cleanup(func() { _ = s.Stop(t) })
	return s
}

// PID is the process id of the running binary (for /proc/PID/status).
func (s *Serve) PID() int { return s.cmd.Process.Pid }

// WaitReady waits until /readyz answers 200.
func (s *Serve) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := s.Client.Get(s.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("serve exited while starting: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("serve not ready within 20s")
}

// Stop sends SIGTERM and waits for the process; it returns the exit error
// (nil for exit 0). Calling it again returns the same.
func (s *Serve) Stop(t testing.TB) error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
		return err
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Error("serve did not exit within 20s of SIGTERM")
		return context.DeadlineExceeded
	}
}

// ServeConfig is a config file with trusted loopback peers, one consumer
// (bob, id ConsumerID, custom_id crm-17) and the given services block
// (YAML lines, indented by four spaces under "services:").
func ServeConfig(services ...string) string {
	return "trusted_ips: [\"127.0.0.1/32\", \"::1/128\"]\n" +
		"consumers:\n  - username: bob\n    id: " + ConsumerID + "\n    custom_id: crm-17\n" +
		"services:\n" + strings.Join(services, "\n") + "\n"
}

// ConsumerID is the id of the consumer bob of ServeConfig.
const ConsumerID = "5c3c0000-0000-4000-8000-0000000000b0"

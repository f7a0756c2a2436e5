// Package harness wires the real oauth2-password binary, its admin CLI and
// the Kong-side test host together for the end-to-end suites. It is test
// code: nothing in the shipped binary imports it.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildOut  []byte
)

// Root is the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary builds ./cmd/oauth2-password once per test binary and returns its
// path. The file is named oauth2-password: go-pdk takes the plugin name and
// socket name from it.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "o2p-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "oauth2-password")
		cmd := exec.Command("go", "build", "-race", "-o", buildBin, "./cmd/oauth2-password")
		if os.Getenv("HARNESS_NO_RACE") != "" {
			cmd = exec.Command("go", "build", "-o", buildBin, "./cmd/oauth2-password")
		}
		cmd.Dir = Root()
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("building oauth2-password: %v\n%s", buildErr, buildOut)
	}
	return buildBin
}

var (
	plainOnce sync.Once
	plainBin  string
	plainErr  error
	plainOut  []byte
)

// PlainBinary is Binary built without -race, once per test binary: the
// binary as users run it, for measuring its memory (the race detector's
// shadow memory multiplies every heap byte the program touches).
func PlainBinary(t testing.TB) string {
	t.Helper()
	plainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "o2p-plain")
		if err != nil {
			plainErr = err
			return
		}
		plainBin = filepath.Join(dir, "oauth2-password")
		cmd := exec.Command("go", "build", "-o", plainBin, "./cmd/oauth2-password")
		cmd.Dir = Root()
		plainOut, plainErr = cmd.CombinedOutput()
	})
	if plainErr != nil {
		t.Fatalf("building oauth2-password: %v\n%s", plainErr, plainOut)
	}
	return plainBin
}

// SQLiteURL returns an embedded-store URL in a fresh temporary directory.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "oauth2-password.db")
}

// CLI runs an admin command against dbURL and returns its stdout; the test
// fails unless it exits 0.
func CLI(t testing.TB, dbURL string, args ...string) []byte {
	t.Helper()
	out, errOut, code := RunCLI(t, dbURL, args...)
	if code != 0 {
		t.Fatalf("oauth2-password %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// RunCLI runs an admin command and returns stdout, stderr and exit status.
func RunCLI(t testing.TB, dbURL string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	bin := Binary(t)
	if dbURL != "" {
		args = append(args, "-database-url", dbURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), ChildEnv()...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return o.Bytes(), e.Bytes(), ee.ExitCode()
		}
		t.Fatalf("running oauth2-password: %v", err)
	}
	return o.Bytes(), e.Bytes(), 0
}

// ChildEnv is the environment added to every process of the binary a test
// starts: no database URL from the caller's environment (each test names
// its own), and no one-second sleep at exit in -race builds (the race
// runtime's default atexit_sleep_ms=1000, which would add a second to every
// CLI call and every plugin shutdown).
func ChildEnv() []string {
	return []string{"OAUTH2_PASSWORD_DATABASE_URL=", "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
}

// Client is a registered OAuth2 client as `clients create` printed it.
type Client struct {
	ID         string `json:"client_id"`
	Secret     string `json:"client_secret"`
	Consumer   string `json:"consumer"`
	Name       string `json:"name"`
	ClientType string `json:"client_type"`
}

// CreateClient registers a client with the CLI.
func CreateClient(t testing.TB, dbURL, consumer, name string, extra ...string) Client {
	t.Helper()
	args := append([]string{"clients", "create", "--consumer", consumer, "--name", name}, extra...)
	out := CLI(t, dbURL, args...)
	var c Client
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatalf("clients create printed %q: %v", out, err)
	}
	return c
}

// Stack is the real plugin binary under a Kong-side host with an HTTP front.
type Stack struct {
	DB    string
	Host  *konghost.Host
	Front *konghost.Front
}

// Start runs the plugin against dbURL (extra process flags may follow) and
// stops everything when the test ends.
func Start(t testing.TB, dbURL string, extraArgs ...string) *Stack {
	t.Helper()
	args := append([]string{"-database-url", dbURL}, extraArgs...)
	logf := SafeLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := konghost.Start(ctx, konghost.Options{
		Bin:  Binary(t),
		Args: args,
		Env:  ChildEnv(),
		Log:  logf,
	})
	if err != nil {
		t.Fatalf("starting the plugin under the test host: %v", err)
	}
	f, err := konghost.NewFront(h)
	if err != nil {
		h.Close()
		t.Fatalf("starting the front: %v", err)
	}
	t.Cleanup(func() {
		f.Close()
		h.Close()
	})
	return &Stack{DB: dbURL, Host: h, Front: f}
}

// SafeLog returns a logger for background goroutines (the plugin's output)
// that writes to the test log until the test's cleanups have run, and drops
// lines after that instead of panicking.
func SafeLog(t testing.TB) func(string) {
	var mu sync.Mutex
	done := false
	t.Cleanup(func() { // registered first, so it runs last
		mu.Lock()
		done = true
		mu.Unlock()
	})
	return func(s string) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Log(s)
		}
	}
}

// WaitStore waits until the plugin has opened its store: until then it
// answers every store-backed request with 503 temporarily_unavailable (the
// store opens in the background so that Kong is not left respawning a
// plugin whose database is briefly down). It probes service, which must
// exist, with an unknown bearer token through Host.Do; the probes are not
// Front exchanges.
func (s *Stack) WaitStore(t testing.TB, service string) {
	t.Helper()
	svc, ok := s.Host.Service(service)
	if !ok {
		t.Fatalf("WaitStore: no service %q", service)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := s.Host.Do(context.Background(), service, &konghost.Request{
			Host: svc.Host, Path: svc.PathPrefix + "/", Header: map[string][]string{"Authorization": {"Bearer harness-store-probe"}}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 503 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin's store is still not ready after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

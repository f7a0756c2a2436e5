package konghost

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// floorBin is the floor plugin built once for the package's tests; its
// basename is the plugin name Kong would see.
var floorBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "konghost-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	floorBin = filepath.Join(dir, "floor-plugin")
	cmd := exec.Command("go", "build", "-o", floorBin, "github.com/oauth2-password/oauth2-password/tests/floorplugin")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building floor plugin:", err)
		return 1
	}
	return m.Run()
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startFloor starts a Host on the floor plugin with one service "api"
// (host api.test) carrying cfg.
func startFloor(t testing.TB, cfg map[string]any) *Host {
	t.Helper()
	h, err := Start(testContext(t), Options{Bin: floorBin, Log: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if _, err := h.AddService(ServiceSpec{Name: "api", Host: "api.test", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	return h
}

func startFront(t testing.TB, h *Host) *Front {
	t.Helper()
	f, err := NewFront(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func do(t testing.TB, h *Host, service string, r *Request) *Result {
	t.Helper()
	res, err := h.Do(testContext(t), service, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// floorCalls is the floor plugin's default path: four round trips.
var floorCalls = map[string]int{
	"kong.request.get_path":            1,
	"kong.request.get_header":          1,
	"kong.client.authenticate":         1,
	"kong.service.request.set_headers": 1,
}

func sameCalls(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

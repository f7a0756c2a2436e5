package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tableRows are how each kind of row of the table begins.
var tableRows = []string{
	"| Validation of a cached bearer token through the socket, concurrency 8",
	"| Validation of a cached bearer token through the socket, concurrency 1",
	"| Envoy ext_authz: gRPC Check of a cached token",
	"SPOE: a request with a cached token through HAProxy",
	"| Token issuance (password grant) through the socket, PostgreSQL (pgtest, fsync=off)",
	"| Token issuance through the socket vs the issuance floor plugin",
	"| Token issuance in process (engine + store.Cached",
	"| Token issuance with username and password checked by a loopback login backend",
	"| Token issuance (password grant) through the socket, embedded SQLite",
	"| Token issuance (password grant) through the socket, PostgreSQL (fsync=on, durable)",
	"| serve: forward auth of a cached token",
	"| serve: token issuance through the HTTP token endpoint, PostgreSQL",
	"| serve: token issuance through the HTTP token endpoint, embedded SQLite",
	"| Upstream JWT (upstream_jwt) on a cached token, Kong socket",
	"| Upstream JWT (upstream_jwt) on a cached token, serve forward auth",
	"| Upstream JWT: first use of a token",
	"| Token issuance in process with a short-secret client",
	"| Store queries per validated request after warm-up",
	"| Cross-node revocation",
	"| Heap bytes per cached token",
	"| Token cache bounded to 2,000 entries",
	"| Lookup latency, store.Bounded",
	"| Engine: cache-hit validation, no socket",
	"| Envoy Check of a cached token in process",
}

// TestMakeBenchRunsToTheEnd runs the bench as `make bench` does, with one
// short round per row and tiny sizes: every row must be measured and the
// table written. It does not judge the figures (they need the full
// rounds on a quiet machine); it catches a row whose requests stop being
// answered as the bench expects, as the login-grant row did when the
// login throttle began refusing a sixth concurrent login of one user.
func TestMakeBenchRunsToTheEnd(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.md")
	cmd := exec.Command("go", "run", "./tests/bench", "-rounds", "1", "-round", "50ms",
		"-count", "1", "-benchtime", "1x", "-cached-tokens", "2000", "-cache-inserts", "20000",
		"-cache-bound", "2000", "-out", out)
	cmd.Dir = root()
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench with one round per row: %v\n%s", err, lastLines(string(log), 30))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	table := string(b)
	for _, row := range tableRows {
		if !strings.Contains(table, row) {
			t.Errorf("the table has no row %q", row)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

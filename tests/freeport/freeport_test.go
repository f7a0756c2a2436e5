package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestClaim: the ports handed out can be bound, lie outside the kernel's
// range for port-0 binds, are never handed out twice while claimed
// (another test process sees the claim), and are free again once released.
func TestClaim(t *testing.T) {
	lo, hi := Range()
	seen := map[int]bool{}
	var releases []func()
	for range 200 {
		port, release, err := Claim()
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		if port < lo || port >= hi {
			t.Fatalf("port %d is outside %d-%d", port, lo, hi-1)
		}
		if l, err := net.Listen("unix", ClaimName(port)); err == nil {
			l.Close()
			t.Fatalf("port %d is not claimed against other test processes", port)
		}
	}
	last := 0
	for p := range seen {
		last = p
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(last))
	if err != nil {
		t.Fatalf("a port handed out cannot be bound: %v", err)
	}
	ln.Close()
	for _, release := range releases {
		release()
	}
	l, err := net.Listen("unix", ClaimName(last))
	if err != nil {
		t.Fatalf("port %d still claimed after its release: %v", last, err)
	}
	l.Close()
}

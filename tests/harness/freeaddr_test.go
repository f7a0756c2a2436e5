package harness

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the addresses handed out can be bound, lie outside the
// kernel's range for port-0 binds, are never handed out twice while their
// test runs (another test process sees the claim), and are released when
// it ends.
func TestFreeAddr(t *testing.T) {
	lo, hi := reservedPorts()
	var released string
	t.Run("claims", func(t *testing.T) {
		seen := map[string]bool{}
		for range 200 {
			addr := FreeAddr(t)
			if seen[addr] {
				t.Fatalf("%s handed out twice", addr)
			}
			seen[addr] = true
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := strconv.Atoi(p); n < lo || n >= hi {
				t.Fatalf("%s is outside %d-%d", addr, lo, hi-1)
			}
			if l, err := net.Listen("unix", "@oauth2-password-test-port-"+p); err == nil {
				l.Close()
				t.Fatalf("%s is not claimed against other test processes", addr)
			}
			released = p
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+released)
		if err != nil {
			t.Fatalf("the address handed out cannot be bound: %v", err)
		}
		ln.Close()
	})
	l, err := net.Listen("unix", "@oauth2-password-test-port-"+released)
	if err != nil {
		t.Fatalf("port %s still claimed after its test ended: %v", released, err)
	}
	l.Close()
}

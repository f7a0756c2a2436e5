package harness

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeAddr returns a loopback address for a process the test starts
// (serve, a proxy, a README's stand-in API), which binds it after this
// returns. The port is chosen so that nothing else takes it in between:
//
//   - It is below the kernel's ephemeral range, from which every bind to
//     port 0 (httptest servers, the throwaway PostgreSQL servers) and every
//     outgoing connection gets its port. A port taken there by another test
//     package running at the same time once let a README script's proxy
//     reach another test's echo server instead of its own API.
//   - It is claimed until the test ends, by an abstract unix socket named
//     after it: another FreeAddr, in this process or in any other test
//     process on the machine, skips a claimed port. The kernel drops the
//     claim when the test (or its process) ends.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lo, hi := reservedPorts()
	for range 500 {
		port := strconv.Itoa(lo + rand.IntN(hi-lo))
		claim, err := net.Listen("unix", "@oauth2-password-test-port-"+port)
		if err != nil {
			continue // claimed by another test
		}
		addr := "127.0.0.1:" + port
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			claim.Close() // in use by something that is not a test of ours
			continue
		}
		ln.Close()
		t.Cleanup(func() { claim.Close() })
		return addr
	}
	t.Fatalf("no free loopback port in %d-%d", lo, hi-1)
	return ""
}

// reservedPorts is the range FreeAddr draws from: from 20000 up to the
// start of the ephemeral range (ip_local_port_range, 32768 by default).
func reservedPorts() (lo, hi int) {
	lo, hi = 20000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if start, err := strconv.Atoi(f[0]); err == nil && start > lo+1000 {
				hi = start
			}
		}
	}
	return lo, hi
}

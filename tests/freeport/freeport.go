// Package freeport hands out loopback TCP ports for processes a test
// starts (serve, a proxy, PostgreSQL, a README's stand-in API), which bind
// them after the port was chosen. The port is chosen so that nothing else
// takes it in between:
//
//   - It is below the kernel's ephemeral range, from which every bind to
//     port 0 (httptest servers, in-process listeners) and every outgoing
//     connection gets its port. A port handed out by a bind to port 0 and
//     closed again was once given next to another test package's echo
//     server, and a README script's proxy reached that server instead of
//     its own API.
//   - It is claimed until released, by an abstract unix socket named after
//     it: Claim, in this process or in any other test process on the
//     machine, skips a claimed port. The kernel drops the claim when the
//     process ends, however it ends.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Claim returns a loopback port that is free now and that no other Claim
// returns until release is called.
func Claim() (port int, release func(), err error) {
	lo, hi := Range()
	for range 500 {
		port := lo + rand.IntN(hi-lo)
		claim, err := net.Listen("unix", ClaimName(port))
		if err != nil {
			continue // claimed by another test
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			claim.Close() // in use by something that is not a test of ours
			continue
		}
		ln.Close()
		return port, func() { claim.Close() }, nil
	}
	return 0, nil, fmt.Errorf("freeport: no free loopback port in %d-%d", lo, hi-1)
}

// ClaimName is the abstract unix socket that claims port.
func ClaimName(port int) string {
	return "@oauth2-password-test-port-" + strconv.Itoa(port)
}

// Range is the range Claim draws from: from 20000 up to the start of the
// ephemeral range (ip_local_port_range, 32768 by default).
func Range() (lo, hi int) {
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

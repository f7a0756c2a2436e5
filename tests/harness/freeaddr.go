package harness

import (
	"strconv"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/freeport"
)

// FreeAddr returns a loopback address for a process the test starts, which
// binds it after this returns; no other test is given the port until this
// one ends (freeport.Claim).
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, release, err := freeport.Claim()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return "127.0.0.1:" + strconv.Itoa(port)
}

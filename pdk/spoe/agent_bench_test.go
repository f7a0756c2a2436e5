package spoe

import (
	"net"
	"testing"

	spop "github.com/negasus/haproxy-spoe-go/request"
)

// BenchmarkCheckCachedToken is one oauth2-check of a cached token in
// process: message args → engine → variables, without SPOP's framing.
func BenchmarkCheckCachedToken(b *testing.B) {
	a := newTestAgent(b)
	req := notify(MessageName, "service", "orders", "method", "GET", "path", "/things?page=1",
		"ip", net.ParseIP("192.0.2.7").To4(), "authorization", "Bearer "+tokenOf("orders"))
	b.ReportAllocs()
	for b.Loop() {
		req.Actions = req.Actions[:0]
		a.handle(req)
		if len(req.Actions) != 9 {
			b.Fatalf("%d variables set", len(req.Actions))
		}
	}
}

// BenchmarkFloorCheck is what the floor agent (tests/haproxy/floorspoe)
// does for the same message: the same nine variables, no decision.
func BenchmarkFloorCheck(b *testing.B) {
	req := &spop.Request{}
	names := []string{"X-Consumer-ID", "X-Consumer-Username", "X-Consumer-Custom-ID", "X-Credential-Identifier",
		"X-Authenticated-Userid", "X-Authenticated-Scope", "X-Anonymous-Consumer", "Authorization"}
	b.ReportAllocs()
	for b.Loop() {
		req.Actions = req.Actions[:0]
		req.Actions.SetVar(scope, VarAllow, true)
		for _, n := range names {
			req.Actions.SetVar(scope, HeaderVar(n), "value")
		}
	}
}

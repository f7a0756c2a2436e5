package envoy

import (
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
)

// TestExtAuthzStoreDown: PostgreSQL stops while serve answers Envoy. A
// token serve has not cached is denied with 503, Retry-After and
// temporarily_unavailable, within -store-timeout, on both fronts: over
// gRPC as a denial (denied_response, status UNAVAILABLE), never a gRPC
// error or error_response that failure_mode_allow could turn into a pass.
// A token already cached keeps working (-cache-stale-if-error). When
// PostgreSQL is back, unknown tokens are 401 again, in the same process.
func TestExtAuthzStoreDown(t *testing.T) {
	const storeTimeout = time.Second
	s := newStack(t, pg.NewDatabase(t), "-store-timeout", storeTimeout.String())
	cached := s.issue("orders", "user-1", "")
	bearer := func(tok string) envoyRequest {
		return envoyRequest{path: "/orders", header: map[string]string{"authorization": "Bearer " + tok}}
	}
	if o := fromCheck(t, s.check("orders", bearer(cached.AccessToken))); !o.allowed {
		t.Fatalf("token denied before the outage: %d %s", o.status, o.body)
	}
	uncached := otherFirstChar(cached.AccessToken) // in no cache: its lookup needs the store

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := pg.Start(); err != nil {
				t.Error(err)
			}
		}
	})

	down := want{status: 503, code: code.Code_UNAVAILABLE, errCode: "temporarily_unavailable", challenge: `Bearer realm="shop"`, retryAfter: true}
	const margin = 2 * time.Second // a -race binary on a busy machine
	t.Run("grpc", func(t *testing.T) {
		start := time.Now()
		down.assert(t, fromCheck(t, s.check("orders", bearer(uncached))))
		if el := time.Since(start); el > storeTimeout+margin {
			t.Errorf("answered in %v, more than -store-timeout %v", el, storeTimeout)
		}
		if o := fromCheck(t, s.check("orders", bearer(cached.AccessToken))); !o.allowed {
			t.Errorf("cached token denied during the outage: %d %s", o.status, o.body)
		}
	})
	t.Run("http", func(t *testing.T) {
		start := time.Now()
		down.assert(t, fromHTTP(t, s.extAuthz("orders", bearer(uncached))))
		if el := time.Since(start); el > storeTimeout+margin {
			t.Errorf("answered in %v, more than -store-timeout %v", el, storeTimeout)
		}
	})

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		o := fromCheck(t, s.check("orders", bearer(uncached)))
		if !o.allowed && o.status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after PostgreSQL came back an unknown token is still answered %d %s", o.status, o.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

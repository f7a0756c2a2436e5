package failure

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestBruteForceIsThrottled: through the real socket, a client_id with
// -throttle-failures failed authentications (or wrong provision_keys) from
// one address within -throttle-window is answered 429 slow_down with
// Retry-After for the rest of the window at that address, known client or
// not, while the same client from another address and other clients carry
// on.
func TestBruteForceIsThrottled(t *testing.T) {
	wallTime(t)
	db := harnessSQLite(t)
	s := newStack(t, db, "-throttle-failures", "3", "-throttle-window", "30s")
	gen := s.Host.Process().Generation()
	other := harness.CreateClient(t, db, "bob", "other")
	third := harness.CreateClient(t, db, "bob", "third")

	with := func(f url.Values, kv ...string) url.Values {
		g := url.Values{}
		for k, v := range f {
			g[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				g.Del(kv[i])
				continue
			}
			g.Set(kv[i], kv[i+1])
		}
		return g
	}
	fail := func(form url.Values, wantCode string) {
		t.Helper()
		for i := range 3 {
			tr, _, err := s.post(form)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Error != wantCode {
				t.Fatalf("attempt %d: %d %q, want %q", i+1, tr.Status, tr.Error, wantCode)
			}
		}
	}
	throttled := func(form url.Values) string {
		t.Helper()
		tr, h, err := s.post(with(form, "state", "st-9"))
		if err != nil {
			t.Fatal(err)
		}
		if tr.Status != 429 || tr.Error != "slow_down" || tr.State != "st-9" {
			t.Fatalf("got %d %q state %q, want 429 slow_down with the state", tr.Status, tr.Error, tr.State)
		}
		if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 || n > 30 {
			t.Errorf("Retry-After %q, want 1..30 seconds", h.Get("Retry-After"))
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
		}
		return tr.ErrorDescription + "|" + h.Get("Content-Type")
	}

	// Guessing the client secret.
	good := s.passwordForm("u")
	fail(with(good, "client_secret", "guess"), "invalid_client")
	known := throttled(good) // the right secret, too late
	// An unknown client_id is throttled alike: no hint that it does not exist.
	fail(with(good, "client_id", "no-such-client"), "invalid_client")
	if unknown := throttled(with(good, "client_id", "no-such-client")); unknown != known {
		t.Errorf("unknown client throttled as %q, known as %q", unknown, known)
	}
	// Guessing the provision_key with another client's valid credentials.
	fail(with(good, "client_id", other.ID, "client_secret", other.Secret, "provision_key", "guess"), "invalid_provision_key")
	throttled(with(good, "client_id", other.ID, "client_secret", other.Secret))
	// Requests that name no client fail anyway and are not counted.
	fail(with(good, "client_id", "", "client_secret", ""), "invalid_client")
	fail(with(good, "client_id", "", "client_secret", ""), "invalid_client")

	// The attacked client from another address: unaffected (client_ids are
	// public; an attacker must not lock an app's users out).
	tr, _, err := s.postFrom("192.0.2.77", good)
	if err != nil || tr.Status != 200 {
		t.Fatalf("the attacked client from another address: %+v %v", tr, err)
	}

	// A client nobody attacked is unaffected.
	tr, _, err = s.post(with(good, "client_id", third.ID, "client_secret", third.Secret))
	if err != nil || tr.Status != 200 {
		t.Fatalf("an unrelated client: %+v %v", tr, err)
	}
	noCrash(t, s, gen)
}

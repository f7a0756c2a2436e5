package plugin

import (
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wrongSecret is a password grant for client id with a bad secret.
func wrongSecret(id string) url.Values {
	return passwordForm("client_id", id, "client_secret", "not-the-secret", "state", "st-"+id)
}

// expectThrottled asserts the 429 answer: slow_down, Retry-After, no-store
// and the state echo (RFC 6749 §5.1, §5.2).
func expectThrottled(t *testing.T, f *fakeKong, state string, retryAfter int) {
	t.Helper()
	m := f.json()
	if f.status != 429 || m["error"] != "slow_down" || m["error_description"] != ErrSlowDown.Description {
		t.Fatalf("got %d %v, want 429 slow_down", f.status, m)
	}
	if got, _ := m["state"].(string); got != state {
		t.Errorf("state = %v, want %q", m["state"], state)
	}
	if got := f.respHeader("Retry-After"); got != strconv.Itoa(retryAfter) {
		t.Errorf("Retry-After = %q, want %d", got, retryAfter)
	}
	if f.respHeader("Cache-Control") != "no-store" || f.respHeader("Pragma") != "no-cache" {
		t.Errorf("headers %v: want Cache-Control: no-store and Pragma: no-cache", f.respHeaders)
	}
	if f.respHeader("WWW-Authenticate") != "" {
		t.Errorf("a throttled answer carries no challenge: %v", f.respHeaders)
	}
}

func (v *env) failN(c *Config, n int, form url.Values, mutate ...func(*fakeKong)) {
	v.t.Helper()
	for i := range n {
		f := v.tokenReq(form)
		for _, m := range mutate {
			m(f)
		}
		access(c, f)
		if f.status == 200 || f.status == 429 {
			v.t.Fatalf("failure %d: got %d %s", i+1, f.status, f.respBody)
		}
	}
}

func TestThrottleLocksOutAClientForTheRestOfTheWindow(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	v.failN(c, DefaultThrottleFailures, wrongSecret("app"))

	// Now even the right secret is refused: the attacker cannot tell a
	// lucky guess from a wrong one.
	f := v.tokenReq(passwordForm("state", "st-app"))
	access(c, f)
	expectThrottled(t, f, "st-app", 60)

	v.advance(45 * time.Second)
	f = v.tokenReq(passwordForm("state", "st-app"))
	access(c, f)
	expectThrottled(t, f, "st-app", 15)

	v.advance(15 * time.Second) // the window is over
	v.issue(c)
}

func TestThrottleIsPerKey(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	// An attacker guesses app's secret; the public client and the other
	// confidential client keep working.
	v.client("other", testSecret, testConsumer.ID, "confidential")
	v.failN(c, DefaultThrottleFailures, wrongSecret("app"))
	v.issue(c, "client_id", "other")
	f := v.tokenReq(passwordForm("client_id", "pub", "client_secret", "<del>"))
	access(c, f)
	if f.status != 200 {
		t.Fatalf("public client: %d %s", f.status, f.respBody)
	}
	f = v.tokenReq(passwordForm())
	access(c, f)
	expectThrottled(t, f, "", 60)
}

func TestThrottleSuccessResetsNoCount(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	v.client("other", testSecret, testConsumer.ID, "confidential")

	// Another key's success leaves the attacker's count alone ...
	v.failN(c, DefaultThrottleFailures-1, wrongSecret("app"))
	v.issue(c, "client_id", "other")
	// ... and so does the key's own: the provision_key counter of a client
	// whose credentials an attacker holds would otherwise be resettable.
	v.issue(c)
	v.failN(c, 1, wrongSecret("app"))
	f := v.tokenReq(passwordForm())
	access(c, f)
	expectThrottled(t, f, "", 60)
}

func TestThrottleDoesNotRevealWhetherAClientExists(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	answers := map[string]*fakeKong{}
	for _, id := range []string{"app", "no-such-client"} {
		v.failN(c, DefaultThrottleFailures, wrongSecret(id))
		f := v.tokenReq(wrongSecret(id))
		f.body = []byte(passwordForm("client_id", id, "client_secret", "x", "state", "s").Encode())
		access(c, f)
		answers[id] = f
	}
	a, b := answers["app"], answers["no-such-client"]
	if a.status != b.status || string(a.respBody) != string(b.respBody) || a.respHeader("Retry-After") != b.respHeader("Retry-After") {
		t.Errorf("known client: %d %s %v; unknown: %d %s %v", a.status, a.respBody, a.respHeaders, b.status, b.respBody, b.respHeaders)
	}
	expectThrottled(t, b, "s", 60)
}

func TestThrottleCountsEveryKindOfFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		form   url.Values
		mutate func(*fakeKong)
	}{
		{"wrong provision_key", passwordForm("provision_key", "guess"), nil},
		{"wrong provision_key, public client", passwordForm("client_id", "pub", "client_secret", "<del>", "provision_key", "guess"), nil},
		{"wrong secret in the Basic header", passwordForm("client_id", "<del>", "client_secret", "<del>"), func(f *fakeKong) {
			f.headers["authorization"] = []string{basic("app", "guess")}
		}},
		{"refresh grant, wrong secret", url.Values{"grant_type": {"refresh_token"}, "client_id": {"app"}, "client_secret": {"guess"}, "refresh_token": {"r"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			c := v.config("")
			var m []func(*fakeKong)
			if tc.mutate != nil {
				m = append(m, tc.mutate)
			}
			v.failN(c, DefaultThrottleFailures, tc.form, m...)
			f := v.tokenReq(tc.form)
			for _, mu := range m {
				mu(f)
			}
			access(c, f)
			expectThrottled(t, f, "", 60)
		})
	}
}

// TestThrottleIsPerClientAndAddress: client_ids are public, so failures
// from one address lock that client_id out for that address only (an IPv6
// address by its /64); a request naming no client is not counted.
func TestThrottleIsPerClientAndAddress(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	from := func(ip string) func(*fakeKong) { return func(f *fakeKong) { f.clientIP = ip } }
	for _, tc := range []struct {
		name, attacker, other string
		otherLocked           bool
	}{
		{"IPv4", "192.0.2.1", "192.0.2.2", false},
		{"IPv6, another /64", "2001:db8:0:1::1", "2001:db8:0:2::1", false},
		{"IPv6, the same /64", "2001:db8:0:3::1", "2001:db8:0:3::ffff", true},
		{"IPv4-mapped IPv6 is the IPv4 address", "::ffff:198.51.100.7", "198.51.100.7", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			v.advance(2 * DefaultThrottleWindow) // a fresh window
			v.failN(c, DefaultThrottleFailures, wrongSecret("app"), from(tc.attacker))
			f := v.tokenReq(passwordForm("state", "s"))
			from(tc.attacker)(f)
			access(c, f)
			expectThrottled(t, f, "s", 60)

			f = v.tokenReq(passwordForm())
			from(tc.other)(f)
			access(c, f)
			if tc.otherLocked {
				expectThrottled(t, f, "", 60)
			} else if f.status != 200 {
				t.Errorf("client app from %s: %d %s", tc.other, f.status, f.respBody)
			}
		})
	}

	noClient := passwordForm("client_id", "<del>", "client_secret", "<del>")
	v.failN(c, 2*DefaultThrottleFailures, noClient)
	f := v.tokenReq(noClient)
	access(c, f)
	f.expectError(400, "invalid_client", "Invalid client authentication")
}

// TestThrottleAsksTheAddressOnlyWhenNeeded: a client in good standing
// costs no read of its address (kong.client.get_forwarded_ip, a PDK round
// trip in Kong); a failure does.
func TestThrottleAsksTheAddressOnlyWhenNeeded(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	count := func(f *fakeKong) int { return strings.Count(strings.Join(f.calls, " "), "ForwardedIP") }
	f := v.tokenReq(passwordForm())
	access(c, f)
	if f.status != 200 || count(f) != 0 {
		t.Errorf("success: %d, %d address reads", f.status, count(f))
	}
	f = v.tokenReq(wrongSecret("app"))
	access(c, f)
	if count(f) != 1 {
		t.Errorf("failure: %d address reads, want 1", count(f))
	}
	f = v.tokenReq(passwordForm())
	access(c, f)
	if f.status != 200 || count(f) != 1 {
		t.Errorf("success after a failure on record: %d, %d address reads, want 1", f.status, count(f))
	}
}

func TestThrottleOff(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	v.e.throttle = newThrottle(0, time.Minute, 10, v.clock)
	v.failN(c, 3*DefaultThrottleFailures, wrongSecret("app"))
	v.issue(c)
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	var now time.Time
	clock := func() time.Time { return now }
	th := newThrottle(3, time.Minute, 100, clock)
	locked := clientAddrThrottleKey("victim-of-a-lockout", "192.0.2.1")
	for range 3 {
		th.fail(locked)
	}
	for i := range 10000 {
		th.fail(clientAddrThrottleKey(strconv.Itoa(i), "192.0.2.1"))
		if n := th.size(); n > 100 {
			t.Fatalf("after %d keys the throttle tracks %d, bound 100", i+1, n)
		}
	}
	// Keys that are not locked out are evicted first: spraying new keys
	// does not lift a lockout.
	if _, ok := th.blocked(locked); !ok {
		t.Error("a locked-out key was evicted to make room for new ones")
	}
	// Expired windows are dropped when room is needed.
	now = now.Add(time.Minute)
	th.fail(clientAddrThrottleKey("new", "192.0.2.1"))
	if n := th.size(); n != 1 {
		t.Errorf("after the window, %d keys tracked, want 1", n)
	}
	if _, ok := th.blocked(locked); ok {
		t.Error("lockout outlived its window")
	}
}

// TestThrottleRacesCannotPassTheAllowance: however many attempts for one
// key arrive at once, the slots reserved before a slow check, and the
// failures counted at once for a fast one, never pass the allowance; a
// success gives its slot back, and other keys are untouched.
func TestThrottleRacesCannotPassTheAllowance(t *testing.T) {
	tests := []struct {
		name string
		try  func(th *throttle, k throttleKey) bool // true: the attempt got through
	}{
		{"reserved before a slow check", func(th *throttle, k throttleKey) bool {
			_, ok := th.reserve(k)
			if ok {
				th.settle(k, true)
			}
			return ok
		}},
		{"counted after a fast check", func(th *throttle, k throttleKey) bool {
			_, locked := th.failOrRefuse(k)
			return !locked
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := newThrottle(10, time.Minute, 100, time.Now)
			k := clientAddrThrottleKey("app", "192.0.2.1")
			var wg sync.WaitGroup
			var through atomic.Int32
			start := make(chan struct{})
			for range 100 {
				wg.Go(func() {
					<-start
					if tt.try(th, k) {
						through.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if n := through.Load(); n != 10 {
				t.Errorf("%d of 100 concurrent failures got through, want the allowance, 10", n)
			}
			if _, locked := th.blocked(k); !locked {
				t.Error("the key is not locked out after its allowance failed")
			}
			if _, ok := th.reserve(clientAddrThrottleKey("app", "192.0.2.2")); !ok {
				t.Error("another address of the same client_id was refused")
			}
		})
	}
}

// TestThrottleSlotsInFlight: slots held by checks still running count
// against the allowance, and are given back when those succeed.
func TestThrottleSlotsInFlight(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	th := newThrottle(3, time.Minute, 100, func() time.Time { return now })
	k := clientAddrThrottleKey("app", "192.0.2.1")
	for i := range 3 {
		if _, ok := th.reserve(k); !ok {
			t.Fatalf("reservation %d refused", i+1)
		}
	}
	if left, ok := th.reserve(k); ok || left != time.Second {
		t.Fatalf("a fourth reservation while three are in flight: ok=%v, retry after %v; want refused, 1s", ok, left)
	}
	if _, locked := th.failOrRefuse(k); !locked {
		t.Error("a fast failure was counted past the slots in flight")
	}
	if _, locked := th.blocked(k); locked {
		t.Error("slots in flight lock the key out before anything failed")
	}
	th.settle(k, false) // a success: the slot comes back
	if _, ok := th.reserve(k); !ok {
		t.Error("a slot given back by a success cannot be reserved again")
	}
	for range 3 {
		th.settle(k, true)
	}
	if left, locked := th.blocked(k); !locked || left != time.Minute {
		t.Errorf("after three failures: locked=%v for %v, want locked for the window", locked, left)
	}
}

// TestLoginThrottleGroupsIPv6By64: one IPv6 host holds a whole /64.
func TestLoginThrottleGroupsIPv6By64(t *testing.T) {
	if loginThrottleKey("alice", "2001:db8:1:2::1") != loginThrottleKey("Alice", "2001:db8:1:2:ffff::9") {
		t.Error("two addresses of one /64 are counted apart")
	}
	if loginThrottleKey("alice", "2001:db8:1:2::1") == loginThrottleKey("alice", "2001:db8:1:3::1") {
		t.Error("two /64s are counted together")
	}
	if loginThrottleKey("alice", "192.0.2.1") == loginThrottleKey("alice", "192.0.2.2") {
		t.Error("two IPv4 addresses are counted together")
	}
}

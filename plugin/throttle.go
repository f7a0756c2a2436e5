package plugin

import (
	"crypto/sha256"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Brute-force protection for the token endpoint. RFC 6749 §4.3.2: "the
// authorization server MUST protect the endpoint against brute force
// attacks (e.g., using rate-limitation or generating alerts)"; RFC 6819
// §5.1.4.2.3 suggests locking after a number of failed attempts.
//
// Failures are counted per (client_id, client address): the presented
// client_id, known or not (so that a lockout never tells whether a client
// exists), and the direct peer's address, an IPv6 address by its /64 (one
// host usually holds a whole /64). client_ids are public (RFC 6749 §2.2):
// counting per client_id alone would let anyone lock every user of an app
// out by sending wrong secrets for its client_id. So failures from one
// address never throttle another, and a correct request from an address
// that has not failed is never refused. A key that reaches Failures failed
// attempts within Window is refused for the rest of that window with 429
// slow_down, before its credentials are even looked at. A success does not
// clear the count: whoever holds a public client's id authenticates as that
// client, and could otherwise reset the counter protecting its provision_key.
// A request that names no client fails anyway and is not counted.
//
// Asking Kong for the client address is a PDK round trip: it is asked only
// when the client_id has failures on record (from any address) or when a
// failure is to be counted, so that a request of a client in good standing
// costs none.
//
// The state is per process (each Kong node and each worker's plugin server
// counts for itself) and bounded: at most MaxKeys keys, each a 32-byte
// digest (the key itself may be as long as a client cares to send) and a
// window start and count: 144 bytes a key with the map's overhead
// (measured), 9 MiB at the default bound of 65536 keys.

// ErrSlowDown is the answer to a throttled token request. slow_down is the
// token-endpoint error registered by RFC 8628 §3.5 for "slow down, retry
// later"; temporarily_unavailable would tell the client (and monitoring)
// that the server is down, which is not the case, and is what a store
// outage is answered with.
var ErrSlowDown = &Error{"slow_down", "Too many failed attempts; retry later", 429}

// throttleKey identifies whose failures are counted.
type throttleKey [sha256.Size]byte

// clientAddrThrottleKey counts the failures of one client_id from one
// address.
func clientAddrThrottleKey(clientID, ip string) throttleKey {
	return sha256.Sum256([]byte("client\x00" + clientID + "\x00" + addressKey(ip)))
}

// clientMarkKey marks a client_id with failures on record, from any
// address, until a window after the last one.
func clientMarkKey(clientID string) throttleKey {
	return sha256.Sum256([]byte("client\x00" + clientID))
}

// addressKey is what a failure is counted against of an address: an IPv4
// address as it is, an IPv6 address by its /64; what does not parse as an
// address, as it is.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// loginThrottleKey and userThrottleKey count failed logins of the standard
// password grant (login_throttle.go). The username is folded to lower case
// without surrounding space, as most login backends compare it, so that
// "Alice " and "alice" share one count.
func loginThrottleKey(username, ip string) throttleKey {
	return sha256.Sum256([]byte("login\x00" + foldUsername(username) + "\x00" + ip))
}

func userThrottleKey(username string) throttleKey {
	return sha256.Sum256([]byte("user\x00" + foldUsername(username)))
}

func foldUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

// failWindow is one key's fixed window: it starts at the first failure.
type failWindow struct {
	start time.Time
	n     int
}

// throttle counts failures per key. A nil *throttle throttles nothing.
type throttle struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	keys      map[throttleKey]failWindow
	nextSweep time.Time
}

// newThrottle returns nil (no throttling) when limit is 0.
func newThrottle(limit int, window time.Duration, maxKeys int, now func() time.Time) *throttle {
	if limit == 0 {
		return nil
	}
	return &throttle{limit: limit, window: window, maxKeys: maxKeys, now: now, keys: map[throttleKey]failWindow{}}
}

// blocked reports whether k is locked out, and for how long still.
func (t *throttle) blocked(k throttleKey) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.keys[k]
	if !ok {
		return 0, false
	}
	left := w.start.Add(t.window).Sub(now)
	if left <= 0 {
		delete(t.keys, k)
		return 0, false
	}
	return left, w.n >= t.limit
}

// fail counts one failed attempt for k.
func (t *throttle) fail(k throttleKey) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.keys[k]
	if ok && now.Before(w.start.Add(t.window)) {
		w.n++
		t.keys[k] = w
		return
	}
	if !ok && len(t.keys) >= t.maxKeys {
		t.makeRoom(now)
	}
	t.keys[k] = failWindow{start: now, n: 1}
}

// touch starts k's window anew: k marks that something happened, and the
// mark lasts a window after the last time.
func (t *throttle) touch(k throttleKey) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.keys[k]; !ok && len(t.keys) >= t.maxKeys {
		t.makeRoom(now)
	}
	t.keys[k] = failWindow{start: now, n: 1}
}

// active reports whether k has an unexpired window.
func (t *throttle) active(k throttleKey) bool {
	if t == nil {
		return false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.keys[k]
	return ok && now.Before(w.start.Add(t.window))
}

// makeRoom frees one slot. Expired windows go first, in a sweep done at
// most once per tenth of a window (a full sweep is O(MaxKeys)); failing
// that, a key that is not locked out, from a short random probe (map
// iteration starts at a random place); failing that, any key. Evicting a
// tracked key takes an attacker MaxKeys failed attempts of their own per
// eviction on average, and the locked-out keys are the last to go.
func (t *throttle) makeRoom(now time.Time) {
	if !now.Before(t.nextSweep) {
		t.nextSweep = now.Add(t.window / 10)
		for k, w := range t.keys {
			if !now.Before(w.start.Add(t.window)) {
				delete(t.keys, k)
			}
		}
		if len(t.keys) < t.maxKeys {
			return
		}
	}
	var victim throttleKey
	probed := 0
	for k, w := range t.keys {
		victim = k
		if w.n < t.limit || probed >= 64 {
			break
		}
		probed++
	}
	delete(t.keys, victim)
}

// size is the number of tracked keys; 0 when t is nil (off).
func (t *throttle) size() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

// throttled answers 429 slow_down with Retry-After (RFC 6585 §4, RFC 9110
// §10.2.3) when the request's client_id is locked out for its address. The
// answer is the same whether or not the client exists. It remembers the
// client_id for authFailed.
func (r *request) throttled(clientID string, state any) (bool, error) {
	if r.e.throttle == nil || clientID == "" {
		return false, nil
	}
	r.throttleOn, r.throttleClient = true, clientID
	if !r.e.throttle.active(clientMarkKey(clientID)) {
		return false, nil // no failures on record: no need for the address
	}
	ip, err := r.clientIP()
	if err != nil {
		return false, err
	}
	left, locked := r.e.throttle.blocked(clientAddrThrottleKey(clientID, ip))
	if !locked {
		return false, nil
	}
	r.exitSlowDown(left, state)
	return true, nil
}

// exitSlowDown answers 429 slow_down, retry after left.
func (r *request) exitSlowDown(left time.Duration, state any) {
	secs := int64((left + time.Second - 1) / time.Second)
	h := tokenHeaders()
	h["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
	e := ErrSlowDown
	r.d.Outcome = OutcomeThrottled
	r.exit(e.Status, mustJSON(errorResponse{e.Code, e.Description, state}), h)
}

// authFailed counts a failed client authentication or provision_key
// against the request's client_id and address.
func (r *request) authFailed() error {
	if !r.throttleOn {
		return nil
	}
	ip, err := r.clientIP()
	if err != nil {
		return err
	}
	r.e.throttle.fail(clientAddrThrottleKey(r.throttleClient, ip))
	r.e.throttle.touch(clientMarkKey(r.throttleClient))
	return nil
}

// clientIP is the direct peer's address, asked of Kong at most once per
// request.
func (r *request) clientIP() (string, error) {
	if !r.ipKnown {
		ip, err := r.k.ClientIP()
		if err != nil {
			return "", readErr("client ip", err)
		}
		r.ip, r.ipKnown = ip, true
	}
	return r.ip, nil
}

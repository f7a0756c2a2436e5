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
// exists), and the client's address (Request.ForwardedIP: Kong's
// get_forwarded_ip, serve's trusted_ips and X-Forwarded-For), an IPv6
// address by its /64 (one host usually holds a whole /64). client_ids are public (RFC 6749 §2.2):
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
// when the client_id has failures on record (from any address), when a
// failure is to be counted or when a slow secret hash is ahead, so that a
// request of a client in good standing costs none.
//
// Concurrent attempts cannot pass the allowance (see authFailed and
// reserveAuth below, and docs/security-throttling.md).
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
	return sha256.Sum256([]byte("login\x00" + foldUsername(username) + "\x00" + addressKey(ip)))
}

func userThrottleKey(username string) throttleKey {
	return sha256.Sum256([]byte("user\x00" + foldUsername(username)))
}

func foldUsername(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

// failWindow is one key's fixed window: it starts at the first failure.
// inflight counts the attempts that hold a reserved slot (reserve) and
// have not settled yet: they may still fail, so they count against what
// is left of the allowance.
type failWindow struct {
	start    time.Time
	n        int
	inflight int
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

// current is k's window at now, an expired count cleared; the caller holds
// t.mu.
func (t *throttle) current(k throttleKey, now time.Time) (failWindow, bool) {
	w, ok := t.keys[k]
	if ok && w.n > 0 && !now.Before(w.start.Add(t.window)) {
		w.n = 0
	}
	return w, ok
}

// left is how long a refusal of w lasts: the rest of its window when its
// count is full, else a second (the slots are held by attempts in flight,
// which settle within a request's time).
func (t *throttle) left(w failWindow, now time.Time) time.Duration {
	if w.n >= t.limit {
		return w.start.Add(t.window).Sub(now)
	}
	return time.Second
}

// put stores w for k, making room first when k is new and the map full;
// a key with nothing counted and nothing in flight is dropped. The caller
// holds t.mu.
func (t *throttle) put(k throttleKey, w failWindow, existed bool, now time.Time) {
	if w.n == 0 && w.inflight == 0 {
		delete(t.keys, k)
		return
	}
	if !existed && len(t.keys) >= t.maxKeys {
		t.makeRoom(now)
	}
	t.keys[k] = w
}

// blocked reports whether k is locked out, and for how long still.
func (t *throttle) blocked(k throttleKey) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.current(k, now)
	if !ok || w.n < t.limit {
		return 0, false
	}
	return t.left(w, now), true
}

// reserve takes one failure slot for an attempt whose outcome is slow to
// learn (a slow secret hash, a login backend call): ok is false, with how
// long to wait, when the failures counted plus the attempts already in
// flight fill k's allowance. The count is checked and the slot taken under
// one lock, so however many attempts arrive at once, no more can fail than
// the allowance has left. Every reserved slot is settled once.
func (t *throttle) reserve(k throttleKey) (time.Duration, bool) {
	if t == nil {
		return 0, true
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.current(k, now)
	if w.n+w.inflight >= t.limit {
		return t.left(w, now), false
	}
	w.inflight++
	t.put(k, w, ok, now)
	return 0, true
}

// settle gives back a slot reserve took, counting a failure when the
// attempt failed.
func (t *throttle) settle(k throttleKey, failed bool) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.current(k, now)
	if !ok {
		return // evicted meanwhile: nothing to give back
	}
	if w.inflight > 0 {
		w.inflight--
	}
	if failed {
		w = t.counted(w, now)
	}
	t.put(k, w, true, now)
}

// counted is w with one more failure, the window starting at the first.
func (t *throttle) counted(w failWindow, now time.Time) failWindow {
	if w.n == 0 {
		w.start = now
	}
	w.n++
	return w
}

// failOrRefuse counts one failed attempt whose outcome was known at once
// (a secret compared as a digest): locked is true, and nothing is counted,
// when k's allowance was already used up, by failures or by attempts in
// flight. Deciding at the moment of counting, under one lock, is what
// reserve does for slow attempts: the answer is 429 for every attempt past
// the allowance however many race.
func (t *throttle) failOrRefuse(k throttleKey) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.current(k, now)
	if w.n+w.inflight >= t.limit {
		return t.left(w, now), true
	}
	t.put(k, t.counted(w, now), ok, now)
	return 0, false
}

// fail counts one failed attempt for k.
func (t *throttle) fail(k throttleKey) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.current(k, now)
	t.put(k, t.counted(w, now), ok, now)
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
	w, ok := t.keys[k]
	w.start, w.n = now, 1
	t.put(k, w, ok, now)
}

// active reports whether k has an unexpired window.
func (t *throttle) active(k throttleKey) bool {
	if t == nil {
		return false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.current(k, now)
	return ok && w.n > 0
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
			if w.inflight == 0 && !now.Before(w.start.Add(t.window)) {
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
		if (w.n < t.limit && w.inflight == 0) || probed >= 64 {
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
// client_id for authFailed and authPassed.
func (r *request) throttled(clientID string, state any) (bool, error) {
	if r.e.throttle == nil || clientID == "" {
		return false, nil
	}
	r.throttleOn, r.throttleClient = true, clientID
	return r.lockedOut(state)
}

// lockedOut answers 429 when the client_id is locked out for the request's
// address. The address is asked only when the client_id has failures on
// record from some address: a client in good standing costs no round trip.
func (r *request) lockedOut(state any) (bool, error) {
	if !r.e.throttle.active(clientMarkKey(r.throttleClient)) {
		return false, nil
	}
	ip, err := r.clientAddr()
	if err != nil {
		return false, err
	}
	left, locked := r.e.throttle.blocked(clientAddrThrottleKey(r.throttleClient, ip))
	if !locked {
		return false, nil
	}
	r.exitSlowDown(left, state)
	return true, nil
}

// exitSlowDown answers 429 slow_down, retry after left.
func (r *request) exitSlowDown(left time.Duration, state any) {
	secs := max(int64((left+time.Second-1)/time.Second), 1)
	h := tokenHeaders()
	h["Retry-After"] = []string{strconv.FormatInt(secs, 10)}
	e := ErrSlowDown
	r.d.Outcome = OutcomeThrottled
	r.exit(e.Status, mustJSON(errorResponse{e.Code, e.Description, state}), h)
}

// A secret checked in no time (a digest, a provision_key) is counted when
// it fails, atomically with the check of the allowance (authFailed), and a
// correct one is checked against the lockout once more when it has passed
// (authPassed): every answer is then decided at one instant, as if the
// requests had come one by one, and a burst of guesses learns no more than
// the allowance. A secret kept as a slow hash reserves its failure slot
// before the hash runs (reserveAuth), so that no more hashes run for a key
// than it has failures left.

// authFailed counts a failed client authentication or provision_key
// against the request's client_id and address. answered is true when the
// allowance was already used up: the request has then been answered 429
// instead of with its error, which would tell a wrong guess from a right
// one past the allowance.
func (r *request) authFailed(state any) (answered bool, err error) {
	if !r.throttleOn {
		return false, nil
	}
	ip, err := r.clientAddr()
	if err != nil {
		return false, err
	}
	k := clientAddrThrottleKey(r.throttleClient, ip)
	if r.authSlot {
		r.authSlot = false
		r.e.throttle.settle(k, true)
		r.e.throttle.touch(clientMarkKey(r.throttleClient))
		return false, nil
	}
	left, locked := r.e.throttle.failOrRefuse(k)
	r.e.throttle.touch(clientMarkKey(r.throttleClient))
	if locked {
		r.exitSlowDown(left, state)
		return true, nil
	}
	return false, nil
}

// authPassed is called when a client secret or provision_key was right:
// a reserved slot is given back; without one, the lockout is checked
// again, since failures of other requests may have been counted since
// throttled looked.
func (r *request) authPassed(state any) (answered bool, err error) {
	if !r.throttleOn {
		return false, nil
	}
	if r.authSlot {
		r.authSlot = false
		ip, err := r.clientAddr()
		if err != nil {
			return false, err
		}
		r.e.throttle.settle(clientAddrThrottleKey(r.throttleClient, ip), false)
		return false, nil
	}
	return r.lockedOut(state)
}

// reserveAuth reserves a failure slot before a slow secret check; answered
// is true (429) when the key has no allowance left for it. A reserved slot
// is settled by authFailed or authPassed, or given back by releaseAuth.
func (r *request) reserveAuth(state any) (answered bool, err error) {
	if !r.throttleOn {
		return false, nil
	}
	ip, err := r.clientAddr()
	if err != nil {
		return false, err
	}
	left, ok := r.e.throttle.reserve(clientAddrThrottleKey(r.throttleClient, ip))
	if !ok {
		r.exitSlowDown(left, state)
		return true, nil
	}
	r.authSlot = true
	return false, nil
}

// releaseAuth gives back a reserved slot without counting anything (the
// check did not run).
func (r *request) releaseAuth() {
	if r.authSlot {
		r.authSlot = false
		r.e.throttle.settle(clientAddrThrottleKey(r.throttleClient, r.ip), false)
	}
}

// clientAddr is the client's address as the gateway determines it
// (Request.ForwardedIP: Kong's kong.client.get_forwarded_ip, serve's
// trusted_ips and X-Forwarded-For), what throttling keys on; asked at
// most once per request.
func (r *request) clientAddr() (string, error) {
	if !r.ipKnown {
		ip, err := r.k.ForwardedIP()
		if err != nil {
			return "", readErr("client address", err)
		}
		r.ip, r.ipKnown = ip, true
	}
	return r.ip, nil
}

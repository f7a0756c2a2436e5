package plugin

import (
	"errors"
	"sync"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// Made-up credentials must be cheap. Misses are never cached (a token
// issued on another node must validate on first use here), and made-up
// tokens never repeat, so without more every made-up bearer token or
// client_id would be one store query. Two things keep them off the store:
//
//   - A token we issued carries a check value (tokengen.go): one that
//     fails the check is refused without a lookup.
//   - What cannot be checked (a token imported from Kong or issued before
//     the check existed, any client_id) is looked up only within a budget
//     of UnknownLookups lookups per ThrottleWindow per client address (an
//     IPv6 address by its /64). A lookup that finds what it looked for is
//     given back, so legitimate credentials do not use the budget up;
//     only misses count. Past the budget such a credential is answered as
//     unknown (401 invalid_token, invalid_client), with no lookup, until
//     the window ends; revocation and introspection answer 429 instead
//     (presented_token.go), which claims nothing about the token.
//
// A client_id found once is remembered (knownIDs, bounded), and looked
// up past the budget all the same: an app in use keeps working from an
// address that also sends garbage (a shared NAT) when its cache entry
// expires. A remembered id no longer found is forgotten.
//
// Cache hits come first and are never counted: a credential in use is
// checked against neither. And while fewer than UnknownLookups misses
// have been counted in the current window from all addresses together, no
// address can be over its budget: the lookup goes ahead without reading
// the client address (a PDK round trip in Kong) and a miss is charged to
// the address afterwards. So a client in good standing costs nothing
// more; under a flood, each uncached lookup reads the address first.

// lookupBudget counts, per address, the lookups of credentials that could
// not be checked. A nil *lookupBudget allows every lookup.
type lookupBudget struct {
	limit   int
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	keys      map[string]failWindow
	nextSweep time.Time
	all       failWindow // misses from every address in the current window
}

func newLookupBudget(limit int, window time.Duration, maxKeys int, now func() time.Time) *lookupBudget {
	if limit == 0 {
		return nil
	}
	return &lookupBudget{limit: limit, window: window, maxKeys: maxKeys, now: now, keys: map[string]failWindow{}}
}

// take reserves one lookup for addr; false when addr's budget is spent,
// or when maxKeys addresses are already tracked and none has expired (so
// that many addresses cannot between them buy more than maxKeys budgets
// per window, nor grow the map).
func (b *lookupBudget) take(addr string) bool {
	if b == nil {
		return true
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.countAll(now, 1)
	w, ok := b.keys[addr]
	if ok && !now.Before(w.start.Add(b.window)) {
		ok = false
	}
	if !ok {
		if _, tracked := b.keys[addr]; !tracked && len(b.keys) >= b.maxKeys && !b.sweep(now) {
			return false
		}
		b.keys[addr] = failWindow{start: now, n: 1}
		return true
	}
	if w.n >= b.limit {
		return false
	}
	w.n++
	b.keys[addr] = w
	return true
}

// quiet reports whether fewer than limit misses were counted from all
// addresses in the current window: then no address is over its budget.
func (b *lookupBudget) quiet() bool {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	return !now.Before(b.all.start.Add(b.window)) || b.all.n < b.limit
}

// countAll counts n (1 or -1) in the window of every address.
func (b *lookupBudget) countAll(now time.Time, n int) {
	if !now.Before(b.all.start.Add(b.window)) {
		b.all = failWindow{start: now}
	}
	b.all.n = max(0, b.all.n+n)
}

// charge counts a miss against addr after the lookup (see quiet), beyond
// the budget if need be.
func (b *lookupBudget) charge(addr string) {
	if !b.take(addr) {
		b.mu.Lock()
		if w, ok := b.keys[addr]; ok {
			w.n++
			b.keys[addr] = w
		}
		b.mu.Unlock()
	}
}

// refund gives back a lookup that found what it looked for.
func (b *lookupBudget) refund(addr string) {
	if b == nil {
		return
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.countAll(now, -1)
	if w, ok := b.keys[addr]; ok && w.n > 0 {
		w.n--
		b.keys[addr] = w
	}
}

// retryIn is how long until addr's window ends and its budget is whole
// again (at least a second: Retry-After counts in seconds).
func (b *lookupBudget) retryIn(addr string) time.Duration {
	if b == nil {
		return time.Second
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	w, ok := b.keys[addr]
	if !ok {
		return time.Second
	}
	return max(w.start.Add(b.window).Sub(now), time.Second)
}

// sweep drops expired windows, at most once per tenth of a window, and
// reports whether there is room now.
func (b *lookupBudget) sweep(now time.Time) bool {
	if now.Before(b.nextSweep) {
		return false
	}
	b.nextSweep = now.Add(b.window / 10)
	for k, w := range b.keys {
		if !now.Before(w.start.Add(b.window)) {
			delete(b.keys, k)
		}
	}
	return len(b.keys) < b.maxKeys
}

// errOverBudget: the credential could not be checked and the address has
// spent its budget of lookups; it is answered as unknown.
var errOverBudget = errors.New("over the budget of unknown-credential lookups")

// lookupTicket is what a lookup allowed by the budget owes once its
// outcome is known (settle). A value, not a closure: the request must not
// escape to the heap on the validation path.
type lookupTicket struct {
	addr   string       // refund to addr when found ("" = nothing to refund)
	charge bool         // the budget was quiet: charge a miss afterwards
	client bool         // a client_id lookup: remember its outcome
	id     oauth.Digest // the client_id's digest, when client
}

// settle pays what ticket t owes for a lookup that found (or not) what it
// looked for.
func (r *request) settle(t lookupTicket, found bool) {
	if t.client {
		if found || r.e.knownClients.has(t.id) {
			r.e.knownClients.set(t.id, found)
		}
	}
	switch {
	case found && t.addr != "":
		r.e.unknown.refund(t.addr)
	case !found && t.charge:
		if ip, err := r.clientAddr(); err == nil {
			r.e.unknown.charge(addressKey(ip))
		}
	}
}

// mayLookUp decides whether the secret credential tok (a token) may be
// looked up. A correct check value may always; anything else takes one
// lookup from the address's budget.
func (r *request) mayLookUp(tok string) (lookupTicket, error) {
	if c := r.e.checker(r.ctx); c != nil && c.valid(tok) {
		return lookupTicket{}, nil
	}
	return r.takeUnknownLookup()
}

// takeUnknownLookup takes one lookup of a credential that cannot be
// checked (an unchecked token, a client_id) from the address's budget;
// while the budget is quiet, after the lookup and only for a miss.
func (r *request) takeUnknownLookup() (lookupTicket, error) {
	b := r.e.unknown
	if b == nil {
		return lookupTicket{}, nil
	}
	if b.quiet() {
		return lookupTicket{charge: true}, nil
	}
	ip, err := r.clientAddr()
	if err != nil {
		return lookupTicket{}, err
	}
	addr := addressKey(ip)
	if !b.take(addr) {
		return lookupTicket{}, errOverBudget
	}
	return lookupTicket{addr: addr}, nil
}

// gatewayError is a failure to read the request from the gateway met
// while deciding on a lookup: not a store failure (503) but the
// request's own error.
type gatewayError struct{ err error }

func (g gatewayError) Error() string { return g.err.Error() }
func (g gatewayError) Unwrap() error { return g.err }

// asGatewayError finds a gatewayError in err (only called on an error, so
// that the success path does not allocate).
func asGatewayError(err error) (error, bool) {
	var gw gatewayError
	if errors.As(err, &gw) {
		return gw.err, true
	}
	return nil, false
}

// lookupGate is mayLookUp for a token lookup: ErrNotFound with no lookup
// over the budget, a gatewayError when the address could not be read.
func (r *request) lookupGate(tok string) (lookupTicket, error) {
	t, err := r.mayLookUp(tok)
	switch {
	case errors.Is(err, errOverBudget):
		return t, oauth.ErrNotFound
	case err != nil:
		return t, gatewayError{err}
	}
	return t, nil
}

// knownIDs remembers client_ids that were found, by digest, so that their
// lookups skip the budget. Bounded: at the bound an arbitrary entry goes
// (map iteration order), which costs an evicted id at most a budgeted
// lookup.
type knownIDs struct {
	max int
	mu  sync.Mutex
	ids map[oauth.Digest]struct{}
}

func newKnownIDs(max int) *knownIDs {
	return &knownIDs{max: max, ids: map[oauth.Digest]struct{}{}}
}

func (k *knownIDs) has(d oauth.Digest) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.ids[d]
	return ok
}

// set remembers (found) or forgets d.
func (k *knownIDs) set(d oauth.Digest, found bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !found {
		delete(k.ids, d)
		return
	}
	if _, ok := k.ids[d]; ok {
		return
	}
	if len(k.ids) >= k.max {
		for victim := range k.ids {
			delete(k.ids, victim)
			break
		}
	}
	k.ids[d] = struct{}{}
}

// takeClientLookup is takeUnknownLookup for a client_id: a remembered id
// skips the budget; the lookup's outcome is remembered (settle).
func (r *request) takeClientLookup(id string) (lookupTicket, error) {
	d := oauth.DigestOf("client\x00" + id)
	if r.e.knownClients.has(d) {
		return lookupTicket{client: true, id: d}, nil
	}
	t, err := r.takeUnknownLookup()
	t.client, t.id = true, d
	return t, err
}

package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure the engine for the whole process. Start from
// DefaultOptions: the binary's flags do, so that a flag and a field mean the
// same, 0 included.
type Options struct {
	Store        Store
	StoreTimeout time.Duration // deadline of each store call
	ConsumerTTL  time.Duration // how long a loaded consumer is cached
	MaxBodyBytes int           // token-request body cap
	Now          func() time.Time

	// ConsumerMaxEntries bounds the consumers cached per workspace; 0 =
	// store.DefaultMaxEntries (the binary sets -cache-max-entries).
	ConsumerMaxEntries int

	// Brute-force protection of the client endpoints (see throttle.go): a
	// client_id (or, for requests naming none, a client IP) with
	// ThrottleFailures failed authentications or provision_keys within
	// ThrottleWindow is answered 429 for the rest of the window.
	// ThrottleFailures 0 turns throttling off.
	ThrottleFailures int
	ThrottleWindow   time.Duration
	ThrottleMaxKeys  int
	// UnknownLookups bounds the store lookups of credentials that cannot
	// be checked without one (tokens without our check value, client_ids)
	// and are not found: per client address, per ThrottleWindow (see
	// unknown_budget.go). 0 turns the bound off.
	UnknownLookups int

	// The standard password grant (flow_login.go). Failed logins are
	// counted per (username, client address), LoginThrottleFailures within
	// ThrottleWindow, and per username from every address,
	// LoginUserThrottleFailures within LoginUserThrottleWindow: one
	// address is stopped long before it can lock the account for everyone.
	// 0 turns a count off. Every failed login is answered no sooner than
	// LoginFailureFloor after it began, so that a backend's fast "no such
	// user" looks like its slower "wrong password".
	LoginThrottleFailures     int
	LoginUserThrottleFailures int
	LoginUserThrottleWindow   time.Duration
	LoginFailureFloor         time.Duration
	// LoginConcurrency bounds the login-backend calls the process makes
	// at once; SlowWait is the longest a request waits for a login slot
	// or a slow client-secret hash slot (package clientsecret) before it
	// is answered 503 temporarily_unavailable with Retry-After (see
	// slow_work.go).
	LoginConcurrency int
	SlowWait         time.Duration
	// AuthenticateCAFile holds PEM certificates trusted for an https
	// authenticate_url, besides the system's roots.
	AuthenticateCAFile string

	// Log is the process log (stderr, which Kong copies into its own
	// log); see logging.go for what a line carries. Never give it a
	// token, secret, password or provision key.
	Log *slog.Logger

	// Signer signs upstream JWTs (upstream_jwt) and publishes their keys;
	// nil: no signing key, and upstream_jwt is refused.
	Signer Signer

	// Observer, when set, is told of every request a front carried out
	// (Engine.Observe): the binary's metrics.
	Observer Observer
}

// Defaults, also those of the binary's flags.
const (
	DefaultStoreTimeout     = 2 * time.Second
	DefaultConsumerTTL      = 30 * time.Second
	DefaultMaxBodyBytes     = 64 << 10
	DefaultThrottleFailures = 10
	DefaultThrottleWindow   = time.Minute
	DefaultThrottleMaxKeys  = 65536
	DefaultUnknownLookups   = 60

	DefaultLoginThrottleFailures     = 5
	DefaultLoginUserThrottleFailures = 100 // above what one address may make in the window: 5 × (15 + 1)
	DefaultLoginUserThrottleWindow   = 15 * time.Minute
	DefaultLoginFailureFloor         = 250 * time.Millisecond
	DefaultLoginConcurrency          = 32
	DefaultSlowWait                  = 2 * time.Second
)

// DefaultOptions returns the defaults, with no store.
func DefaultOptions() Options {
	return Options{
		StoreTimeout:     DefaultStoreTimeout,
		ConsumerTTL:      DefaultConsumerTTL,
		MaxBodyBytes:     DefaultMaxBodyBytes,
		ThrottleFailures: DefaultThrottleFailures,
		ThrottleWindow:   DefaultThrottleWindow,
		ThrottleMaxKeys:  DefaultThrottleMaxKeys,
		UnknownLookups:   DefaultUnknownLookups,

		LoginThrottleFailures:     DefaultLoginThrottleFailures,
		LoginUserThrottleFailures: DefaultLoginUserThrottleFailures,
		LoginUserThrottleWindow:   DefaultLoginUserThrottleWindow,
		LoginFailureFloor:         DefaultLoginFailureFloor,
		LoginConcurrency:          DefaultLoginConcurrency,
		SlowWait:                  DefaultSlowWait,

		Now: time.Now,
		Log: slog.Default(),
	}
}

// Engine is the OAuth2 engine shared by every plugin instance of the process.
type Engine struct {
	opt       Options
	consumers *consumerCache
	throttle  *throttle // nil when off

	loginHTTP     *http.Client  // every instance's login backend
	loginThrottle *throttle     // per (username, client address); nil when off
	userThrottle  *throttle     // per username; nil when off
	loginSlots    chan struct{} // one token per login-backend call running

	unknown      *lookupBudget // lookups of credentials that cannot be checked; nil when off
	knownClients *knownIDs     // client_ids found before: their lookups skip the budget
	check        atomic.Pointer[tokenChecker]
	checkMu      sync.Mutex // one read of the check key at a time
	checkRetry   time.Time  // no read of the check key before then (guarded by checkMu)
}

// NewEngine checks o and returns the engine. Durations and sizes must be
// more than 0, ThrottleFailures 0 or more; a nil Now or Log is time.Now or
// slog.Default().
func NewEngine(o Options) (*Engine, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("engine: no store")
	case o.StoreTimeout <= 0, o.ConsumerTTL <= 0, o.MaxBodyBytes <= 0:
		return nil, errors.New("engine: store timeout, consumer TTL and body cap must be more than 0")
	case o.UnknownLookups < 0:
		return nil, errors.New("engine: unknown-credential lookups must be 0 or more")
	case o.ThrottleFailures < 0 || o.ThrottleWindow <= 0 || o.ThrottleMaxKeys <= 0:
		return nil, errors.New("engine: throttle failures must be 0 or more, its window and key bound more than 0")
	case o.LoginThrottleFailures < 0 || o.LoginUserThrottleFailures < 0 || o.LoginUserThrottleWindow <= 0 || o.LoginFailureFloor < 0:
		return nil, errors.New("engine: login throttle failures and failure floor must be 0 or more, the per-user window more than 0")
	case o.LoginConcurrency <= 0 || o.SlowWait <= 0:
		return nil, errors.New("engine: login concurrency and slow wait must be more than 0")
	}
	hc, err := newLoginClient(o.AuthenticateCAFile)
	if err != nil {
		return nil, fmt.Errorf("engine: %v", err)
	}
	e := newEngine(o)
	e.loginHTTP = hc
	return e, nil
}

func newEngine(o Options) *Engine {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.LoginConcurrency <= 0 {
		o.LoginConcurrency = DefaultLoginConcurrency
	}
	if o.SlowWait <= 0 {
		o.SlowWait = DefaultSlowWait
	}
	return &Engine{
		opt:       o,
		consumers: newConsumerCache(o.ConsumerTTL, o.ConsumerMaxEntries, o.Observer),
		throttle:  newThrottle(o.ThrottleFailures, o.ThrottleWindow, o.ThrottleMaxKeys, o.Now),

		loginHTTP:     defaultLoginClient,
		loginThrottle: newThrottle(o.LoginThrottleFailures, o.ThrottleWindow, o.ThrottleMaxKeys, o.Now),
		userThrottle:  newThrottle(o.LoginUserThrottleFailures, o.LoginUserThrottleWindow, o.ThrottleMaxKeys, o.Now),
		loginSlots:    make(chan struct{}, o.LoginConcurrency),

		unknown:      newLookupBudget(o.UnknownLookups, o.ThrottleWindow, o.ThrottleMaxKeys, o.Now),
		knownClients: newKnownIDs(o.ThrottleMaxKeys),
	}
}

// defaultLoginClient trusts the system's roots only.
var defaultLoginClient = func() *http.Client {
	hc, err := newLoginClient("")
	if err != nil {
		panic(err) // no file to read: cannot fail
	}
	return hc
}()

// fallback serves a Config built without an engine (NewConfig(nil), as for
// the schema dump), so that such a config still answers (503: it has no
// store) instead of dereferencing nil.
var fallback = func() *Engine {
	o := DefaultOptions()
	o.Store = noStore{}
	return newEngine(o)
}()

func (c *Config) eng() *Engine {
	if c.engine == nil {
		return fallback
	}
	return c.engine
}

func (e *Engine) now() time.Time { return e.opt.Now() }

// storeCtx bounds one store call by the caller's context and StoreTimeout:
// a store that hangs must cost a request StoreTimeout, not the gateway's
// own timeout (Kong's socket timeout is 60 s).
func (e *Engine) storeCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, e.opt.StoreTimeout)
}

// ThrottledKeys is the number of keys whose failures the throttles track
// now (see throttle.go): client_ids and client IPs, and for logins
// (username, address) pairs and usernames.
func (e *Engine) ThrottledKeys() int {
	return e.throttle.size() + e.loginThrottle.size() + e.userThrottle.size()
}

// OneAddressCanLockUsers reports whether one address, keeping under the
// per-(username, address) count, can still reach the per-username count
// and lock the account for everyone: it makes at most LoginThrottleFailures
// refused logins per ThrottleWindow, and a user window meets at most
// LoginUserThrottleWindow / ThrottleWindow + 1 of them.
func (o Options) OneAddressCanLockUsers() bool {
	if o.LoginThrottleFailures <= 0 || o.LoginUserThrottleFailures <= 0 || o.ThrottleWindow <= 0 {
		return o.LoginThrottleFailures <= 0 && o.LoginUserThrottleFailures > 0
	}
	windows := int64(o.LoginUserThrottleWindow/o.ThrottleWindow) + 1
	return int64(o.LoginThrottleFailures)*windows >= int64(o.LoginUserThrottleFailures)
}

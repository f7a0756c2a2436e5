package plugin

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
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

	// Brute-force protection of the client endpoints (see throttle.go): a
	// client_id (or, for requests naming none, a client IP) with
	// ThrottleFailures failed authentications or provision_keys within
	// ThrottleWindow is answered 429 for the rest of the window.
	// ThrottleFailures 0 turns throttling off.
	ThrottleFailures int
	ThrottleWindow   time.Duration
	ThrottleMaxKeys  int

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
	// AuthenticateCAFile holds PEM certificates trusted for an https
	// authenticate_url, besides the system's roots.
	AuthenticateCAFile string

	// Logf writes to the process log (stderr, which Kong copies into its
	// own log). Never give it a token, secret or provision key.
	Logf func(format string, args ...any)
}

// Defaults, also those of the binary's flags.
const (
	DefaultStoreTimeout     = 2 * time.Second
	DefaultConsumerTTL      = 30 * time.Second
	DefaultMaxBodyBytes     = 64 << 10
	DefaultThrottleFailures = 10
	DefaultThrottleWindow   = time.Minute
	DefaultThrottleMaxKeys  = 65536

	DefaultLoginThrottleFailures     = 5
	DefaultLoginUserThrottleFailures = 50
	DefaultLoginUserThrottleWindow   = 15 * time.Minute
	DefaultLoginFailureFloor         = 250 * time.Millisecond
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

		LoginThrottleFailures:     DefaultLoginThrottleFailures,
		LoginUserThrottleFailures: DefaultLoginUserThrottleFailures,
		LoginUserThrottleWindow:   DefaultLoginUserThrottleWindow,
		LoginFailureFloor:         DefaultLoginFailureFloor,

		Now:  time.Now,
		Logf: log.Printf,
	}
}

// Engine is the OAuth2 engine shared by every plugin instance of the process.
type Engine struct {
	opt       Options
	consumers *consumerCache
	throttle  *throttle // nil when off

	loginHTTP     *http.Client // every instance's login backend
	loginThrottle *throttle    // per (username, client address); nil when off
	userThrottle  *throttle    // per username; nil when off
}

// NewEngine checks o and returns the engine. Durations and sizes must be
// more than 0, ThrottleFailures 0 or more; a nil Now or Logf is time.Now or
// log.Printf.
func NewEngine(o Options) (*Engine, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("engine: no store")
	case o.StoreTimeout <= 0, o.ConsumerTTL <= 0, o.MaxBodyBytes <= 0:
		return nil, errors.New("engine: store timeout, consumer TTL and body cap must be more than 0")
	case o.ThrottleFailures < 0 || o.ThrottleWindow <= 0 || o.ThrottleMaxKeys <= 0:
		return nil, errors.New("engine: throttle failures must be 0 or more, its window and key bound more than 0")
	case o.LoginThrottleFailures < 0 || o.LoginUserThrottleFailures < 0 || o.LoginUserThrottleWindow <= 0 || o.LoginFailureFloor < 0:
		return nil, errors.New("engine: login throttle failures and failure floor must be 0 or more, the per-user window more than 0")
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
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	return &Engine{
		opt:       o,
		consumers: newConsumerCache(o.ConsumerTTL),
		throttle:  newThrottle(o.ThrottleFailures, o.ThrottleWindow, o.ThrottleMaxKeys, o.Now),

		loginHTTP:     defaultLoginClient,
		loginThrottle: newThrottle(o.LoginThrottleFailures, o.ThrottleWindow, o.ThrottleMaxKeys, o.Now),
		userThrottle:  newThrottle(o.LoginUserThrottleFailures, o.LoginUserThrottleWindow, o.ThrottleMaxKeys, o.Now),
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

func (e *Engine) logf(format string, args ...any) { e.opt.Logf(format, args...) }

func (e *Engine) now() time.Time { return e.opt.Now() }

// storeCtx bounds one store call by the caller's context and StoreTimeout:
// a store that hangs must cost a request StoreTimeout, not the gateway's
// own timeout (Kong's socket timeout is 60 s).
func (e *Engine) storeCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, e.opt.StoreTimeout)
}

// Logf writes to the engine's process log. Never give it a token, secret
// or provision key.
func (c *Config) Logf(format string, args ...any) { c.eng().logf(format, args...) }

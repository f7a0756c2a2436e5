package plugin

import (
	"context"
	"log"
	"time"
)

// Options configure the engine for the whole process.
type Options struct {
	Store        TokenStore
	StoreTimeout time.Duration // per store call; default 2s
	ConsumerTTL  time.Duration // how long a loaded Kong consumer is cached; default 30s
	MaxBodyBytes int           // token-request body cap; default 64 KiB
	Now          func() time.Time

	// Brute-force protection of the token endpoint (see throttle.go): a
	// client_id (or, for requests naming none, a client IP) with
	// ThrottleFailures failed authentications or provision_keys within
	// ThrottleWindow is answered 429 for the rest of the window. Defaults
	// 10, 1m and 65536 tracked keys; ThrottleFailures < 0 turns it off.
	ThrottleFailures int
	ThrottleWindow   time.Duration
	ThrottleMaxKeys  int

	// Logf writes to the process log (stderr, which Kong copies into its
	// own log). Never give it a token, secret or provision key.
	Logf func(format string, args ...any)
}

// Defaults for Options.
const (
	DefaultStoreTimeout = 2 * time.Second
	DefaultConsumerTTL  = 30 * time.Second
	DefaultMaxBodyBytes = 64 << 10
)

// Engine is the OAuth2 engine shared by every plugin instance of the process.
type Engine struct {
	opt       Options
	consumers *consumerCache
	throttle  *throttle // nil when off
}

// NewEngine applies defaults to o and returns the engine.
func NewEngine(o Options) *Engine {
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.ConsumerTTL <= 0 {
		o.ConsumerTTL = DefaultConsumerTTL
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.ThrottleFailures == 0 {
		o.ThrottleFailures = DefaultThrottleFailures
	}
	if o.ThrottleWindow <= 0 {
		o.ThrottleWindow = DefaultThrottleWindow
	}
	if o.ThrottleMaxKeys <= 0 {
		o.ThrottleMaxKeys = DefaultThrottleMaxKeys
	}
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
	}
}

// fallback serves a Config built without an engine (NewConfig(nil)), so
// that such a config still answers instead of dereferencing nil.
var fallback = NewEngine(Options{})

func (c *Config) eng() *Engine {
	if c.engine == nil {
		return fallback
	}
	return c.engine
}

func (e *Engine) logf(format string, args ...any) { e.opt.Logf(format, args...) }

func (e *Engine) now() time.Time { return e.opt.Now() }

// storeCtx bounds one store call: a store that hangs must cost a request
// StoreTimeout, not Kong's 60 s socket timeout.
func (e *Engine) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.opt.StoreTimeout)
}

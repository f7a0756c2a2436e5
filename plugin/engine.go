package plugin

import (
	"time"
)

// Options configure the engine for the whole process.
type Options struct {
	Store        TokenStore
	StoreTimeout time.Duration // per store call; default 2s
	ConsumerTTL  time.Duration // how long a loaded Kong consumer is cached; default 30s
	MaxBodyBytes int           // token-request body cap; default 64 KiB
	Now          func() time.Time
	// Logf writes to the process log (stderr, which Kong copies into its
	// own log). Never give it a token, secret or provision key.
	Logf func(format string, args ...any)
}

// Engine is the OAuth2 engine shared by every plugin instance of the process.
type Engine struct {
	opt Options
}

// NewEngine applies defaults to o and returns the engine.
func NewEngine(o Options) *Engine { return &Engine{opt: o} }

// Access handles Kong's access phase for one request. It never panics.
func (c *Config) Access(k Kong) {}

type settings struct{}

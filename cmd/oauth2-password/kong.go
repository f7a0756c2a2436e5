package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/Kong/go-pdk/server"

	"github.com/oauth2-password/oauth2-password/pdk"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

// priority places the plugin in Kong's authentication band, like Kong's own
// oauth2 plugin (1400): after jwt (1450), before acl (950).
const priority = 1400

// kongFlags are the process settings of Kong mode. go-pdk adds -kong-prefix,
// -dump and -help to the same global flag set.
type kongFlags struct {
	db           dbFlags
	storeTimeout time.Duration
	cache        store.CacheOptions
	consumerTTL  time.Duration
	maxBody      int
	purgeEvery   time.Duration
	purgeBatch   int

	throttleFailures int
	throttleWindow   time.Duration
	throttleMaxKeys  int
}

func (f *kongFlags) register(fs *flag.FlagSet) {
	f.db.register(fs)
	fs.DurationVar(&f.storeTimeout, "store-timeout", 2*time.Second, "deadline of each store call; past it the request is answered 503")
	fs.DurationVar(&f.cache.SyncInterval, "cache-sync-interval", 2*time.Second, "how often the change feed is read: the bound within which a revocation by another process is honoured")
	fs.StringVar(&f.cache.ListenURL, "listen-database-url", "", "PostgreSQL URL of the session that LISTENs for change notifications (default: the database URL); set a direct URL when the database URL goes through pgbouncer in transaction pooling")
	fs.DurationVar(&f.cache.MaxTTL, "cache-max-ttl", 10*time.Minute, "longest a token or client stays cached")
	fs.DurationVar(&f.cache.StaleIfError, "cache-stale-if-error", 60*time.Second, "while the store is unreachable, cached tokens keep validating this long after the last successful sync")
	fs.DurationVar(&f.consumerTTL, "consumer-cache-ttl", 30*time.Second, "how long a Kong consumer loaded by the plugin is cached")
	fs.IntVar(&f.maxBody, "max-body-bytes", 64<<10, "largest token-request body accepted (at most 1 MiB)")
	fs.DurationVar(&f.purgeEvery, "purge-interval", time.Minute, "how often expired tokens are purged")
	fs.IntVar(&f.purgeBatch, "purge-batch", 1000, "rows deleted per purge statement")
	fs.IntVar(&f.throttleFailures, "throttle-failures", plugin.DefaultThrottleFailures, "failed client authentications or provision_keys per client_id (or per client IP for requests naming no client) within -throttle-window before the token endpoint answers 429 for the rest of the window; 0 turns throttling off")
	fs.DurationVar(&f.throttleWindow, "throttle-window", plugin.DefaultThrottleWindow, "window of -throttle-failures, and the longest lockout")
	fs.IntVar(&f.throttleMaxKeys, "throttle-max-keys", plugin.DefaultThrottleMaxKeys, "most keys the throttle tracks at once (about 150 bytes each)")
}

// runKong serves the plugin on <kong-prefix>/oauth2-password.socket, or
// prints the plugin info with -dump.
func runKong() error {
	var f kongFlags
	f.register(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		return usagef("unexpected argument %q: admin commands come first (oauth2-password %s -database-url …)", flag.Arg(0), flag.Arg(0))
	}

	if flag.Lookup("dump").Value.String() == "true" {
		// Kong's query command: print the info and touch no store.
		return server.StartServer(pdk.Constructor(plugin.NewEngine(plugin.Options{})), version, priority)
	}
	if f.maxBody <= 0 || f.maxBody > pdk.MaxFileBody {
		return usagef("-max-body-bytes must be between 1 and %d", pdk.MaxFileBody)
	}
	// Bounds the cache would otherwise bend silently (store.CacheOptions):
	// a sync interval at or past stale-if-error would flush the cache
	// between syncs, and the change feed is kept one hour.
	switch {
	case f.storeTimeout <= 0 || f.consumerTTL <= 0 || f.purgeEvery <= 0 || f.purgeBatch <= 0:
		return usagef("-store-timeout, -consumer-cache-ttl, -purge-interval and -purge-batch must be more than 0")
	case f.cache.SyncInterval <= 0 || f.cache.StaleIfError <= f.cache.SyncInterval:
		return usagef("-cache-sync-interval must be more than 0 and less than -cache-stale-if-error")
	case f.cache.MaxTTL <= 0 || f.cache.MaxTTL > 30*time.Minute:
		return usagef("-cache-max-ttl must be more than 0 and at most 30m")
	}
	if f.throttleFailures < 0 || f.throttleWindow <= 0 || f.throttleMaxKeys <= 0 {
		return usagef("-throttle-failures must be 0 or more, -throttle-window and -throttle-max-keys more than 0")
	}
	throttleFailures := f.throttleFailures
	if throttleFailures == 0 {
		throttleFailures = -1 // plugin.Options: negative turns it off, 0 is the default
	}
	if err := checkSocketPath(flag.Lookup("kong-prefix").Value.String()); err != nil {
		return err
	}
	url, err := f.db.resolve()
	if err != nil {
		return usagef("%v", err) // as the CLI does
	}
	if err := store.CheckURL(url); err != nil {
		return usagef("%v", err) // not a store retried forever with 503s
	}
	if l := f.cache.ListenURL; l != "" && !(store.IsPostgresURL(l) && store.IsPostgresURL(url)) {
		return usagef("-listen-database-url needs a PostgreSQL database URL and is one itself (postgres://…)")
	}
	if url == "" {
		url = "sqlite:" + store.DefaultPathFor(flag.Lookup("kong-prefix").Value.String())
	}

	log.SetOutput(quietLog{os.Stderr})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &lazyStore{}
	go st.open(ctx, url, f)

	engine := plugin.NewEngine(plugin.Options{
		Store:        st,
		StoreTimeout: f.storeTimeout,
		ConsumerTTL:  f.consumerTTL,
		MaxBodyBytes: f.maxBody,
		Logf:         log.Printf,

		ThrottleFailures: throttleFailures,
		ThrottleWindow:   f.throttleWindow,
		ThrottleMaxKeys:  f.throttleMaxKeys,
	})

	go logStatsOn(syscall.SIGUSR1)

	// Kong stops the plugin server with SIGTERM when its worker exits.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		cancel()
		st.close()
		os.Exit(0)
	}()

	return server.StartServer(pdk.Constructor(engine), version, priority)
}

// maxSocketPath is the longest Unix socket path Linux accepts (108 bytes
// with the terminating NUL). go-pdk would fail later with a bare "bind:
// invalid argument" (kong/PROTOCOL.md §1).
const maxSocketPath = 107

// checkSocketPath refuses a -kong-prefix whose socket path cannot exist.
func checkSocketPath(prefix string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	p := filepath.Join(prefix, filepath.Base(exe)+".socket")
	if len(p) > maxSocketPath {
		return usagef("socket path %s is %d bytes, more than the %d a Unix socket allows: use a shorter -kong-prefix", p, len(p), maxSocketPath)
	}
	return nil
}

// logStatsOn logs one line of process figures each time sig arrives (kill
// -USR1 PID): live heap after a collection and goroutines. It is
// how an operator, or `make soak`, watches a plugin process that serves no
// HTTP of its own for leaks.
func logStatsOn(sig os.Signal) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, sig)
	for range c {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		log.Printf("oauth2-password: stats: heap_alloc=%d heap_sys=%d goroutines=%d", m.HeapAlloc, m.HeapSys, runtime.NumGoroutine())
	}
}

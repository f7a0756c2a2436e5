package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/oauth2-password/oauth2-password/pdk/kong"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/metrics"
	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// engineFlags are the process settings Kong mode and serve mode share:
// the store, its cache and purge, and the engine's options. Their defaults
// are the engine's and the cache's own (plugin.DefaultOptions,
// store.DefaultCacheOptions), so a flag and an option mean the same, 0
// included.
type engineFlags struct {
	db          dbFlags
	engine      plugin.Options
	cache       store.CacheOptions
	purgeEvery  time.Duration
	purgeBatch  int
	metricsAddr string // "" = no metrics listener
	slowHashes  int    // -slow-hash-concurrency: clientsecret.Default's bound
	readURL     string // -database-read-url: "" = no read replica
	logFormat   string
	// startTimeout bounds opening the store at start (serve's
	// -store-start-timeout); 0 retries for ever (Kong mode).
	startTimeout time.Duration
	signing      signingFlags // upstream JWT keys (cli_keys.go)
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	f.engine, f.cache = plugin.DefaultOptions(), store.DefaultCacheOptions()
	e, c := &f.engine, &f.cache
	f.db.register(fs)
	fs.DurationVar(&e.StoreTimeout, "store-timeout", e.StoreTimeout, "deadline of each store call; past it the request is answered 503")
	fs.StringVar(&f.readURL, "database-read-url", "", "PostgreSQL read replica for the lookups that miss the cache (bearer validation, introspection, client lookup); a miss there is asked again of the primary before a token or client is refused")
	fs.StringVar(&c.ListenURL, "listen-database-url", "", "PostgreSQL URL of the session that LISTENs for change notifications (default: the database URL); set a direct URL when the database URL goes through pgbouncer in transaction pooling")
	fs.DurationVar(&c.SyncInterval, "cache-sync-interval", c.SyncInterval, "how often the change feed is read: the bound within which a revocation by another process is honoured")
	fs.DurationVar(&c.MaxTTL, "cache-max-ttl", c.MaxTTL, "longest a token or client stays cached")
	fs.IntVar(&c.MaxEntries, "cache-max-entries", c.MaxEntries, "most tokens cached, and separately most clients and most consumers per workspace; one more evicts one not used lately. Unless GOMEMLIMIT is set, the process's soft memory limit is 64 MiB + 4 KiB a token (8 KiB with -signing-key), the worst case of a cached token")
	fs.DurationVar(&c.StaleIfError, "cache-stale-if-error", c.StaleIfError, "while the store is unreachable, cached tokens keep validating this long after the last successful sync")
	fs.DurationVar(&e.ConsumerTTL, "consumer-cache-ttl", e.ConsumerTTL, "how long a consumer looked up by the plugin is cached")
	fs.IntVar(&e.MaxBodyBytes, "max-body-bytes", e.MaxBodyBytes, "largest token-request body accepted (at most 1 MiB)")
	fs.DurationVar(&f.purgeEvery, "purge-interval", time.Minute, "how often expired tokens are purged")
	fs.IntVar(&f.purgeBatch, "purge-batch", 1000, "rows deleted per purge statement")
	fs.IntVar(&e.ThrottleFailures, "throttle-failures", e.ThrottleFailures, "failed client authentications or provision_keys per client_id and client address (IPv6 by /64) within -throttle-window before the client endpoints answer 429 to that address for the rest of the window; 0 turns throttling off")
	fs.DurationVar(&e.ThrottleWindow, "throttle-window", e.ThrottleWindow, "window of -throttle-failures, and the longest lockout")
	fs.IntVar(&e.ThrottleMaxKeys, "throttle-max-keys", e.ThrottleMaxKeys, "most keys the throttle tracks at once (about 150 bytes each)")
	fs.IntVar(&e.UnknownLookups, "unknown-lookups", e.UnknownLookups, "store lookups per client address and -throttle-window of credentials that carry no check value and are not found (made-up tokens and client_ids); 0 = unbounded")
	// The standard password grant (authenticate_url).
	fs.IntVar(&e.LoginThrottleFailures, "login-throttle-failures", e.LoginThrottleFailures, "failed logins (the login backend said 401/403) per username and client address within -throttle-window before that pair is answered 429; 0 turns it off")
	fs.IntVar(&e.LoginUserThrottleFailures, "login-user-throttle-failures", e.LoginUserThrottleFailures, "failed logins per username from any address within -login-user-throttle-window before the username is answered 429; 0 turns it off")
	fs.DurationVar(&e.LoginUserThrottleWindow, "login-user-throttle-window", e.LoginUserThrottleWindow, "window of -login-user-throttle-failures")
	fs.DurationVar(&e.LoginFailureFloor, "login-failure-floor", e.LoginFailureFloor, "least time a failed login takes to answer, so that a fast \"no such user\" looks like a slow \"wrong password\"")
	fs.IntVar(&f.slowHashes, "slow-hash-concurrency", clientsecret.DefaultConcurrency, "most slow client-secret hashes (argon2id, 19 MiB each; Kong's PBKDF2) run at once in the process; default: the number of CPUs")
	fs.IntVar(&e.LoginConcurrency, "login-concurrency", e.LoginConcurrency, "most calls to login backends (authenticate_url) in flight at once in the process")
	fs.DurationVar(&e.SlowWait, "slow-wait", e.SlowWait, "longest a token request waits for a slow-hash or login-backend slot before it is answered 503 temporarily_unavailable with Retry-After")
	fs.StringVar(&e.AuthenticateCAFile, "authenticate-ca-file", "", "PEM file of CA certificates trusted for an https authenticate_url, besides the system's")
	fs.StringVar(&f.metricsAddr, "metrics", "", "serve Prometheus metrics on /metrics at this address (e.g. 127.0.0.1:9542), a listener of their own; default off")
	fs.StringVar(&f.logFormat, "log-format", "text", "log line format on stderr: text or json")
	f.signing.register(fs)
}

// check refuses values the engine or the cache would bend silently: a sync
// interval at or past stale-if-error would flush the cache between syncs,
// and the change feed is kept one hour.
func (f *engineFlags) check() error {
	e, c := &f.engine, &f.cache
	switch {
	case e.MaxBodyBytes <= 0 || e.MaxBodyBytes > kong.MaxFileBody:
		return usagef("-max-body-bytes must be between 1 and %d", kong.MaxFileBody)
	case e.StoreTimeout <= 0 || e.ConsumerTTL <= 0 || f.purgeEvery <= 0 || f.purgeBatch <= 0:
		return usagef("-store-timeout, -consumer-cache-ttl, -purge-interval and -purge-batch must be more than 0")
	case c.SyncInterval <= 0 || c.StaleIfError <= c.SyncInterval:
		return usagef("-cache-sync-interval must be more than 0 and less than -cache-stale-if-error")
	case c.MaxTTL <= 0 || c.MaxTTL > 30*time.Minute:
		return usagef("-cache-max-ttl must be more than 0 and at most 30m")
	case e.UnknownLookups < 0:
		return usagef("-unknown-lookups must be 0 or more")
	case c.MaxEntries <= 0:
		return usagef("-cache-max-entries must be more than 0")
	case e.ThrottleFailures < 0 || e.ThrottleWindow <= 0 || e.ThrottleMaxKeys <= 0:
		return usagef("-throttle-failures must be 0 or more, -throttle-window and -throttle-max-keys more than 0")
	case e.LoginThrottleFailures < 0 || e.LoginUserThrottleFailures < 0 || e.LoginUserThrottleWindow <= 0 || e.LoginFailureFloor < 0:
		return usagef("-login-throttle-failures, -login-user-throttle-failures and -login-failure-floor must be 0 or more, -login-user-throttle-window more than 0")
	case f.slowHashes <= 0 || e.LoginConcurrency <= 0 || e.SlowWait <= 0:
		return usagef("-slow-hash-concurrency, -login-concurrency and -slow-wait must be more than 0")
	case f.logFormat != "text" && f.logFormat != "json":
		return usagef("-log-format must be text or json, not %q", f.logFormat)
	}
	if f.metricsAddr != "" {
		_, port, err := net.SplitHostPort(f.metricsAddr)
		if err == nil {
			// The listener retries a failed listen forever (the port may be
			// taken for a while); a port that can never work is said now.
			_, err = net.LookupPort("tcp", port)
		}
		if err != nil {
			return usagef("-metrics %q is not HOST:PORT: %v", f.metricsAddr, err)
		}
	}
	return nil
}

// start opens the store in the background (the embedded store at
// defaultPath when no URL is given) and returns it with the engine over it,
// logging to log. With -metrics it also serves the metrics. ctx ends the
// store's background work and the metrics listener.
func (f *engineFlags) start(ctx context.Context, defaultPath string, log *slog.Logger) (*store.Lazy, *plugin.Engine, error) {
	url, err := f.db.resolve()
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	if err := store.CheckURL(url); err != nil {
		return nil, nil, usagef("%v", err) // not a store retried forever with 503s
	}
	if l := f.cache.ListenURL; l != "" && !(store.IsPostgresURL(l) && store.IsPostgresURL(url)) {
		return nil, nil, usagef("-listen-database-url needs a PostgreSQL database URL and is one itself (postgres://…)")
	}
	if r := f.readURL; r != "" {
		if !store.IsPostgresURL(r) || !store.IsPostgresURL(url) {
			return nil, nil, usagef("-database-read-url needs a PostgreSQL database URL and is one itself (postgres://…)")
		}
		if err := store.CheckURL(r); err != nil {
			return nil, nil, usagef("-database-read-url: %v", err)
		}
	}
	if url == "" {
		url = "sqlite:" + defaultPath
	}
	lo := store.LazyOptions{Cache: f.cache, PurgeEvery: f.purgeEvery, PurgeBatch: f.purgeBatch, Log: log, ReadURL: f.readURL, StartTimeout: f.startTimeout}
	clientsecret.Default.SetConcurrency(f.slowHashes)
	o := f.engine
	o.Log = log
	if o.Signer, _, err = f.signing.signer(); err != nil {
		return nil, nil, err
	}
	o.ConsumerMaxEntries = f.cache.MaxEntries
	if o.OneAddressCanLockUsers() {
		log.Warn("one address can lock a username out for everyone: -login-throttle-failures per -throttle-window adds up to -login-user-throttle-failures within -login-user-throttle-window; raise the latter (docs/security-throttling.md)")
	}
	applyMemoryBudget(f.cache.MaxEntries, o.Signer != nil, log)
	var m *metrics.Metrics
	if f.metricsAddr != "" {
		m = metrics.New(version)
		lo.Metrics, o.Observer = m, m
	}
	st := store.OpenLazy(ctx, url, lo)
	o.Store = st
	e, err := plugin.NewEngine(o)
	if err != nil {
		st.Close()
		return nil, nil, usagef("%v", err)
	}
	if m != nil {
		m.WatchStore(st)
		m.WatchEngine(e)
		go m.Serve(ctx, f.metricsAddr, log)
	}
	return st, e, nil
}

// logger is the process log in -log-format on w.
func (f *engineFlags) logger(w io.Writer) *slog.Logger {
	if f.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

var (
	_ plugin.Store        = (*store.Lazy)(nil)
	_ plugin.CachedLookup = (*store.Lazy)(nil) // the allocation-free validation path
)

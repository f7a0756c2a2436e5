package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// row is everything measured at one store size.
type row struct {
	store            string // "PostgreSQL" or "SQLite"
	size             int
	loadRate         float64 // tokens/s of the bulk load
	missP50, missP99 time.Duration
	// PostgreSQL only: the miss latencies with the recommended settings,
	// and side by side with the reference store (sidebyside.go) with the
	// default and the recommended settings.
	recMissP50, recMissP99 time.Duration
	sbs, recSbs            sideBySide
	cachedP50, cachedP99   time.Duration
	introspectP99          time.Duration
	issuance               float64 // tokens/s at concurrency 8
	// PostgreSQL only: the WAL bytes written per issued token (the first
	// change of a page after a checkpoint writes the whole page), and
	// issuance sustained for -sustain, with the default and the
	// recommended settings.
	walPerIssue             float64
	sustained, recSustained sustainedIssuance
	refresh                 float64 // refreshes/s at concurrency 8
	revocation              float64 // revocations/s at concurrency 8
	purge                   float64 // expired rows deleted/s
	bytesPerToken           float64
	rss, rssPeak            int64
	startup                 time.Duration
}

// picker hands out loaded token numbers in [0, size) at random, never the
// same twice in a run: a token refreshed or revoked is not presented again,
// and a miss is a miss.
type picker struct {
	mu   sync.Mutex
	used map[int]bool
	rng  *rand.Rand
}

func newPicker() *picker { return &picker{used: map[int]bool{}, rng: rand.New(rand.NewPCG(1, 2))} }

func (p *picker) pick(size, n int) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, n)
	for tries := 0; len(out) < n; tries++ {
		// The smallest size serves its own rows and the reference
		// store's: too small a size for -samples would loop forever.
		if tries > 100*n+1_000_000 {
			panic(picksExhausted{fmt.Errorf("no %d unused tokens left among %d: use a larger smallest -sizes or fewer -samples", n, size)})
		}
		i := p.rng.IntN(size)
		if !p.used[i] {
			p.used[i] = true
			out = append(out, i)
		}
	}
	return out
}

var picks = newPicker()

// picksExhausted is pick's panic when too few tokens are left; run
// recovers it as its error, so that the servers started are stopped.
type picksExhausted struct{ error }

// drive runs op for every item at concurrency c and returns each latency
// and the wall time; the first failure stops it.
func drive(ctx context.Context, c int, items []int, op func(context.Context, int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, len(items))
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1)) - 1
				if k >= len(items) || firstErr.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := op(ctx, items[k]); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[k] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, 0, err
	}
	return lat, time.Since(start), nil
}

func quantile(lat []time.Duration, q float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// latencyConc is the concurrency of the latency rows: a few requests in
// flight, as behind a busy proxy, without saturating two cores.
const latencyConc = 4

// measureMiss validates tokens never validated before: every one a cache
// miss, a store read. A warm-up of other tokens first, so that a server
// just (re)started is measured with its working set read in.
func measureMiss(ctx context.Context, sp *serveProc, size, samples int) (p50, p99 time.Duration, err error) {
	auth := sp.authOp()
	op := func(ctx context.Context, i int) error { return auth(ctx, accessOf(i)) }
	if _, _, err := drive(ctx, latencyConc, picks.pick(size, samples/2), op); err != nil {
		return 0, 0, err
	}
	lat, _, err := drive(ctx, latencyConc, picks.pick(size, samples), op)
	if err != nil {
		return 0, 0, err
	}
	return quantile(lat, 0.5), quantile(lat, 0.99), nil
}

// walCounter reads the position of PostgreSQL's WAL in bytes; nil for
// SQLite. (pg_stat_wal's counters lag: backends report them at most once a
// second.)
type walCounter func(ctx context.Context) (float64, error)

func pgWAL(db *sql.DB) walCounter {
	return func(ctx context.Context) (lsn float64, err error) {
		err = db.QueryRowContext(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn`).Scan(&lsn)
		return lsn, err
	}
}

// measureIssuance issues samples tokens at concurrency 8 and returns the
// rate and, when wal is not nil, the WAL bytes written per token (the
// server's whole WAL over the run: nothing else writes).
func measureIssuance(ctx context.Context, sp *serveProc, samples int, wal walCounter) (rate, walPer float64, err error) {
	var w0 float64
	if wal != nil {
		if w0, err = wal(ctx); err != nil {
			return 0, 0, err
		}
	}
	_, el, err := drive(ctx, writeConc, make([]int, samples), func(ctx context.Context, _ int) error { return sp.issue(ctx) })
	if err != nil {
		return 0, 0, err
	}
	rate = float64(samples) / el.Seconds()
	if wal != nil {
		w1, err := wal(ctx)
		if err != nil {
			return 0, 0, err
		}
		walPer = (w1 - w0) / float64(samples)
	}
	return rate, walPer, nil
}

// sustainedIssuance is issuance at concurrency 8 for a fixed time: long
// enough to span the checkpoints that its own WAL sets off, as a store
// under steady issuance lives.
type sustainedIssuance struct {
	rate, walPer float64
	checkpoints  int // completed during the run
}

func (e *env) sustainIssuance(ctx context.Context, sp *serveProc, d time.Duration) (sustainedIssuance, error) {
	var si sustainedIssuance
	checkpoints := func() (n int, err error) {
		err = e.admin.QueryRowContext(ctx, `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n)
		return n, err
	}
	wal := pgWAL(e.admin)
	c0, err := checkpoints()
	if err != nil {
		return si, err
	}
	w0, err := wal(ctx)
	if err != nil {
		return si, err
	}
	var n atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for range writeConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && firstErr.Load() == nil {
				if err := sp.issue(ctx); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return si, err
	}
	w1, err := wal(ctx)
	if err != nil {
		return si, err
	}
	c1, err := checkpoints()
	if err != nil {
		return si, err
	}
	si.rate = float64(n.Load()) / el.Seconds()
	si.walPer = (w1 - w0) / float64(max(n.Load(), 1))
	si.checkpoints = c1 - c0
	return si, nil
}

// writeConc is the concurrency of the write rows.
const writeConc = 8

// measureServe measures every request kind through sp at one size.
func measureServe(ctx context.Context, sp *serveProc, r *row, samples int, wal walCounter) error {
	var err error
	progress("  cache-miss validation")
	if r.missP50, r.missP99, err = measureMiss(ctx, sp, r.size, samples); err != nil {
		return err
	}
	progress("  cached validation")
	hot := accessOf(picks.pick(r.size, 1)[0])
	auth := sp.authOp()
	same := make([]int, samples)
	cached := func(ctx context.Context, _ int) error { return auth(ctx, hot) }
	if _, _, err := drive(ctx, latencyConc, same[:100], cached); err != nil {
		return err
	}
	lat, _, err := drive(ctx, latencyConc, same, cached)
	if err != nil {
		return err
	}
	r.cachedP50, r.cachedP99 = quantile(lat, 0.5), quantile(lat, 0.99)

	progress("  introspection")
	lat, _, err = drive(ctx, latencyConc, picks.pick(r.size, samples/2), func(ctx context.Context, i int) error { return sp.introspect(ctx, accessOf(i)) })
	if err != nil {
		return err
	}
	r.introspectP99 = quantile(lat, 0.99)

	progress("  issuance")
	if r.issuance, r.walPerIssue, err = measureIssuance(ctx, sp, samples, wal); err != nil {
		return err
	}
	progress("  refresh")
	_, el, err := drive(ctx, writeConc, picks.pick(r.size, samples/2), func(ctx context.Context, i int) error { return sp.refresh(ctx, refreshOf(i)) })
	if err != nil {
		return err
	}
	r.refresh = float64(samples/2) / el.Seconds()
	progress("  revocation")
	_, el, err = drive(ctx, writeConc, picks.pick(r.size, samples/2), func(ctx context.Context, i int) error { return sp.revoke(ctx, accessOf(i)) })
	if err != nil {
		return err
	}
	r.revocation = float64(samples/2) / el.Seconds()
	r.rss, r.rssPeak = sp.rss()
	return nil
}

// recommended are the PostgreSQL settings docs/scale.md recommends for a
// store of millions of tokens, applied with ALTER SYSTEM for the second
// cache-miss and sustained issuance measurements.
var recommended = []string{
	"shared_buffers = '2GB'",
	"effective_cache_size = '8GB'",
	"random_page_cost = 1.1",
	"max_wal_size = '16GB'",
	"checkpoint_timeout = '15min'",
	"wal_compression = 'lz4'",
	"shared_preload_libraries = 'pg_prewarm'",
}

func (e *cluster) setRecommended(ctx context.Context, on bool) error {
	for _, s := range recommended {
		q := "ALTER SYSTEM SET " + s
		if !on {
			q = "ALTER SYSTEM RESET " + strings.Fields(s)[0]
		}
		if _, err := e.admin.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return e.restartPG(ctx)
}

func (e *env) measurePostgres(ctx context.Context, size int, o options) (row, error) {
	r := row{store: "PostgreSQL", size: size}
	s, err := store.Open(ctx, e.pgURL)
	if err != nil {
		return r, err
	}
	defer func() { s.Close() }()
	tpl, err := e.templateToken(ctx, e.pgURL, e.pgClient, s)
	if err != nil {
		return r, err
	}
	// The tokens the previous size's issuance row issued go,
	// so that each size holds what it says; the VACUUM below takes their
	// rows.
	if _, err := e.admin.ExecContext(ctx, `DELETE FROM tokens WHERE authenticated_userid = $1`, issuedUser); err != nil {
		return r, err
	}
	progress("PostgreSQL: loading tokens %d to %d", e.pgSize, size)
	if r.loadRate, err = loadTokens(ctx, s, tpl, e.pgSize, size, 3, false); err != nil {
		return r, err
	}
	e.pgSize = size
	progress("  VACUUM ANALYZE tokens, then its size")
	if _, err := e.admin.ExecContext(ctx, `VACUUM ANALYZE tokens`); err != nil {
		return r, err
	}
	var bytes, rows float64
	if err := e.admin.QueryRowContext(ctx, `SELECT pg_total_relation_size('tokens'), (SELECT count(*) FROM tokens)`).Scan(&bytes, &rows); err != nil {
		return r, err
	}
	r.bytesPerToken = bytes / rows
	s.Close()
	if err := e.restartPG(ctx); err != nil {
		return r, err
	}

	progress("PostgreSQL at %d tokens, default settings: starting serve", size)
	sp, err := e.startServe(ctx, e.pgURL, e.pgClient, accessOf(picks.pick(size, 1)[0]))
	if err != nil {
		return r, err
	}
	r.startup = sp.startup
	err = measureServe(ctx, sp, &r, o.samples, pgWAL(e.admin))
	if err == nil && e.ref != nil && o.samples > 0 {
		progress("  cache-miss validation side by side with the reference store (%d tokens)", e.refSize)
		r.sbs, err = e.missSideBySide(ctx, sp, size, o.samples)
	}
	sp.close()
	if err != nil {
		return r, err
	}

	progress("PostgreSQL at %d tokens, recommended settings (%s): cache-miss validation, sustained issuance", size, strings.Join(recommended, ", "))
	for _, c := range e.clusters() {
		if err := c.setRecommended(ctx, true); err != nil {
			return r, err
		}
		// A server that has been running holds the index every
		// validation reads in its buffers; pg_prewarm's autoprewarm (a
		// recommended setting) reloads them after a restart. Loading
		// the index here stands in for that dump.
		if _, err := c.admin.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_prewarm`); err != nil {
			return r, err
		}
		if _, err := c.admin.ExecContext(ctx, `SELECT pg_prewarm('tokens_access_digest_excl')`); err != nil {
			return r, err
		}
	}
	if r.recMissP50, r.recMissP99, r.recSbs, r.recSustained, err = e.missAndSustain(ctx, size, o); err != nil {
		return r, err
	}
	for _, c := range e.clusters() {
		if err := c.setRecommended(ctx, false); err != nil {
			return r, err
		}
	}
	progress("PostgreSQL at %d tokens, default settings: sustained issuance", size)
	if _, _, _, r.sustained, err = e.missAndSustain(ctx, size, options{sustain: o.sustain}); err != nil {
		return r, err
	}

	if s, err = store.Open(ctx, e.pgURL); err != nil {
		return r, err
	}
	r.purge, err = e.measurePurge(ctx, s, tpl, size)
	return r, err
}

// missAndSustain starts serve, measures cache misses (if o.samples > 0:
// alone, then side by side with the reference store) and then sustained
// issuance, and deletes the tokens that issued (VACUUM included), so that
// every measurement sees the store at its size.
func (e *env) missAndSustain(ctx context.Context, size int, o options) (p50, p99 time.Duration, sbs sideBySide, si sustainedIssuance, err error) {
	sp, err := e.startServe(ctx, e.pgURL, e.pgClient, accessOf(picks.pick(size, 1)[0]))
	if err != nil {
		return 0, 0, sbs, si, err
	}
	if o.samples > 0 {
		p50, p99, err = measureMiss(ctx, sp, size, o.samples)
		if err == nil && e.ref != nil {
			progress("  cache-miss validation side by side with the reference store (%d tokens)", e.refSize)
			sbs, err = e.missSideBySide(ctx, sp, size, o.samples)
		}
	}
	if err == nil {
		progress("  issuance sustained for %s", o.sustain)
		si, err = e.sustainIssuance(ctx, sp, o.sustain)
	}
	sp.close()
	if err != nil {
		return 0, 0, sbs, si, err
	}
	if _, err := e.admin.ExecContext(ctx, `DELETE FROM tokens WHERE authenticated_userid = $1`, issuedUser); err != nil {
		return 0, 0, sbs, si, err
	}
	_, err = e.admin.ExecContext(ctx, `VACUUM tokens`)
	return p50, p99, sbs, si, err
}

// clusters are the servers that take the recommended settings together:
// the one the sizes grow in and the reference, if any.
func (e *env) clusters() []*cluster {
	if e.ref == nil {
		return []*cluster{&e.cluster}
	}
	return []*cluster{&e.cluster, e.ref}
}

// measurePurge loads a tenth of size (at most 100,000) expired tokens and
// times their purge.
func (e *env) measurePurge(ctx context.Context, s store.Store, tpl store.Token, size int) (float64, error) {
	n := min(size/10, 100_000)
	progress("  purge of %d expired tokens", n)
	if _, err := loadTokens(ctx, s, tpl, e.expiredSeq, e.expiredSeq+n, 1, true); err != nil {
		return 0, err
	}
	e.expiredSeq += n
	return purge(ctx, s, n)
}

// templateToken issues one token through serve (starting it once on an
// empty store) and returns its row.
func (e *env) templateToken(ctx context.Context, dbURL string, c client, s store.Store) (store.Token, error) {
	sp, err := e.startServe(ctx, dbURL, c, "")
	if err != nil {
		return store.Token{}, err
	}
	defer sp.close()
	access, err := sp.issueToken(ctx)
	if err != nil {
		return store.Token{}, err
	}
	return template(ctx, s, access)
}

func (e *env) measureSQLite(ctx context.Context, size int, o options) (row, error) {
	r := row{store: "SQLite", size: size}
	s, err := store.Open(ctx, e.liteURL)
	if err != nil {
		return r, err
	}
	defer func() { s.Close() }()
	tpl, err := e.templateToken(ctx, e.liteURL, e.liteClient, s)
	if err != nil {
		return r, err
	}
	progress("SQLite: loading tokens %d to %d", e.liteSize, size)
	if r.loadRate, err = loadTokens(ctx, s, tpl, e.liteSize, size, 1, false); err != nil {
		return r, err
	}
	e.liteSize = size
	db := s.(interface{ DB() *sql.DB }).DB()
	var rows float64
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return r, err
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&rows); err != nil {
		return r, err
	}
	path := strings.TrimPrefix(e.liteURL, "sqlite:")
	var bytes int64
	for _, f := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(f); err == nil {
			bytes += fi.Size()
		}
	}
	r.bytesPerToken = float64(bytes) / rows
	s.Close()

	progress("SQLite at %d tokens: starting serve", size)
	sp, err := e.startServe(ctx, e.liteURL, e.liteClient, accessOf(picks.pick(size, 1)[0]))
	if err != nil {
		return r, err
	}
	r.startup = sp.startup
	err = measureServe(ctx, sp, &r, o.samples, nil)
	sp.close()
	if err != nil {
		return r, err
	}
	if s, err = store.Open(ctx, e.liteURL); err != nil {
		return r, err
	}
	r.purge, err = e.measurePurge(ctx, s, tpl, size)
	if err != nil {
		return r, fmt.Errorf("purge: %w", err)
	}
	return r, nil
}

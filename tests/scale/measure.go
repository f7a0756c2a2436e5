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
	// PostgreSQL only: the miss latencies with the recommended settings.
	recMissP50, recMissP99 time.Duration
	cachedP50, cachedP99   time.Duration
	introspectP99          time.Duration
	issuance               float64 // tokens/s at concurrency 8
	refresh                float64 // refreshes/s at concurrency 8
	revocation             float64 // revocations/s at concurrency 8
	purge                  float64 // expired rows deleted/s
	bytesPerToken          float64
	rss, rssPeak           int64
	startup                time.Duration
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
	for len(out) < n {
		i := p.rng.IntN(size)
		if !p.used[i] {
			p.used[i] = true
			out = append(out, i)
		}
	}
	return out
}

var picks = newPicker()

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

// measureServe measures every request kind through sp at one size.
func measureServe(ctx context.Context, sp *serveProc, r *row, samples int) error {
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

	const writeConc = 8
	progress("  issuance")
	_, el, err := drive(ctx, writeConc, make([]int, samples), func(ctx context.Context, _ int) error { return sp.issue(ctx) })
	if err != nil {
		return err
	}
	r.issuance = float64(samples) / el.Seconds()
	progress("  refresh")
	_, el, err = drive(ctx, writeConc, picks.pick(r.size, samples/2), func(ctx context.Context, i int) error { return sp.refresh(ctx, refreshOf(i)) })
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
// cache-miss measurement.
var recommended = []string{
	"shared_buffers = '2GB'",
	"effective_cache_size = '8GB'",
	"random_page_cost = 1.1",
}

func (e *env) setRecommended(ctx context.Context, on bool) error {
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
	err = measureServe(ctx, sp, &r, o.samples)
	sp.close()
	if err != nil {
		return r, err
	}

	progress("PostgreSQL at %d tokens, recommended settings (%s): cache-miss validation", size, strings.Join(recommended, ", "))
	if err := e.setRecommended(ctx, true); err != nil {
		return r, err
	}
	sp, err = e.startServe(ctx, e.pgURL, e.pgClient, accessOf(picks.pick(size, 1)[0]))
	if err != nil {
		return r, err
	}
	r.recMissP50, r.recMissP99, err = measureMiss(ctx, sp, size, o.samples)
	sp.close()
	if err != nil {
		return r, err
	}
	if err := e.setRecommended(ctx, false); err != nil {
		return r, err
	}

	if s, err = store.Open(ctx, e.pgURL); err != nil {
		return r, err
	}
	r.purge, err = e.measurePurge(ctx, s, tpl, size)
	return r, err
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
	err = measureServe(ctx, sp, &r, o.samples)
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

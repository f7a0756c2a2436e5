package main

// The bounded cache (docs/cache.md): memory after ten times its bound of
// distinct tokens, and lookup latency while expired entries are swept,
// against go-cache's own DeleteExpired on one unsharded cache (what
// store.Cached used before the bound).
//
//	go run ./tests/bench -cache-only

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/oauth2-password/oauth2-password/store"
)

// cacheBound is what the child process measures.
type cacheBound struct {
	Bound, Inserted int
	Cached          int
	Evicted         int64
	HeapLive        uint64 // HeapAlloc after a GC, at the end
	RSS, PeakRSS    uint64 // VmRSS at the end, VmHWM
	// The same once the bound was first reached (Bound inserts).
	HeapAtBound, RSSAtBound, PeakAtBound uint64
	InsertTook                           time.Duration
	Sweep                                []sweepLatency
	BytesPerEntryGoal                    int
}

// sweepLatency is lookup latency with and without a sweep running.
type sweepLatency struct {
	Cache                  string
	Quiet, During          latencyHist
	SweepMax, SweepsTotal  time.Duration
	Sweeps, ExpiredDeleted int
}

// cacheBoundChildFlag makes the bench binary the child that measures (so
// that its RSS is the cache's, not what the rest of the bench left).
const cacheBoundChildFlag = "-cache-child"

// measureCacheBound runs the measurement in a child process.
func measureCacheBound(ctx context.Context, bound, inserts int) (*cacheBound, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, cacheBoundChildFlag, strconv.Itoa(bound), strconv.Itoa(inserts))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("cache bound child: %w", err)
	}
	var r cacheBound
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("cache bound child: %w", err)
	}
	return &r, nil
}

// cacheBoundChild is main in the child: it prints a cacheBound as JSON.
func cacheBoundChild(args []string) {
	if len(args) != 2 {
		fatalf("%s BOUND INSERTS", cacheBoundChildFlag)
	}
	bound, err1 := strconv.Atoi(args[0])
	inserts, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil || bound < 1 || inserts < 1 {
		fatalf("%s: bad arguments %q", cacheBoundChildFlag, args)
	}
	// The soft memory limit and collector setting the binary sets from
	// -cache-max-entries (cmd/oauth2-password/memory_limit.go), so that
	// this process's RSS is what a node's would be.
	debug.SetMemoryLimit(store.MemoryBudget(bound, false))
	store.KeepHeapGoalAbove(store.MinHeapGoal)
	r, err := runCacheBound(context.Background(), bound, inserts)
	if err != nil {
		fatalf("%v", err)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func runCacheBound(ctx context.Context, bound, inserts int) (*cacheBound, error) {
	r := &cacheBound{Bound: bound, Inserted: inserts, BytesPerEntryGoal: 256}
	// Sweeps first, on their own caches, freed before the memory part.
	for _, f := range []func() (sweepLatency, error){sweepBounded, sweepGoCache} {
		s, err := f()
		if err != nil {
			return nil, err
		}
		r.Sweep = append(r.Sweep, s)
		runtime.GC()
	}
	progress("cache bound: %d distinct tokens through store.Cached with -cache-max-entries %d", inserts, bound)
	c := store.NewCached(nullStore{}, store.CacheOptions{StaleIfError: time.Hour, MaxTTL: time.Hour, MaxEntries: bound})
	defer c.Close()
	if err := c.Sync(ctx); err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{1})
	now := time.Now().Truncate(time.Second)
	var fam [16]byte
	start := time.Now()
	for i := range inserts {
		var d store.Digest
		rng.Read(d[:])
		rng.Read(fam[:])
		refresh := d
		refresh[0] ^= 0xff
		err := c.CreateToken(ctx, store.Token{
			Access: d, Refresh: &refresh,
			ClientID:            "Zk3hQv9T1mWcR8pLx2NdA6sYbE4uJf7G",
			ServiceID:           "6f1c9a52-3b8e-4d27-9c1a-5e0b7f2d4a81",
			AuthenticatedUserID: "user-" + strconv.Itoa(i),
			IssuedAt:            now, ExpiresIn: 7200, RefreshExpiresAt: now.Add(14 * 24 * time.Hour),
			FamilyID: hex.EncodeToString(fam[:]),
		})
		if err != nil {
			return nil, err
		}
		if i == bound-1 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			r.HeapAtBound, r.RSSAtBound, r.PeakAtBound = ms.HeapAlloc, procStatus("VmRSS"), procStatus("VmHWM")
		}
	}
	r.InsertTook = time.Since(start)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapLive = ms.HeapAlloc
	r.RSS, r.PeakRSS = procStatus("VmRSS"), procStatus("VmHWM")
	r.Cached, r.Evicted = c.CachedTokens(), c.Evictions()
	return r, nil
}

// procStatus reads a kB field of /proc/self/status, in bytes.
func procStatus(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == field {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// latencyHist is a histogram of durations in buckets of 1/8 octave.
type latencyHist struct {
	N       int64
	Buckets [64 * 8]int64
}

func bucketOf(d time.Duration) int {
	n := uint64(max(d, 1))
	exp := bits.Len64(n) - 1
	frac := 0
	if exp >= 3 {
		frac = int(n>>(exp-3)) & 7
	}
	return exp*8 + frac
}

func (h *latencyHist) add(d time.Duration) { h.N++; h.Buckets[bucketOf(d)]++ }

func (h *latencyHist) merge(o *latencyHist) {
	h.N += o.N
	for i, n := range o.Buckets {
		h.Buckets[i] += n
	}
}

// quantile is the upper edge of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	want := int64(q * float64(h.N))
	var seen int64
	for i, n := range h.Buckets {
		seen += n
		if seen > want || (q == 1 && seen == h.N && n > 0) {
			exp, frac := i/8, i%8
			if exp < 3 {
				return time.Duration(uint64(1) << exp)
			}
			return time.Duration(uint64(8+frac+1) << (exp - 3))
		}
	}
	return 0
}

// Sweep measurement sizes: a million entries, half of them expired.
const (
	sweepEntries = 1_000_000
	sweepRounds  = 3
)

type benchEntry struct {
	store.HotBit
	key string
}

func (e *benchEntry) CacheKey() string { return e.key }

func sweepKeys(n int, rng *rand.ChaCha8) []string {
	keys := make([]string, n)
	var b [32]byte
	for i := range keys {
		rng.Read(b[:])
		keys[i] = string(b[:])
	}
	return keys
}

// sweepCache is the part of a cache the sweep measurement uses.
type sweepCache struct {
	name   string
	get    func(key string) bool
	set    func(e *benchEntry, ttl time.Duration)
	sweeps func(yield func(sweep func()))
}

// measureSweep: lookups of live keys on GOMAXPROCS goroutines, while the
// cache is filled with entries that expire at once and swept, sweepRounds
// times. A lookup that starts or ends while a sweep runs counts as
// "during"; one that does not, as "quiet".
func measureSweep(sc sweepCache) (sweepLatency, error) {
	progress("cache bound: lookup latency during expiry sweeps, %s", sc.name)
	rng := rand.NewChaCha8([32]byte{2})
	live := sweepKeys(sweepEntries/2, rng)
	for _, k := range live {
		sc.set(&benchEntry{key: k}, time.Hour)
	}
	var sweeping atomic.Bool
	var stop atomic.Bool
	// One core is left to the sweeper: the measure is of locks, not of a
	// busy machine.
	workers := max(runtime.GOMAXPROCS(0)-1, 1)
	hists := make([][2]latencyHist, workers)
	var missed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			h := &hists[w]
			for !stop.Load() {
				k := live[r.IntN(len(live))]
				s0 := sweeping.Load()
				t0 := time.Now()
				ok := sc.get(k)
				d := time.Since(t0)
				if !ok {
					missed.Add(1)
				}
				if s0 || sweeping.Load() {
					h[1].add(d)
				} else {
					h[0].add(d)
				}
			}
		})
	}
	res := sweepLatency{Cache: sc.name}
	for range sweepRounds {
		expired := sweepKeys(sweepEntries/2, rng)
		for _, k := range expired {
			sc.set(&benchEntry{key: k}, time.Nanosecond)
		}
		expired = nil
		time.Sleep(200 * time.Millisecond) // quiet lookups between sweeps
		sc.sweeps(func(sweep func()) {
			sweeping.Store(true)
			t0 := time.Now()
			sweep()
			d := time.Since(t0)
			sweeping.Store(false)
			res.Sweeps++
			res.SweepsTotal += d
			res.SweepMax = max(res.SweepMax, d)
			time.Sleep(time.Millisecond) // as the janitor spreads them
		})
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if missed.Load() > 0 {
		return res, fmt.Errorf("%s: %d lookups of live keys missed", sc.name, missed.Load())
	}
	for i := range hists {
		res.Quiet.merge(&hists[i][0])
		res.During.merge(&hists[i][1])
	}
	return res, nil
}

func sweepBounded() (sweepLatency, error) {
	b := store.NewBounded[*benchEntry](store.BoundedOptions{MaxEntries: 2 * sweepEntries, TTL: time.Hour})
	var deleted int
	res, err := measureSweep(sweepCache{
		name: fmt.Sprintf("store.Bounded (%d shards, per-shard sweep)", b.Shards()),
		get:  func(k string) bool { _, ok := b.Get(k); return ok },
		set:  func(e *benchEntry, ttl time.Duration) { b.Set(e, ttl) },
		sweeps: func(yield func(func())) {
			for i := range b.Shards() {
				yield(func() { deleted += b.Sweep(i) })
			}
		},
	})
	res.ExpiredDeleted = deleted
	return res, err
}

func sweepGoCache() (sweepLatency, error) {
	c := gocache.New(time.Hour, 0)
	return measureSweep(sweepCache{
		name: "go-cache, one cache, DeleteExpired (before the bound)",
		get:  func(k string) bool { _, ok := c.Get(k); return ok },
		set:  func(e *benchEntry, ttl time.Duration) { c.Set(e.key, e, ttl) },
		sweeps: func(yield func(func())) {
			yield(c.DeleteExpired)
		},
	})
}

func mb(b uint64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

// printCacheBound prints the rows of the bounded cache.
func printCacheBound(p func(string, ...any), r *cacheBound) {
	budget := uint64(r.Bound) * uint64(r.BytesPerEntryGoal)
	p("| Token cache bounded to %s entries, after %s distinct tokens: tokens cached, evicted | %s, %s | | | ≤ %s cached | %s |",
		num(float64(r.Bound)), num(float64(r.Inserted)), num(float64(r.Cached)), num(float64(r.Evicted)),
		num(float64(r.Bound)), met(r.Cached <= r.Bound))
	p("| … live heap after a GC (budget: bound × %d B) | %s | budget %s | %.2f× | ≤ 1.00× | %s |",
		r.BytesPerEntryGoal, mb(r.HeapLive), mb(budget), float64(r.HeapLive)/float64(budget), met(r.HeapLive <= budget))
	// The verdict is on the live heap: the peak RSS right at the bound is
	// lower only because the GC's target had not yet grown to the full
	// cache (GOGC=100 lets the heap reach twice the live data).
	p("| … live heap after %s tokens (10×) vs after %s (the bound just reached); peak RSS at each | %s; %s | %s; %s | %.2f× | heap ≤ 1.10× (flat) | %s |",
		num(float64(r.Inserted)), num(float64(r.Bound)), mb(r.HeapLive), mb(r.PeakRSS), mb(r.HeapAtBound), mb(r.PeakAtBound),
		float64(r.HeapLive)/float64(max(r.HeapAtBound, 1)), met(float64(r.HeapLive) <= 1.1*float64(r.HeapAtBound)))
	mem := uint64(store.MemoryBudget(r.Bound, false))
	p("| … process RSS at the end / peak, against the memory budget (64 MiB + bound × 4 KiB, the worst case of a token with its remembered answers: the soft memory limit the binary sets) | %s / %s | %s | %.2f× | peak ≤ 1.00× | %s |",
		mb(r.RSS), mb(r.PeakRSS), mb(mem), float64(r.PeakRSS)/float64(mem), met(r.PeakRSS <= mem))
	p("| … insertion rate (each a miss's insert, evicting) | %s tokens/s | | | | |", num(float64(r.Inserted)/r.InsertTook.Seconds()))
	var quiet time.Duration
	for i, s := range r.Sweep {
		if i == 0 {
			quiet = s.Quiet.quantile(0.99)
		}
		during := s.During.quantile(0.99)
		goal, ok := "", ""
		if i == 0 {
			goal, ok = "p99 during ≤ 1.5× quiet", met(float64(during) <= 1.5*float64(max(quiet, 1)))
		}
		p("| Lookup latency, %s, %s entries, half expired, %d sweeps (longest %s): p99 quiet / during a sweep / max during | %s / %s / %s | | %.2f× | %s | %s |",
			s.Cache, num(sweepEntries), s.Sweeps, ms(s.SweepMax),
			usf(s.Quiet.quantile(0.99)), usf(during), usf(s.During.quantile(1)),
			float64(during)/float64(max(s.Quiet.quantile(0.99), 1)), goal, ok)
	}
}

func usf(d time.Duration) string {
	return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
}

// runCacheOnly is -cache-only: the bounded cache's rows alone.
func runCacheOnly(ctx context.Context, o options) error {
	start := time.Now()
	r, err := measureCacheBound(ctx, o.cacheBound, o.cacheInserts)
	if err != nil {
		return err
	}
	return writeTable(o, func(w io.Writer) { printCacheOnly(w, o, r, start) })
}

// printCacheOnly is -cache-only's table.
func printCacheOnly(w io.Writer, o options, r *cacheBound, start time.Time) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("### Bounded token cache")
	p("")
	p("Machine: %s.  ", machine())
	p("Reproduce: `go run ./tests/bench -cache-only -cache-bound %d -cache-inserts %d`; wall time %s.",
		o.cacheBound, o.cacheInserts, time.Since(start).Round(time.Second))
	p("")
	p("| Measure | oauth2-password | Reference | Ratio | Goal | Met |")
	p("|---|---|---|---|---|---|")
	printCacheBound(p, r)
}

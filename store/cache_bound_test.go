package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// ent is a Bounded entry for the tests.
type ent struct {
	store.HotBit
	key string
}

func (e *ent) CacheKey() string { return e.key }

func newBounded(max int) *store.Bounded[*ent] {
	return store.NewBounded[*ent](store.BoundedOptions{MaxEntries: max, TTL: time.Hour})
}

// TestBoundedHoldsItsBound: storing ten times the bound leaves at most the
// bound stored, the newest entry among them, and counts the evictions.
func TestBoundedHoldsItsBound(t *testing.T) {
	for _, max := range []int{1, 100, 2000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			var evicted atomic.Int64
			b := store.NewBounded[*ent](store.BoundedOptions{MaxEntries: max, TTL: time.Hour,
				OnEvict: func() { evicted.Add(1) }})
			last := ""
			for i := range 10 * max {
				last = fmt.Sprint("k", i)
				b.Set(&ent{key: last}, 0)
				if i%97 == 0 || i == 10*max-1 {
					if n := b.Len(); n > max {
						t.Fatalf("after %d stores: %d entries, bound %d", i+1, n, max)
					}
				}
			}
			if _, ok := b.Get(last); !ok {
				t.Error("the newest entry was evicted")
			}
			if n, e := b.Len(), b.Evicted(); int64(n)+e != int64(10*max) || e != evicted.Load() {
				t.Errorf("%d stored + %d evicted (%d reported) != %d stores", n, e, evicted.Load(), 10*max)
			}
		})
	}
}

// TestBoundedKeepsHotEntries: entries used between stores survive a flood
// of one-shot entries ten times the bound (the clock's second chance).
func TestBoundedKeepsHotEntries(t *testing.T) {
	const max = 2000
	b := newBounded(max)
	hot := make([]string, 200)
	for i := range hot {
		hot[i] = fmt.Sprint("hot", i)
		b.Set(&ent{key: hot[i]}, 0)
	}
	for i := range 10 * max {
		b.Set(&ent{key: fmt.Sprint("cold", i)}, 0)
		if i%100 == 0 { // hot tokens are validated all the time
			for _, k := range hot {
				if _, ok := b.Get(k); !ok {
					t.Fatalf("hot entry %s evicted after %d cold stores", k, i)
				}
			}
		}
	}
	if b.Evicted() < 9*max {
		t.Errorf("only %d evictions: the flood did not fill the cache", b.Evicted())
	}
}

// TestBoundedSweepsOneShard: a sweep deletes the expired entries of its
// shard and only those; the other shards are untouched until their turn.
func TestBoundedSweepsOneShard(t *testing.T) {
	b := store.NewBounded[*ent](store.BoundedOptions{MaxEntries: 8 * 1024, TTL: time.Hour, Shards: 8})
	live := make([]int, b.Shards())
	for i := range 4000 {
		k := fmt.Sprint("k", i)
		ttl := time.Nanosecond // expired at once
		if i%4 == 0 {
			ttl = time.Hour
			live[b.ShardOf(k)]++
		}
		b.Set(&ent{key: k}, ttl)
	}
	for { // until the nanosecond TTL has passed
		if _, ok := b.Get("k1"); !ok {
			break
		}
	}
	before := make([]int, b.Shards())
	for i := range before {
		before[i] = b.ShardLen(i)
	}
	for s := range b.Shards() {
		removed := b.Sweep(s)
		if got := b.ShardLen(s); got != live[s] || removed != before[s]-live[s] {
			t.Errorf("shard %d after its sweep: %d entries (want %d live), %d removed (want %d)",
				s, got, live[s], removed, before[s]-live[s])
		}
		for o := s + 1; o < b.Shards(); o++ {
			if got := b.ShardLen(o); got != before[o] {
				t.Errorf("sweep of shard %d changed shard %d: %d entries, was %d", s, o, got, before[o])
			}
		}
	}
	if b.Evicted() != 0 {
		t.Errorf("%d evictions below the bound", b.Evicted())
	}
}

// evictionCounter is a store.Metrics that counts evictions.
type evictionCounter struct {
	store.Metrics
	n atomic.Int64
}

func (m *evictionCounter) CacheLookup(string, bool)                {}
func (m *evictionCounter) StoreCall(string, time.Duration, string) {}
func (m *evictionCounter) CacheEvicted(kind string) {
	if kind == store.CacheTokens {
		m.n.Add(1)
	}
}

// TestCachedTokensBounded: through the Store interface, -cache-max-entries
// holds, evictions reach the metrics, and a token validated all along is
// still answered from the cache after ten times the bound of other tokens.
func TestCachedTokensBounded(t *testing.T) {
	const max = 1000
	m := &evictionCounter{}
	f := &fixedStore{tok: newToken(t, "client", time.Now(), 3600)}
	c := store.NewCached(f, store.CacheOptions{StaleIfError: time.Hour, MaxEntries: max, Metrics: m})
	defer c.Close()
	if err := c.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	var hot store.Digest
	copy(hot[:], randBytes(t))
	if _, err := c.TokenByAccess(t.Context(), hot); err != nil {
		t.Fatal(err)
	}
	for i := range 10 * max {
		var d store.Digest
		copy(d[:], randBytes(t))
		if _, err := c.TokenByAccess(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		if _, ok := c.CachedAccess(hot); !ok {
			t.Fatalf("the hot token was evicted after %d others", i+1)
		}
	}
	if n := c.CachedTokens(); n > max {
		t.Errorf("%d tokens cached, bound %d", n, max)
	}
	if e := c.Evictions(); e < 9*max || m.n.Load() != e {
		t.Errorf("%d evictions, %d reported to the metrics; want them equal and >= %d", e, m.n.Load(), 9*max)
	}
}

// TestBoundedEvictsOnlyAtTheBound: slots freed by the sweep of expired
// entries or by deletes (revocations) are reused before any live entry is
// evicted, however full the ring of slots is. (Expired entries not yet
// swept still count against the bound.)
func TestBoundedEvictsOnlyAtTheBound(t *testing.T) {
	for _, how := range []string{"expired, swept", "deleted"} {
		t.Run(how, func(t *testing.T) {
			b := store.NewBounded[*ent](store.BoundedOptions{MaxEntries: 1000, TTL: time.Hour, Shards: 1})
			for i := range 600 {
				b.Set(&ent{key: fmt.Sprint("live", i)}, 0)
			}
			for round := range 5 {
				ttl := time.Duration(0)
				if how != "deleted" {
					ttl = time.Nanosecond
				}
				for i := range 400 {
					b.Set(&ent{key: fmt.Sprint("gone", round, i)}, ttl)
				}
				switch how {
				case "deleted":
					for i := range 400 {
						b.Delete(fmt.Sprint("gone", round, i))
					}
				case "expired, swept":
					for { // until the nanosecond TTL has passed
						if _, ok := b.Get(fmt.Sprint("gone", round, 0)); !ok {
							break
						}
					}
					b.Sweep(0)
				}
			}
			if b.Evicted() != 0 {
				t.Errorf("%d evictions below the bound", b.Evicted())
			}
			for i := range 600 {
				if _, ok := b.Get(fmt.Sprint("live", i)); !ok {
					t.Fatalf("live entry %d lost below the bound", i)
				}
			}
		})
	}
}

// TestBoundedGetWithExpiration: the entry comes with its expiry, and a
// lookup by it counts as a use (the entry survives the clock).
func TestBoundedGetWithExpiration(t *testing.T) {
	b := store.NewBounded[*ent](store.BoundedOptions{MaxEntries: 4, TTL: time.Hour, Shards: 1})
	before := time.Now()
	b.Set(&ent{key: "a"}, time.Minute)
	b.Set(&ent{key: "forever"}, -1) // go-cache's NoExpiration
	if e, exp, ok := b.GetWithExpiration("a"); !ok || e.key != "a" || exp.Before(before.Add(time.Minute)) || exp.After(time.Now().Add(time.Minute)) {
		t.Errorf("a: %v %v %v", e, exp, ok)
	}
	if _, exp, ok := b.GetWithExpiration("forever"); !ok || !exp.IsZero() {
		t.Errorf("forever: %v %v", exp, ok)
	}
	if _, _, ok := b.GetWithExpiration("missing"); ok {
		t.Error("missing key found")
	}
	for i := range 8 {
		b.Set(&ent{key: fmt.Sprint("k", i)}, 0)
		b.GetWithExpiration("a")
	}
	if _, ok := b.Get("a"); !ok {
		t.Error("an entry used through GetWithExpiration was evicted")
	}
}

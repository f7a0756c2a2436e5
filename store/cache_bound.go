package store

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
)

// Bounded is a cache of at most a fixed number of entries built from
// shards of go-cache, for the token, client and consumer caches.
//
//   - Lookups are go-cache's: one shard's read lock, no allocation. A hit
//     also sets the entry's "recently used" bit (a load, and a store only
//     when the bit was clear, so a hot entry's cache line is not written on
//     every hit).
//   - Each shard has a ring of the entries it has stored, at most
//     max/shards long. Storing into a full shard evicts with the ring as a
//     clock (second chance): the hand skips, clearing its bit, every entry
//     used since the hand last passed, and evicts the first one that was
//     not. A token validated again and again is never the one evicted while
//     colder ones remain; a scan of one-shot tokens evicts only its own
//     kind.
//   - Expiry is a sweep of one shard at a time, walking its ring in short
//     runs: each expired entry is deleted under go-cache's write lock for
//     that one delete. go-cache's own janitor (DeleteExpired) would hold a
//     shard's write lock for the whole walk, and the unsharded cache's for
//     every entry.
//
// Every entry go-cache holds was stored through a ring slot, and a slot is
// reused only once its entry is gone from go-cache or evicted from it, so
// a shard never holds more than its ring's length.
type Bounded[E HotEntry] struct {
	shards  []boundedShard[E]
	perRing int
	ttl     time.Duration
	seed    maphash.Seed
	evicted atomic.Int64
	// onEvict is told of every eviction (the metrics); may be nil.
	onEvict func()
	// lazySweep: without a janitor, an insert sweeps its shard when its
	// last sweep is older than the TTL.
	lazySweep bool
}

// HotEntry is what a Bounded cache stores: a pointer to an entry with a
// "recently used" bit (embed HotBit) that knows its own key (so the ring
// holds one pointer per entry, not the key too).
type HotEntry interface {
	comparable
	touch()
	spare() bool
	CacheKey() string
}

// HotBit is the "recently used" bit of an entry: embed it.
type HotBit struct{ ref atomic.Uint32 }

// touch marks the entry used. Loading first keeps a hot entry's cache line
// shared between cores rather than written on every hit.
func (h *HotBit) touch() {
	if h.ref.Load() == 0 {
		h.ref.Store(1)
	}
}

// spare reports whether the entry was used since the last call, clearing
// the mark: the clock's second chance.
func (h *HotBit) spare() bool { return h.ref.Swap(0) != 0 }

type boundedShard[E HotEntry] struct {
	c *gocache.Cache
	// mu guards ring, hand and lastSweep: inserts, evictions and the
	// sweep of this shard; never a lookup.
	mu        sync.Mutex
	ring      []E     // nil: a free slot
	free      []int32 // indexes of nil slots in ring (freed by the sweep)
	hand      int
	lastSweep time.Time
	_         [64]byte // keep shards' locks on separate cache lines
}

// BoundedOptions configure NewBounded.
type BoundedOptions struct {
	MaxEntries int           // the bound; at least 1
	TTL        time.Duration // how long an entry stored with ttl 0 lives
	Shards     int           // 0 = chosen from MaxEntries
	OnEvict    func()        // told of each eviction; nil = nobody
	// LazySweep: no janitor will run (Run); inserts sweep their shard
	// once per TTL instead.
	LazySweep bool
}

// maxShards: enough that a sweep stalls a small share of inserts and
// shard locks are rarely contended on two to a few dozen cores.
const maxShards = 64

// minPerShard keeps small caches in one or few shards: the bound is then
// close to exact (each shard holds at most its share).
const minPerShard = 256

// NewBounded makes a cache of at most o.MaxEntries entries.
func NewBounded[E HotEntry](o BoundedOptions) *Bounded[E] {
	o.MaxEntries = max(o.MaxEntries, 1)
	n := o.Shards
	if n <= 0 {
		n = 1
		for n < maxShards && o.MaxEntries/(2*n) >= minPerShard {
			n *= 2
		}
	}
	n = min(n, o.MaxEntries)
	b := &Bounded[E]{
		shards:    make([]boundedShard[E], n),
		perRing:   o.MaxEntries / n, // rounding down keeps the sum ≤ the bound
		ttl:       o.TTL,
		seed:      maphash.MakeSeed(),
		onEvict:   o.OnEvict,
		lazySweep: o.LazySweep,
	}
	now := time.Now()
	for i := range b.shards {
		// No go-cache janitor: the sweep below replaces it.
		b.shards[i].c = gocache.New(o.TTL, 0)
		b.shards[i].lastSweep = now
	}
	return b
}

func (b *Bounded[E]) shard(key string) *boundedShard[E] {
	if len(b.shards) == 1 {
		return &b.shards[0]
	}
	return &b.shards[maphash.String(b.seed, key)%uint64(len(b.shards))]
}

// Get returns the live entry stored under key and marks it used.
func (b *Bounded[E]) Get(key string) (E, bool) {
	v, ok := b.shard(key).c.Get(key)
	if !ok {
		var zero E
		return zero, false
	}
	e := v.(E)
	e.touch()
	return e, true
}

// GetWithExpiration is Get with the time the entry expires (zero: never).
func (b *Bounded[E]) GetWithExpiration(key string) (E, time.Time, bool) {
	v, exp, ok := b.shard(key).c.GetWithExpiration(key)
	if !ok {
		var zero E
		return zero, time.Time{}, false
	}
	e := v.(E)
	e.touch()
	return e, exp, true
}

// Set stores e under e.CacheKey() for ttl (0 = the cache's TTL), evicting
// from the key's shard if it is full.
func (b *Bounded[E]) Set(e E, ttl time.Duration) {
	if ttl == 0 {
		ttl = gocache.DefaultExpiration
	}
	key := e.CacheKey()
	s := b.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.lazySweep && time.Since(s.lastSweep) >= b.ttl {
		b.sweepLocked(s, 0, len(s.ring))
		s.lastSweep = time.Now()
	}
	i := b.slotLocked(s)
	s.ring[i] = e
	s.c.Set(key, e, ttl)
}

// slotLocked returns the index of a free ring slot, evicting only if the
// shard holds its share of the bound.
//
// A slot whose entry was deleted (a revocation) or has expired is free,
// but only the sweep or the hand finds it out. Below the bound, the hand
// skips live entries (leaving their bits alone) to the first such slot,
// which exists: every entry stored has a slot of its own, and there are
// more slots than entries. At the bound, a full lap clears every bit it
// passes, so the second lap finds a victim. Either way the loop is bounded
// by two laps, and a lap is paid for by the inserts it serves.
func (b *Bounded[E]) slotLocked(s *boundedShard[E]) int {
	if len(s.ring) < b.perRing {
		s.ring = append(s.ring, *new(E))
		return len(s.ring) - 1
	}
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return int(i)
	}
	full := s.c.ItemCount() >= b.perRing
	var zero E
	for {
		i := s.hand
		s.hand++
		if s.hand == len(s.ring) {
			s.hand = 0
		}
		sl := s.ring[i]
		if sl == zero {
			return i // freed by the sweep
		}
		key := sl.CacheKey()
		switch v, ok := s.c.Get(key); {
		case !ok:
			// Deleted (free) or expired (delete it: its slot goes).
			s.c.Delete(key)
			return i
		case v.(E) != sl:
			return i // the key was stored again, in another slot
		case !full, sl.spare():
			continue
		}
		s.c.Delete(key)
		b.evicted.Add(1)
		if b.onEvict != nil {
			b.onEvict()
		}
		return i
	}
}

// sweepRun is how many slots a sweep walks per hold of the shard's ring
// lock, so that an insert into the shard being swept waits little.
const sweepRun = 512

// sweepLocked deletes the expired entries of ring slots [from, to) and
// frees the slots of entries no longer stored.
func (b *Bounded[E]) sweepLocked(s *boundedShard[E], from, to int) (removed int) {
	var zero E
	for i := from; i < to && i < len(s.ring); i++ {
		sl := s.ring[i]
		if sl == zero {
			continue
		}
		key := sl.CacheKey()
		v, ok := s.c.Get(key)
		if ok && v.(E) == sl {
			continue
		}
		if !ok {
			s.c.Delete(key) // expired: go-cache keeps it until deleted
			removed++
		}
		s.ring[i] = zero // frees the entry's memory now, not when the slot is reused
		s.free = append(s.free, int32(i))
	}
	return removed
}

// Sweep deletes the expired entries of shard i, in runs of sweepRun slots,
// each holding only that shard's ring lock, and each delete only that
// shard's go-cache lock.
func (b *Bounded[E]) Sweep(i int) (removed int) {
	s := &b.shards[i]
	for from := 0; ; from += sweepRun {
		s.mu.Lock()
		if from >= len(s.ring) {
			s.lastSweep = time.Now()
			s.mu.Unlock()
			return removed
		}
		removed += b.sweepLocked(s, from, from+sweepRun)
		s.mu.Unlock()
	}
}

// Run sweeps one shard every interval/shards until ctx is done: each shard
// is swept once per interval, the sweeps spread evenly over it.
func (b *Bounded[E]) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(max(interval/time.Duration(len(b.shards)), time.Millisecond))
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(b.shards) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.Sweep(i)
	}
}

// Delete drops the entry stored under key (its ring slot is freed by the
// clock or the sweep).
func (b *Bounded[E]) Delete(key string) { b.shard(key).c.Delete(key) }

// Flush drops every entry.
func (b *Bounded[E]) Flush() {
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		s.c.Flush()
		clear(s.ring)
		s.ring, s.free, s.hand = s.ring[:0], s.free[:0], 0
		s.mu.Unlock()
	}
}

// Len is the number of entries stored, expired ones not yet swept
// included: never more than the bound.
func (b *Bounded[E]) Len() int {
	n := 0
	for i := range b.shards {
		n += b.shards[i].c.ItemCount()
	}
	return n
}

// ShardLen is Len of shard i.
func (b *Bounded[E]) ShardLen(i int) int { return b.shards[i].c.ItemCount() }

// Shards is the number of shards.
func (b *Bounded[E]) Shards() int { return len(b.shards) }

// ShardOf is the shard key is stored in.
func (b *Bounded[E]) ShardOf(key string) int {
	if len(b.shards) == 1 {
		return 0
	}
	return int(maphash.String(b.seed, key) % uint64(len(b.shards)))
}

// Evicted is the number of entries evicted to keep the bound (expired and
// deleted ones are not counted).
func (b *Bounded[E]) Evicted() int64 { return b.evicted.Load() }

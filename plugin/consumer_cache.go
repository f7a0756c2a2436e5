package plugin

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// negativeTTL bounds how long "no such consumer" is remembered: a consumer
// created in Kong must start working within a second or two.
const negativeTTL = time.Second

// consumerCache keeps Kong consumers loaded with kong.client.load_consumer,
// keyed by workspace and by the reference stored with the client (id or
// username), so that a validated request costs no load_consumer round
// trip. Kong's consumers are per workspace (the instance config's
// __ws_id): one username may name two consumers in two workspaces. Kong
// does not tell a plugin server about consumer changes, so entries live
// ConsumerTTL.
//
// Each workspace's cache is a store.Bounded of at most max entries (a
// client naming consumers at random must not grow it without end), swept
// of expired entries by its inserts: the engine has no background work to
// stop.
type consumerCache struct {
	ttl     time.Duration
	max     int
	onEvict func()
	byWS    sync.Map // workspace id → *store.Bounded[*consumerEntry], keyed by reference
	// first is the first workspace asked for and its cache, found without
	// byWS: serve has one workspace, and so do most Kong setups.
	first atomic.Pointer[wsConsumers]
}

type wsConsumers struct {
	ws string
	c  *store.Bounded[*consumerEntry]
}

// consumerEntry is one cached answer of load_consumer. It is never
// modified once cached (but for the eviction clock's bit): every request
// of the consumer shares it.
type consumerEntry struct {
	store.HotBit
	ref      string // the key: the reference looked up
	consumer Consumer
	found    bool
	// The consumer's upstream header values, built once so that a
	// validated request allocates none of them.
	id, customID, username []string
}

// CacheKey implements store.HotEntry.
func (e *consumerEntry) CacheKey() string { return e.ref }

func newConsumerEntry(ref string, c Consumer, found bool) *consumerEntry {
	return &consumerEntry{
		ref: ref, consumer: c, found: found,
		id: headerValue(c.ID), customID: headerValue(c.CustomID), username: headerValue(c.Username),
	}
}

// evictionObserver is an Observer also told of cache evictions (the
// binary's metrics).
type evictionObserver interface {
	CacheEvicted(kind string)
}

func newConsumerCache(ttl time.Duration, max int, o Observer) *consumerCache {
	if max <= 0 {
		max = store.DefaultMaxEntries
	}
	cc := &consumerCache{ttl: ttl, max: max}
	if m, ok := o.(evictionObserver); ok {
		cc.onEvict = func() { m.CacheEvicted(store.CacheConsumers) }
	}
	return cc
}

// of returns the workspace's cache. A map per workspace rather than a
// joined key: a cache hit must not allocate.
func (cc *consumerCache) of(ws string) *store.Bounded[*consumerEntry] {
	if f := cc.first.Load(); f != nil && f.ws == ws {
		return f.c
	}
	if c, ok := cc.byWS.Load(ws); ok {
		return c.(*store.Bounded[*consumerEntry])
	}
	v, _ := cc.byWS.LoadOrStore(ws, store.NewBounded[*consumerEntry](store.BoundedOptions{
		MaxEntries: cc.max, TTL: cc.ttl, OnEvict: cc.onEvict, LazySweep: true}))
	c := v.(*store.Bounded[*consumerEntry])
	cc.first.CompareAndSwap(nil, &wsConsumers{ws: ws, c: c})
	return c
}

// flush forgets every consumer.
func (cc *consumerCache) flush() {
	cc.byWS.Range(func(_, c any) bool { c.(*store.Bounded[*consumerEntry]).Flush(); return true })
}

// entry returns the cached entry for ref in workspace ws, or asks the
// gateway on a miss (fresh is then true).
func (cc *consumerCache) entry(cs Consumers, ws, ref string) (e *consumerEntry, fresh bool, err error) {
	c := cc.of(ws)
	if e, ok := c.Get(ref); ok {
		return e, false, nil
	}
	consumer, found, err := cs.LoadConsumer(ref)
	if err != nil {
		return nil, false, err
	}
	var ttl time.Duration // the cache's: ConsumerTTL
	if !found {
		ttl = negativeTTL
	}
	e = newConsumerEntry(ref, consumer, found)
	c.Set(e, ttl)
	return e, true, nil
}

// load returns the consumer for ref from the cache, or from Kong on a miss
// (fresh is then true).
func (cc *consumerCache) load(cs Consumers, ws, ref string) (c Consumer, found, fresh bool, err error) {
	e, fresh, err := cc.entry(cs, ws, ref)
	if err != nil {
		return Consumer{}, false, false, err
	}
	return e.consumer, e.found, fresh, nil
}

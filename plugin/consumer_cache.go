package plugin

import (
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
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
type consumerCache struct {
	ttl  time.Duration
	byWS sync.Map // workspace id → *cache.Cache, keyed by reference
}

// consumerEntry is one cached answer of load_consumer. It is never
// modified once cached: every request of the consumer shares it.
type consumerEntry struct {
	consumer Consumer
	found    bool
	// The consumer's upstream header values, built once so that a
	// validated request allocates none of them.
	id, customID, username []string
}

func newConsumerEntry(c Consumer, found bool) *consumerEntry {
	return &consumerEntry{
		consumer: c, found: found,
		id: headerValue(c.ID), customID: headerValue(c.CustomID), username: headerValue(c.Username),
	}
}

func newConsumerCache(ttl time.Duration) *consumerCache {
	return &consumerCache{ttl: ttl}
}

// of returns the workspace's cache. A map per workspace rather than a
// joined key: a cache hit must not allocate.
func (cc *consumerCache) of(ws string) *cache.Cache {
	if c, ok := cc.byWS.Load(ws); ok {
		return c.(*cache.Cache)
	}
	c, _ := cc.byWS.LoadOrStore(ws, cache.New(cc.ttl, 2*cc.ttl))
	return c.(*cache.Cache)
}

// flush forgets every consumer.
func (cc *consumerCache) flush() {
	cc.byWS.Range(func(_, c any) bool { c.(*cache.Cache).Flush(); return true })
}

// entry returns the cached entry for ref in workspace ws, or asks the
// gateway on a miss (fresh is then true).
func (cc *consumerCache) entry(cs Consumers, ws, ref string) (e *consumerEntry, fresh bool, err error) {
	c := cc.of(ws)
	if v, ok := c.Get(ref); ok {
		return v.(*consumerEntry), false, nil
	}
	consumer, found, err := cs.LoadConsumer(ref)
	if err != nil {
		return nil, false, err
	}
	ttl := cache.DefaultExpiration
	if !found {
		ttl = negativeTTL
	}
	e = newConsumerEntry(consumer, found)
	c.Set(ref, e, ttl)
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

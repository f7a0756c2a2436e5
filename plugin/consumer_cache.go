package plugin

import (
	"time"

	"github.com/patrickmn/go-cache"
)

// negativeTTL bounds how long "no such consumer" is remembered: a consumer
// created in Kong must start working within a second or two.
const negativeTTL = time.Second

// consumerCache keeps Kong consumers loaded with kong.client.load_consumer,
// keyed by the reference stored with the client (id or username), so that
// a validated request costs no load_consumer round trip. Kong does not
// tell a plugin server about consumer changes, so entries live ConsumerTTL.
type consumerCache struct {
	c *cache.Cache
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
	return &consumerCache{c: cache.New(ttl, 2*ttl)}
}

// entry returns the cached entry for ref, or asks Kong on a miss (fresh
// is then true).
func (cc *consumerCache) entry(cs Consumers, ref string) (e *consumerEntry, fresh bool, err error) {
	if v, ok := cc.c.Get(ref); ok {
		return v.(*consumerEntry), false, nil
	}
	c, found, err := cs.LoadConsumer(ref)
	if err != nil {
		return nil, false, err
	}
	ttl := cache.DefaultExpiration
	if !found {
		ttl = negativeTTL
	}
	e = newConsumerEntry(c, found)
	cc.c.Set(ref, e, ttl)
	return e, true, nil
}

// load returns the consumer for ref from the cache, or from Kong on a miss
// (fresh is then true).
func (cc *consumerCache) load(cs Consumers, ref string) (c Consumer, found, fresh bool, err error) {
	e, fresh, err := cc.entry(cs, ref)
	if err != nil {
		return Consumer{}, false, false, err
	}
	return e.consumer, e.found, fresh, nil
}

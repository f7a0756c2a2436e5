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

type consumerEntry struct {
	consumer Consumer
	found    bool
}

func newConsumerCache(ttl time.Duration) *consumerCache {
	return &consumerCache{c: cache.New(ttl, 2*ttl)}
}

// load returns the consumer for ref from the cache, or from Kong on a miss
// (fresh is then true).
func (cc *consumerCache) load(k Kong, ref string) (c Consumer, found, fresh bool, err error) {
	if v, ok := cc.c.Get(ref); ok {
		e := v.(consumerEntry)
		return e.consumer, e.found, false, nil
	}
	c, found, err = k.LoadConsumer(ref)
	if err != nil {
		return Consumer{}, false, false, err
	}
	ttl := cache.DefaultExpiration
	if !found {
		ttl = negativeTTL
	}
	cc.c.Set(ref, consumerEntry{c, found}, ttl)
	return c, found, true, nil
}

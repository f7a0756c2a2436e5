package plugin

// Request is one HTTP request as the engine reads it. Every method may be
// a round trip to the gateway (with Kong, a PDK call over a socket), so the
// engine asks only for what the current path needs and each front answers
// lazily. Kong's adapter is pdk/kong; serve mode's fronts wrap net/http and
// Envoy's CheckRequest.
type Request interface {
	Method() (string, error)
	Path() (string, error)                 // the normalized request path
	Header(name string) (string, error)    // first value; "" when absent
	Headers() (map[string][]string, error) // lower-case names
	RawQuery() (string, error)             // without the "?"
	RawBody() ([]byte, error)
	Scheme() (string, error)             // "http" or "https", as the client spoke to the gateway
	ClientIP() (string, error)           // the direct peer
	IsTrustedIP(ip string) (bool, error) // may X-Forwarded-* from ip be believed
	// ForwardedIP is the client's address as the gateway determines it:
	// the direct peer, or from a trusted proxy the address it forwarded
	// (Kong: kong.client.get_forwarded_ip, which follows Kong's
	// trusted_ips and real_ip_header). Throttling keys on it.
	ForwardedIP() (string, error)
	// ServiceID names the service the request is for, when the instance
	// config does not (a Kong plugin on a route only); "" when none.
	ServiceID() (string, error)
}

// Consumers is the gateway's directory of consumers: the entity a client
// belongs to, whose id and username reach the upstream. Kong keeps them
// (kong.client.load_consumer); serve mode reads them from its config file.
type Consumers interface {
	// LoadConsumer looks a consumer up by id, then by username. found is
	// false when there is no such consumer.
	LoadConsumer(ref string) (c Consumer, found bool, err error)
	// HasCredential reports whether an earlier authentication step (a
	// higher-priority Kong plugin) already authenticated the request; it
	// matters only with anonymous. Fronts without such steps answer false.
	HasCredential() (bool, error)
}

// Consumer is a consumer as the gateway knows it.
type Consumer struct {
	ID       string
	Username string
	CustomID string
}

// Credential is what authenticated the consumer: the client's credential
// id (our client_id).
type Credential struct {
	ID         string
	ConsumerID string
}

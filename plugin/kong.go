package plugin

// Kong is what the engine needs from Kong's PDK. Every method is one socket
// round trip to Kong (kong-plugin-protocol.md §3.6), so the engine asks only
// for what the current path needs. pdk.Adapter implements it over go-pdk.
type Kong interface {
	// Request.
	Method() (string, error)
	Path() (string, error)                 // normalized client path (kong.request.get_path)
	Header(name string) (string, error)    // first value; "" when absent
	Headers() (map[string][]string, error) // lower-case names
	RawQuery() (string, error)             // without the "?"
	RawBody() ([]byte, error)
	Scheme() (string, error)             // "http" or "https", as the client spoke to Kong
	ClientIP() (string, error)           // the direct peer
	IsTrustedIP(ip string) (bool, error) // kong.ip.is_trusted
	ServiceID() (string, error)          // kong.router.get_service().id; "" when none

	// Client (consumer) handling.
	HasCredential() (bool, error) // a higher-priority auth plugin already authenticated
	// LoadConsumer looks a consumer up by id, then by username. found is
	// false when Kong has no such consumer.
	LoadConsumer(ref string) (c Consumer, found bool, err error)
	// Authenticate calls kong.client.authenticate. cred is nil for the
	// anonymous consumer.
	Authenticate(c Consumer, cred *Credential) error

	// Upstream request.
	// SetUpstreamHeaders sets each header; an empty slice removes it. One
	// round trip whatever the number of headers. It must not keep h after
	// it returns: the engine reuses the map.
	SetUpstreamHeaders(h map[string][]string) error
	SetUpstreamRawQuery(q string) error
	SetUpstreamRawBody(b []byte) error

	// Exit ends the request with this response (kong.response.exit). The
	// engine returns right after it: no PDK call may follow.
	Exit(status int, body []byte, headers map[string][]string)

	// Logging into Kong's error log.
	LogErr(msg string)
	LogWarn(msg string)
}

// Consumer is a Kong consumer as kong.client.load_consumer returns it.
type Consumer struct {
	ID       string
	Username string
	CustomID string
}

// Credential is what the plugin tells Kong authenticated the consumer: the
// client's credential id (our client_id).
type Credential struct {
	ID         string
	ConsumerID string
}

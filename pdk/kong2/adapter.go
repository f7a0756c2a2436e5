package main

import (
	"strings"

	gopdk "github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/client"
	"github.com/Kong/go-pdk/entities"

	"github.com/oauth2-password/oauth2-password/pdk/kongaccess"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// adapter reads the request (plugin.Request) and Kong's consumers
// (plugin.Consumers) over go-pdk v0.6.0 and carries out decisions, one PDK
// call per method, as pdk/kong's Adapter does over go-pdk v0.11.0. go-pdk
// v0.6.0 carries values as MessagePack through go-pluginserver, so Kong's
// Lua nil arrives as a Go nil.
type adapter struct{ k *gopdk.PDK }

var _ kongaccess.PDK = adapter{}

// optString asks for a string that Kong answers nil when it is absent (a
// header, an empty query): go-pdk's AskString would call that an error.
func (a adapter) optString(method string, args ...interface{}) (string, error) {
	v, err := a.k.Request.Ask(method, args...)
	if err != nil || v == nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

func (a adapter) Method() (string, error)   { return a.k.Request.GetMethod() }
func (a adapter) Scheme() (string, error)   { return a.k.Request.GetScheme() }
func (a adapter) ClientIP() (string, error) { return a.k.Client.GetIp() }
func (a adapter) Path() (string, error)     { return a.optString("kong.request.get_path") }
func (a adapter) RawQuery() (string, error) { return a.optString("kong.request.get_raw_query") }
func (a adapter) Header(name string) (string, error) {
	return a.optString("kong.request.get_header", name)
}

func (a adapter) IsTrustedIP(ip string) (bool, error) { return a.k.IP.IsTrusted(ip) }

// ForwardedIP is kong.client.get_forwarded_ip (Kong's real_ip_header and
// trusted_ips), what throttling keys on.
func (a adapter) ForwardedIP() (string, error) { return a.k.Client.GetForwardedIp() }

// Headers asks for up to 1000 headers (Kong's largest limit; its default,
// 100, would leave out a client's later headers, its Authorization
// among them); mp_rpc.lua sends every value as a list.
func (a adapter) Headers() (map[string][]string, error) { return a.k.Request.GetHeaders(1000) }

// RawBody is kong.request.get_raw_body. Kong 2.x refuses a body nginx
// buffered to a file (one larger than nginx_http_client_body_buffer_size,
// 8k by default) with an error naming client_body_buffer_size; such a body
// is handed to the engine as over its cap, so the client gets the clear
// 400 "Request body too large" rather than a 500.
func (a adapter) RawBody() ([]byte, error) {
	s, err := a.optString("kong.request.get_raw_body")
	if err != nil && strings.Contains(err.Error(), "client_body_buffer_size") {
		return make([]byte, maxBodyBytes+1), nil
	}
	return []byte(s), err
}

func (a adapter) ServiceID() (string, error) {
	s, err := a.k.Router.GetService()
	return s.Id, err
}

// HasCredential asks directly: go-pdk v0.6.0's GetCredential prints the
// answer on stdout, which goes into Kong's log.
func (a adapter) HasCredential() (bool, error) {
	v, err := a.k.Client.Ask("kong.client.get_credential")
	if err != nil {
		return false, err
	}
	c, _ := v.(client.AuthenticatedCredential)
	return c.Id != "" || c.ConsumerId != "", nil
}

// LoadConsumer asks with by_username=true: Kong then tries the id first and
// the username second, and does not raise for a reference that is not a
// UUID. Kong answers nil (a zero Consumer here) when there is none.
func (a adapter) LoadConsumer(ref string) (plugin.Consumer, bool, error) {
	c, err := a.k.Client.LoadConsumer(ref, true)
	if err != nil || c.Id == "" {
		return plugin.Consumer{}, false, err
	}
	return plugin.Consumer{ID: c.Id, Username: c.Username, CustomID: c.CustomId}, true, nil
}

func (a adapter) Authenticate(c plugin.Consumer, cred *plugin.Credential) error {
	consumer := &entities.Consumer{Id: c.ID, Username: c.Username, CustomId: c.CustomID}
	var kc *client.AuthenticatedCredential
	if cred != nil {
		kc = &client.AuthenticatedCredential{Id: cred.ID, ConsumerId: cred.ConsumerID}
	}
	return a.k.Client.Authenticate(consumer, kc)
}

// SetUpstreamHeaders sends every header to clear as an empty list: a nil
// slice would travel as MessagePack nil, which a Lua table cannot hold, so
// Kong would never see the header and a client's spoofed copy would reach
// the upstream.
func (a adapter) SetUpstreamHeaders(h map[string][]string) error {
	out := make(map[string][]string, len(h))
	for k, v := range h {
		if v == nil {
			v = []string{}
		}
		out[k] = v
	}
	return a.k.ServiceRequest.SetHeaders(out)
}

func (a adapter) SetUpstreamRawQuery(q string) error { return a.k.ServiceRequest.SetRawQuery(q) }
func (a adapter) SetUpstreamRawBody(b []byte) error {
	return a.k.ServiceRequest.SetRawBody(string(b))
}

// Exit sends kong.response.exit, which Kong never answers; go-pdk closes
// the event's channel, so the caller returns at once.
func (a adapter) Exit(status int, body []byte, headers map[string][]string) {
	a.k.Response.Exit(status, string(body), headers)
}

// LogErr writes into Kong's error log.
func (a adapter) LogErr(msg string) { _ = a.k.Log.Err(oneLine(msg)) }

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

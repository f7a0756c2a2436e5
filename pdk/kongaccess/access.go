// Package kongaccess is Kong's access phase on the engine, whatever the
// Kong version: it runs the engine on a request read through PDK calls and
// carries out the decision with PDK calls. It imports no go-pdk, so that
// the Kong 3.x front (pdk/kong, go-pdk v0.11.0) and the Kong 2.x build
// (pdk/kong2, go-pdk v0.6.0) share it.
package kongaccess

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// PDK is what the access phase needs of Kong: the request as the engine
// reads it, Kong's consumers, and the calls that carry out a decision.
// Every method is one socket round trip to Kong. pdk/kong.Adapter and
// pdk/kong2's adapter implement it over go-pdk.
type PDK interface {
	plugin.Request
	plugin.Consumers

	// Authenticate calls kong.client.authenticate; cred is nil for the
	// anonymous consumer.
	Authenticate(c plugin.Consumer, cred *plugin.Credential) error
	// SetUpstreamHeaders sets each header; an empty slice removes it. One
	// round trip whatever the number of headers. It must not keep h.
	SetUpstreamHeaders(h map[string][]string) error
	SetUpstreamRawQuery(q string) error
	SetUpstreamRawBody(b []byte) error
	// Exit ends the request with this response (kong.response.exit): no
	// PDK call may follow it.
	Exit(status int, body []byte, headers map[string][]string)
	// LogErr writes into Kong's error log.
	LogErr(msg string)
}

// PDK round trips per path. Every PDK method is one socket round trip, so
// the engine reads only what a path needs and a decision is carried out in
// as few calls as possible. TestPDKCallCounts asserts every row.
//
//	path                                                     calls
//	-------------------------------------------------------  -----
//	invalid plugin configuration (first request: +LogErr)        1  Exit
//	bearer in auth header, consumer cached                       4  Path Header Authenticate SetUpstreamHeaders
//	  ... same with hide_credentials                             4  (the header is cleared in the same SetUpstreamHeaders)
//	  ... consumer not cached yet                                5  + LoadConsumer
//	  ... plugin on a route (no service_id in the config)        5  + ServiceID (only for a service-scoped token)
//	  ... upstream_jwt, first use or cached                      4  (the JWT is one more header of SetUpstreamHeaders)
//	bearer in the query, GET                                     6  Path Header Method RawQuery Authenticate SetUpstreamHeaders
//	  ... with hide_credentials                                  7  + SetUpstreamRawQuery
//	bearer in a form body, POST                                  8  Path Header Method RawQuery Header(content-type) RawBody Authenticate SetUpstreamHeaders
//	invalid or expired token in the header                       3  Path Header Exit (+ ForwardedIP: see below)
//	no token, GET                                                5  Path Header Method RawQuery Exit
//	anonymous: another plugin already authenticated              3  Path HasCredential SetUpstreamHeaders
//	anonymous: valid token, consumer cached                      5  Path HasCredential Header Authenticate SetUpstreamHeaders
//	anonymous: bad token, anonymous consumer cached              6  Path HasCredential Header ForwardedIP Authenticate SetUpstreamHeaders
//	token endpoint, method not POST                              3  Path Method Exit
//	<route>/oauth2/jwks (with -signing-key)                      3  Path Method Exit
//	<route>/.well-known/oauth-authorization-server (with keys)   5  Path Method Scheme Header(host) Exit
//	token endpoint, HTTPS, form/JSON/multipart body              7  Path Method Headers RawQuery RawBody Scheme Exit
//	  ... plain HTTP with accept_http_if_already_terminated      9  + ClientIP IsTrustedIP
//	  ... non-global plugin on a route, password grant           8  + ServiceID
//	  ... body of another content type (not read)                6  - RawBody
//	  ... failed client authentication or provision_key         +1  + ForwardedIP (the throttling key; also every request of that client_id for a window after, and a secret kept as a slow hash)
//	  ... username and password (authenticate_url)              +1  + ForwardedIP (the login throttling key)
//	  ... a token without a valid check value (made up, legacy)  +1  + ForwardedIP (the unknown-lookup budget's key)
//	revoke / introspect endpoint: as the token endpoint          7+
//
// Store calls are not PDK calls: they go to the token store (cached).

// Access runs the engine on one request of Kong's access phase and carries
// out its decision. It never panics: go-pdk has no recover, and one panic
// would end the process and every request in flight, so a panic is logged
// with its stack and answered with a 500 unless the request already got
// its answer.
func Access(c *plugin.Config, k PDK) {
	start := time.Now()
	d := c.Handle(context.Background(), k, k)
	defer d.Release()
	exited := false
	defer func() {
		if v := recover(); v != nil {
			d.Outcome = plugin.OutcomeError
			c.Logger().Error(msgPanic, "panic", v, "stack", string(debug.Stack()),
				"client_id", d.Credential.ID, "outcome", d.Outcome)
			if !exited {
				exitUnexpected(c, k)
			}
		}
		c.Observe(front(&d), &d, start)
	}()
	if d.Log != "" {
		k.LogErr(d.Log)
	}
	if a := d.Answer; a != nil {
		exited = true
		k.Exit(a.Status, a.Body, a.Header)
		return
	}
	if err := allow(k, &d); err != nil {
		d.Outcome = plugin.OutcomeError
		c.Logger().Error(msgGatewayFailed, "err", err, "client_id", d.Credential.ID, "outcome", d.Outcome)
		exited = true
		exitUnexpected(c, k)
	}
}

// front names the front of a request for the metrics: the client
// endpoints are the token front in either mode, everything else is
// bearer validation in Kong's access phase.
func front(d *plugin.Decision) string {
	if d.Endpoint != "" {
		return plugin.FrontToken
	}
	return plugin.FrontKong
}

// Messages of this front's log lines (see plugin/logging.go).
const (
	msgPanic         = "recovered from panic in the access phase"
	msgGatewayFailed = "carrying out the decision failed"
	msgNoAnswer      = "could not answer 500"
)

// allow carries out an allowed request: kong.client.authenticate, then the
// upstream headers in one call, then query and body when they change.
func allow(k PDK, d *plugin.Decision) error {
	if d.Authenticate {
		var cred *plugin.Credential
		if !d.Anonymous {
			cred = &d.Credential
		}
		if err := k.Authenticate(d.Consumer, cred); err != nil {
			return pdkErr("kong.client.authenticate", err)
		}
	}
	if d.Upstream != nil {
		if err := setUpstreamHeaders(k, d); err != nil {
			return pdkErr("kong.service.request.set_headers", err)
		}
	}
	if d.UpstreamQuery != nil {
		if err := k.SetUpstreamRawQuery(*d.UpstreamQuery); err != nil {
			return pdkErr("kong.service.request.set_raw_query", err)
		}
	}
	if d.UpstreamBody != nil {
		if err := k.SetUpstreamRawBody(d.UpstreamBody); err != nil {
			return pdkErr("kong.service.request.set_raw_body", err)
		}
	}
	return nil
}

// headerPreparer is a PDK that can encode set_headers' argument once
// (pdk/kong.Adapter): a token's every request then sends the headers
// prepared on its second one, kept with its cached copy
// (plugin.Decision.Remember), instead of encoding them again.
type headerPreparer interface {
	PrepareUpstreamHeaders(h map[string][]string) any
	SetPreparedUpstreamHeaders(p any) error
}

// setUpstreamHeaders sends d.Upstream in one call, prepared when k can.
func setUpstreamHeaders(k PDK, d *plugin.Decision) error {
	hp, ok := k.(headerPreparer)
	if !ok {
		return k.SetUpstreamHeaders(d.Upstream)
	}
	p := d.Remembered(plugin.MemoKong)
	if p == nil {
		p = hp.PrepareUpstreamHeaders(d.Upstream)
		d.Remember(plugin.MemoKong, p)
	}
	return hp.SetPreparedUpstreamHeaders(p)
}

// exitUnexpected answers 500. It runs inside recover handlers, so it must
// not panic itself.
func exitUnexpected(c *plugin.Config, k PDK) {
	defer func() {
		if v := recover(); v != nil {
			c.Logger().Error(msgNoAnswer, "panic", v)
		}
	}()
	a := plugin.Unexpected()
	k.Exit(a.Status, a.Body, a.Header)
}

func pdkErr(call string, err error) error {
	return fmt.Errorf("kong PDK call %s failed: %w", call, err)
}

package plugin

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// PDK round trips per path. Every Kong method is one socket round trip
// (kong-plugin-protocol.md §3.6), so each path asks only for what it needs.
// TestPDKCallCounts asserts every row.
//
//	path                                                     calls
//	-------------------------------------------------------  -----
//	invalid plugin configuration (first request: +LogErr)        1  Exit
//	bearer in auth header, consumer cached                       4  Path Header Authenticate SetUpstreamHeaders
//	  ... same with hide_credentials                             4  (the header is cleared in the same SetUpstreamHeaders)
//	  ... consumer not cached yet                                5  + LoadConsumer
//	  ... plugin on a route (no service_id in the config)        5  + ServiceID (only for a service-scoped token)
//	bearer in the query, GET                                     6  Path Header Method RawQuery Authenticate SetUpstreamHeaders
//	  ... with hide_credentials                                  7  + SetUpstreamRawQuery
//	bearer in a form body, POST                                  8  Path Header Method RawQuery Header(content-type) RawBody Authenticate SetUpstreamHeaders
//	invalid or expired token in the header                       3  Path Header Exit
//	no token, GET                                                5  Path Header Method RawQuery Exit
//	anonymous: another plugin already authenticated              3  Path HasCredential SetUpstreamHeaders
//	anonymous: valid token, consumer cached                      5  Path HasCredential Header Authenticate SetUpstreamHeaders
//	anonymous: bad token, anonymous consumer cached              5  Path HasCredential Header Authenticate SetUpstreamHeaders
//	token endpoint, method not POST                              3  Path Method Exit
//	token endpoint, HTTPS, form/JSON/multipart body              7  Path Method Headers RawQuery RawBody Scheme Exit
//	  ... plain HTTP with accept_http_if_already_terminated      9  + ClientIP IsTrustedIP
//	  ... non-global plugin on a route, password grant           8  + ServiceID
//	  ... body of another content type (not read)                6  - RawBody
//	  ... no client_id, with throttling on (the default)         +1  + ClientIP (the throttling key)
//
// Store calls are not PDK calls: they go to the token store (cached).

// request is the state of one access-phase call.
type request struct {
	e      *Engine
	k      Kong
	s      *settings
	exited bool

	svc      string // current service id, once known
	svcKnown bool
	ip       string // client IP, once known
	ipKnown  bool

	throttleOn  bool        // failures of this token request are counted
	throttleKey throttleKey // ... against this key
}

// Access handles Kong's access phase for one request. It never panics: a
// panic is logged with its stack and answered with a 500, and the process
// keeps serving (a crash would take every in-flight request with it,
// kong-plugin-protocol.md §7.8).
func (c *Config) Access(k Kong) {
	e := c.eng()
	r := &request{e: e, k: k}
	defer func() {
		if v := recover(); v != nil {
			e.logf("oauth2-password: recovered from panic in the access phase: %v\n%s", v, debug.Stack())
			r.fail()
		}
	}()

	s, err := c.settings()
	if err != nil {
		c.logOnce.Do(func() {
			msg := "oauth2-password: " + err.Error()
			e.logf("%s", msg)
			k.LogErr(msg)
		})
		r.exitMessage(500, err.Error())
		return
	}
	r.s = s
	if err := r.dispatch(); err != nil {
		e.logf("oauth2-password: %v", err)
		r.fail()
	}
}

func (r *request) dispatch() error {
	path, err := r.k.Path()
	if err != nil {
		return kongErr("get path", err)
	}
	if isTokenPath(path) {
		return r.tokenEndpoint()
	}
	return r.bearer()
}

// isTokenPath: Kong serves the token endpoint on any route of the plugin
// whose normalized path ends with /oauth2/token (kong-oauth2-behaviour.md §3.1).
func isTokenPath(p string) bool {
	return strings.HasSuffix(p, "/oauth2/token") || strings.HasSuffix(p, "/oauth2/token/")
}

// serviceID is the current service: from the instance config when Kong
// put it there, else one kong.router.get_service round trip.
func (r *request) serviceID() (string, error) {
	if r.s.serviceID != "" {
		return r.s.serviceID, nil
	}
	if !r.svcKnown {
		id, err := r.k.ServiceID()
		if err != nil {
			return "", kongErr("get service", err)
		}
		r.svc, r.svcKnown = id, true
	}
	return r.svc, nil
}

// exit ends the request. Nothing may talk to Kong after it.
func (r *request) exit(status int, body []byte, h map[string][]string) {
	r.exited = true
	r.k.Exit(status, body, h)
}

// exitMessage answers {"message": msg} like kong.response.error.
func (r *request) exitMessage(status int, msg string) {
	r.exit(status, mustJSON(struct {
		Message string `json:"message"`
	}{msg}), map[string][]string{"Content-Type": {contentTypeJSON}})
}

// fail answers 500 unless the request already got its answer. It must not
// panic itself: it runs inside the recover handler.
func (r *request) fail() {
	if r.exited {
		return
	}
	defer func() {
		if v := recover(); v != nil {
			r.e.logf("oauth2-password: could not answer 500: %v", v)
		}
	}()
	r.exitMessage(500, descUnexpected)
}

// kongErr wraps a failed PDK call; it is answered with a 500.
func kongErr(what string, err error) error {
	return fmt.Errorf("kong PDK call %q failed: %w", what, err)
}

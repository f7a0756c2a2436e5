// Package spoe is the engine's front for HAProxy's Stream Processing
// Offload Engine (SPOE): HAProxy sends one message per request to this
// agent over SPOP (HAProxy's doc/SPOE.txt, protocol version 2.0), the
// agent runs the bearer validation of the service the message names
// (plugin.Config.Authorize) and answers with variables that HAProxy's
// http-request rules act on: deny with our status, body and
// WWW-Authenticate, or set and remove the identity headers. The wire
// protocol is github.com/negasus/haproxy-spoe-go's.
//
// The message (Message, args by name):
//
//	service  the SERVICE of serve's config (required)
//	method   the request method (HAProxy's method fetch)
//	path     the path with its query, as on the request line (pathq)
//	ip       the client address (src)
//	any other arg is a request header named like the arg, e.g.
//	authorization=req.fhdr(authorization,1); an arg HAProxy could not
//	fetch (header absent) comes as null and counts as absent.
//
// The variables it sets (transaction scope; spoe.conf's var-prefix goes
// before each name, e.g. txn.oauth2.allow):
//
//	allow             true: let the request through; false: deny
//	status            the HTTP status of a denial (401, 500, 503)
//	body              its JSON body (RFC 6750 §3 error, or {"message": …})
//	www_authenticate  its WWW-Authenticate challenge, when it has one
//	retry_after       its Retry-After, when it has one (503)
//	hdr_<name>        each upstream header the engine sets or removes,
//	                  named in lower case with "_" for "-"
//	                  (hdr_x_consumer_id); "" removes the header
//	query             the query without access_token (hide_credentials on
//	                  a token sent there); absent when unchanged
//
// A message that is not ours sets nothing: HAProxy's rules deny a request
// that has no allow variable (fail closed).
package spoe

import (
	"net"
	"strings"

	"github.com/negasus/haproxy-spoe-go/payload/kv"
)

// MessageName is the spoe-message the agent answers.
const MessageName = "oauth2-check"

// The message's own args; every other arg is a request header.
const (
	ArgService = "service"
	ArgMethod  = "method"
	ArgPath    = "path"
	ArgIP      = "ip"
)

// Trusted tells whether X-Forwarded-* headers from a peer are believed
// (serve mode's trusted_ips).
type Trusted interface {
	Contains(ip string) bool
}

// request is a plugin.Request over one oauth2-check message. HAProxy
// sends no body: RawBody is empty, so a token only counts when it is in
// the auth header or the query, and nothing HAProxy cannot strip upstream
// (a body argument under hide_credentials) is ever taken as the
// credential, as with Envoy.
type request struct {
	service, method string
	path, rawQuery  string
	ip              string
	headers         []kv.Item // the header args, names as spoe.conf spells them
	trusted         Trusted
}

// newRequest reads a message's args.
func newRequest(args []kv.Item, trusted Trusted) *request {
	q := &request{trusted: trusted}
	for _, a := range args {
		switch a.Name {
		case ArgService:
			q.service = str(a.Value)
		case ArgMethod:
			q.method = strings.ToUpper(str(a.Value))
		case ArgPath:
			q.path, q.rawQuery, _ = strings.Cut(str(a.Value), "?")
		case ArgIP:
			if ip, ok := a.Value.(net.IP); ok {
				q.ip = ip.String()
			} else {
				q.ip = str(a.Value)
			}
		default:
			q.headers = append(q.headers, a)
		}
	}
	if q.path == "" {
		q.path = "/"
	}
	return q
}

// str is a string or binary arg's value; any other type (null: the fetch
// found nothing) is "".
func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

func (q *request) Method() (string, error) { return q.method, nil }
func (q *request) Path() (string, error)   { return q.path, nil }

// Header is the value of the header arg named name, in any case.
func (q *request) Header(name string) (string, error) {
	for _, h := range q.headers {
		if strings.EqualFold(h.Name, name) {
			return str(h.Value), nil
		}
	}
	return "", nil
}

// Headers are the header args that have a value, by lower-case name.
func (q *request) Headers() (map[string][]string, error) {
	out := make(map[string][]string, len(q.headers))
	for _, h := range q.headers {
		if v := str(h.Value); v != "" {
			k := strings.ToLower(h.Name)
			out[k] = append(out[k], v)
		}
	}
	return out, nil
}

func (q *request) RawQuery() (string, error) { return q.rawQuery, nil }
func (q *request) RawBody() ([]byte, error)  { return []byte{}, nil }

// Scheme is never asked by bearer validation (only the token endpoint
// checks HTTPS, and HAProxy routes that to serve's HTTP listener).
func (q *request) Scheme() (string, error) { return "", nil }

// ClientIP is the ip arg: HAProxy's client.
func (q *request) ClientIP() (string, error) { return q.ip, nil }

// ForwardedIP is the same ip arg: the message's "ip" is HAProxy's own
// notion of the client (its src, or what the operator's haproxy.cfg sets
// it to behind another proxy), what throttling keys on.
func (q *request) ForwardedIP() (string, error) { return q.ip, nil }

func (q *request) IsTrustedIP(ip string) (bool, error) { return q.trusted.Contains(ip), nil }

// ServiceID is never asked: every serve-mode service config names its
// service.
func (q *request) ServiceID() (string, error) { return "", nil }

// Package envoy is the engine's front for Envoy's external authorization
// (envoy.filters.http.ext_authz over gRPC, envoy.service.auth.v3): it turns
// a CheckRequest into a plugin.Request and a plugin.Decision into a
// CheckResponse. Istio's CUSTOM authorization, Gloo, Contour and Emissary
// speak the same API.
package envoy

import (
	"net/netip"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// Trusted tells whether X-Forwarded-* headers from a peer are believed
// (serve mode's trusted_ips).
type Trusted interface {
	Contains(ip string) bool
}

// request is a plugin.Request over the HTTP request Envoy describes in
// attributes.request.http. Envoy sends lower-case header names: in headers
// (one value per name, repeated headers joined by commas), or in header_map
// when the filter sets encode_raw_headers (repeated headers kept apart).
// The path is the request target with its query, not decoded.
//
// Envoy sends no body unless the filter sets with_request_body; we never
// read one (RawBody is empty), so a token only counts when it is in the
// auth header or the query, and nothing we cannot strip upstream (a body
// argument under hide_credentials) is ever taken as the credential.
type request struct {
	http           *authv3.AttributeContext_HttpRequest
	peer           string // attributes.source's socket address
	path, rawQuery string
	trusted        Trusted
}

func newRequest(attrs *authv3.AttributeContext, trusted Trusted) *request {
	h := attrs.GetRequest().GetHttp()
	path, rawQuery, _ := strings.Cut(h.GetPath(), "?")
	return &request{http: h, peer: attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(),
		path: path, rawQuery: rawQuery, trusted: trusted}
}

func (q *request) Method() (string, error) { return q.http.GetMethod(), nil }
func (q *request) Path() (string, error)   { return q.path, nil }

// Header is the first value of the named header. headers is a map with
// lower-case keys, so a name is looked up as it is first (the engine asks
// in lower case) and lower-cased only when that misses.
func (q *request) Header(name string) (string, error) {
	if hm := q.http.GetHeaderMap(); hm != nil {
		for _, h := range hm.GetHeaders() {
			if strings.EqualFold(h.GetKey(), name) {
				return headerValue(h), nil
			}
		}
		return "", nil
	}
	hs := q.http.GetHeaders()
	if v, ok := hs[name]; ok {
		return v, nil
	}
	if lower := strings.ToLower(name); lower != name {
		return hs[lower], nil
	}
	return "", nil
}

// Headers are the request's headers by lower-case name.
func (q *request) Headers() (map[string][]string, error) {
	if hm := q.http.GetHeaderMap(); hm != nil {
		out := make(map[string][]string, len(hm.GetHeaders()))
		for _, h := range hm.GetHeaders() {
			k := strings.ToLower(h.GetKey())
			out[k] = append(out[k], headerValue(h))
		}
		return out, nil
	}
	out := make(map[string][]string, len(q.http.GetHeaders()))
	for k, v := range q.http.GetHeaders() {
		out[strings.ToLower(k)] = []string{v}
	}
	return out, nil
}

// headerValue is a header_map entry's value: raw_value when Envoy encodes
// raw headers, value otherwise.
func headerValue(h interface {
	GetValue() string
	GetRawValue() []byte
}) string {
	if raw := h.GetRawValue(); raw != nil {
		return string(raw)
	}
	return h.GetValue()
}

func (q *request) RawQuery() (string, error) { return q.rawQuery, nil }
func (q *request) RawBody() ([]byte, error)  { return []byte{}, nil }

// Scheme is how the client spoke to Envoy.
func (q *request) Scheme() (string, error) { return q.http.GetScheme(), nil }

// ClientIP is Envoy's downstream peer (attributes.source).
func (q *request) ClientIP() (string, error) { return q.peer, nil }

func (q *request) IsTrustedIP(ip string) (bool, error) { return q.trusted.Contains(ip), nil }

// ForwardedIP is the client's address: attributes.source is Envoy's
// downstream peer (already the client when Envoy is the edge, or what its
// xff_num_trusted_hops made of X-Forwarded-For); when that peer is in
// trusted_ips (a load balancer in front of Envoy),
// x-envoy-external-address, which Envoy sets to the client address it
// found, is believed instead. Throttling keys on it.
func (q *request) ForwardedIP() (string, error) {
	if q.trusted != nil && q.trusted.Contains(q.peer) {
		ext, _ := q.Header("x-envoy-external-address")
		if a, err := netip.ParseAddr(strings.TrimSpace(ext)); err == nil {
			return a.Unmap().String(), nil
		}
	}
	return q.peer, nil
}

// ServiceID is never asked: every serve-mode service config names its
// service.
func (q *request) ServiceID() (string, error) { return "", nil }

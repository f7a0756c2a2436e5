// Package httpfront is the engine's front for plain HTTP: serve mode's
// OAuth2 endpoints, forward auth for nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth, and Envoy's HTTP ext_authz. It turns
// an *http.Request into a plugin.Request and a plugin.Decision into an HTTP
// answer.
package httpfront

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Trusted is the set of peers whose X-Forwarded-* headers are believed
// (serve mode's trusted_ips, Kong's trusted_ips).
type Trusted []netip.Prefix

// Contains reports whether ip is in one of the prefixes.
func (t Trusted) Contains(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// request is a plugin.Request over an *http.Request. method, path and
// rawQuery are the original request's: the HTTP request's own, or for
// forward auth those named by the proxy's headers.
type request struct {
	r                      *http.Request
	method, path, rawQuery string
	body                   []byte // nil: no body (a forward-auth subrequest)
	maxBody                int64
	trusted                Trusted
}

func (q *request) Method() (string, error) { return q.method, nil }
func (q *request) Path() (string, error)   { return q.path, nil }

// Header is the first value of the header name. The engine asks in lower
// case, which http.Header.Get would canonicalize, an allocation, on every
// request: the canonical name is built on the stack instead.
func (q *request) Header(name string) (string, error) {
	var buf [64]byte
	key, ok := canonicalKey(buf[:0], name)
	if !ok {
		return q.r.Header.Get(name), nil
	}
	if v := q.r.Header[string(key)]; len(v) > 0 {
		return v[0], nil
	}
	return "", nil
}

// canonicalKey appends name to b in the form net/http keeps header names
// in (http.CanonicalHeaderKey: upper case first and after each '-', lower
// case elsewhere). It declines (false) a name longer than b has room for,
// and one with a byte that is not a token character (RFC 9110 §5.6.2),
// which net/http keeps as it is.
func canonicalKey(b []byte, name string) ([]byte, bool) {
	if name == "" || len(name) > cap(b)-len(b) {
		return nil, false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !httpguts.IsTokenRune(rune(c)) {
			return nil, false
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	return b, true
}

// Headers are the request's headers with lower-case names, as Kong's
// kong.request.get_headers gives them.
func (q *request) Headers() (map[string][]string, error) {
	h := make(map[string][]string, len(q.r.Header))
	for k, v := range q.r.Header {
		h[strings.ToLower(k)] = v
	}
	return h, nil
}

func (q *request) RawQuery() (string, error) { return q.rawQuery, nil }

// RawBody reads at most maxBody+1 bytes, so that the engine can tell a body
// over its cap without the whole of it being held in memory.
func (q *request) RawBody() ([]byte, error) {
	if q.body != nil || q.r.Body == nil {
		return q.body, nil
	}
	b, err := io.ReadAll(io.LimitReader(q.r.Body, q.maxBody+1))
	if err != nil {
		return nil, err
	}
	q.body = b
	return b, nil
}

// Scheme is how the client spoke to us: https on a TLS listener.
func (q *request) Scheme() (string, error) {
	if q.r.TLS != nil {
		return "https", nil
	}
	return "http", nil
}

// ClientIP is the direct peer.
func (q *request) ClientIP() (string, error) {
	host, _, err := net.SplitHostPort(q.r.RemoteAddr)
	if err != nil {
		return q.r.RemoteAddr, nil
	}
	return host, nil
}

func (q *request) IsTrustedIP(ip string) (bool, error) { return q.trusted.Contains(ip), nil }

// ForwardedIP is the client's address: from a peer in trusted_ips, the
// right-most X-Forwarded-For hop that is not itself in trusted_ips (every
// proxy appends the address it got the request from, so the hops right of
// the first untrusted one were written by proxies we trust, and anything
// left of it may be the client's invention); from any other peer, the peer
// itself, whatever it sent. Throttling keys on it, so a client behind the
// proxy cannot pick its key by sending its own X-Forwarded-For.
func (q *request) ForwardedIP() (string, error) {
	peer, _ := q.ClientIP()
	if !q.trusted.Contains(peer) {
		return peer, nil
	}
	return rightmostUntrusted(q.r.Header.Values("X-Forwarded-For"), peer, q.trusted), nil
}

// rightmostUntrusted walks the hops of X-Forwarded-For (repeated headers
// in order, comma-separated) from the right. All trusted (or none), it is
// the left-most hop seen; a hop that is no address ends the walk at the
// trusted hop right of it.
func rightmostUntrusted(xff []string, peer string, trusted Trusted) string {
	addr := peer
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			hop, ok := hopAddr(strings.TrimSpace(hops[j]))
			if !ok {
				return addr
			}
			addr = hop
			if !trusted.Contains(hop) {
				return hop
			}
		}
	}
	return addr
}

// hopAddr is one X-Forwarded-For entry as an address; some proxies add the
// port ("192.0.2.1:4711", "[2001:db8::1]:4711").
func hopAddr(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().String(), true
	}
	return "", false
}

// ServiceID is never asked: every serve-mode config names its service.
func (q *request) ServiceID() (string, error) { return "", nil }

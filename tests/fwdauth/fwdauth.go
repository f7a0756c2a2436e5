// Package fwdauth is a forward-auth gateway in a few lines: it does what
// Traefik's ForwardAuth middleware does (with trustForwardHeader false), so
// that `make run` has a real protected route without a proxy installed and
// the tests can check the header contract traefik.yml relies on.
package fwdauth

import (
	"io"
	"net"
	"net/http"
)

// IdentityHeaders are the headers serve's forward auth answers an allowed
// request with (each only when it has a value): the ResponseHeaders of a
// gateway in front of it.
var IdentityHeaders = []string{"X-Consumer-ID", "X-Consumer-Custom-ID", "X-Consumer-Username",
	"X-Credential-Identifier", "X-Authenticated-Userid", "X-Authenticated-Scope", "X-Anonymous-Consumer"}

// Gateway asks Address about every request before passing it to Next.
//
// The question is a GET to Address with the client's headers and
// X-Forwarded-Method, -Proto, -Host, -Uri and -For set by the gateway
// (never the client's). On a 2xx answer each ResponseHeaders name is
// deleted from the request and set from the answer if it has it, so a
// client's own copies never reach Next; then RemoveHeaders are deleted
// (hide_credentials) and Next serves the request. Any other answer goes to
// the client as it came (status, headers, body); no answer at all is 500,
// as Traefik gives it.
type Gateway struct {
	Address         string
	ResponseHeaders []string
	RemoveHeaders   []string
	Next            http.Handler
	Client          *http.Client // nil: http.DefaultClient
	Proto           string       // X-Forwarded-Proto: how clients reach the gateway
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, g.Address, nil)
	if err != nil {
		http.Error(w, "forward auth: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	req.Header.Set("X-Forwarded-Method", r.Method)
	req.Header.Set("X-Forwarded-Proto", g.Proto)
	req.Header.Set("X-Forwarded-Host", r.Host)
	req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
	req.Header.Set("X-Forwarded-For", host)
	hc := g.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		http.Error(w, "forward auth: no answer from the auth service", http.StatusInternalServerError)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		return
	}
	for _, name := range g.ResponseHeaders {
		k := http.CanonicalHeaderKey(name)
		r.Header.Del(k)
		if v := resp.Header[k]; len(v) > 0 {
			r.Header[k] = v
		}
	}
	for _, name := range g.RemoveHeaders {
		r.Header.Del(name)
	}
	g.Next.ServeHTTP(w, r)
}

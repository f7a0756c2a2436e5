package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
)

// authRoute sends /services/NAME/auth of a configured service straight
// to its forward auth, /services/NAME/ext-authz… to its Envoy HTTP
// ext_authz (extAuthzRoute), and every other request to next (the
// ServeMux).
// Forward auth runs once per proxied request, and the mux's wildcard
// match (path cleaning, segment matching, the path value) costs it about
// a microsecond; the mux still routes everything else, and every path
// this does not take: it takes only what the mux would route to the same
// service (TestAuthRouteAgreesWithMux).
type authRoute struct {
	services map[string]*httpfront.Service
	next     http.Handler
}

func (a authRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, ok := authService(r); ok {
		if s, ok := a.services[name]; ok {
			s.ForwardAuth(w, r)
			return
		}
	}
	if name, path, ok := extAuthzRoute(r); ok {
		if s, ok := a.services[name]; ok {
			s.ExtAuthz(w, r, path)
		} else {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "invalid_request", "error_description": "Unknown service " + name})
		}
		return
	}
	a.next.ServeHTTP(w, r)
}

// extAuthzRoute is NAME and the client's path when r's path, escaped as
// sent, is /services/NAME/ext-authz followed by the path Envoy appends to
// its path_prefix: the client's own, which may hold "//", "." or ".."
// segments and escapes. The mux would answer such a path with a redirect
// to its cleaned form, which Envoy hands the client as a denial (and a
// valid token would be refused), so this takes every such target.
func extAuthzRoute(r *http.Request) (name, path string, ok bool) {
	if r.Method == http.MethodConnect {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/services/")
	if !ok {
		return "", "", false
	}
	segment, rest, _ := strings.Cut(rest, "/")
	path, ok = strings.CutPrefix(rest, "ext-authz")
	if !ok || path != "" && path[0] != '/' {
		return "", "", false
	}
	name, err := url.PathUnescape(segment)
	if err != nil || name == "" {
		return "", "", false
	}
	return name, path, true
}

// authService is NAME when r's path is /services/NAME/auth as the mux
// would match it without redirecting or unescaping: clean, with no
// escaped bytes, NAME one segment. CONNECT is left to the mux, which
// matches it on the host as well.
func authService(r *http.Request) (string, bool) {
	if r.Method == http.MethodConnect || r.URL.RawPath != "" {
		return "", false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/services/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/auth")
	if !ok || name == "" || name == "." || name == ".." || strings.IndexByte(name, '/') >= 0 {
		return "", false
	}
	return name, true
}

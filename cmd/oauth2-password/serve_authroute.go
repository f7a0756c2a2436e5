package main

import (
	"net/http"
	"strings"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
)

// authRoute sends /services/NAME/auth of a configured service straight
// to its forward auth, and every other request to next (the ServeMux).
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
	a.next.ServeHTTP(w, r)
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

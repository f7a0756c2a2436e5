package main

import (
	"net/http"
	"slices"
	"strings"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// Published keys and metadata of serve mode (docs/upstream-jwt.md):
// GET /.well-known/jwks.json (the keys of upstream JWTs) and GET
// /.well-known/oauth-authorization-server (RFC 8414), both only with
// -signing-key and -issuer.

// addWellKnown routes the two documents on mux, when e has keys.
func addWellKnown(mux *http.ServeMux, e *plugin.Engine, issuer string, services []string) *http.ServeMux {
	jwks := e.JWKSResponse()
	if jwks == nil || issuer == "" {
		return mux
	}
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		httpfront.WriteResponse(w, jwks)
	})
	meta := serverMetadata(issuer, services)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		httpfront.WriteResponse(w, meta)
	})
	return mux
}

// serverMetadata is the RFC 8414 §2 document of serve. The issuer is
// serve's public base URL (-issuer). Endpoints are per service
// (/services/SERVICE/…) but RFC 8414 has room for one token endpoint: the
// standard fields name the first service in name order, and
// oauth2_password_services (an extension, §2 allows them) names every
// service's.
func serverMetadata(issuer string, services []string) *plugin.Response {
	base := strings.TrimSuffix(issuer, "/")
	names := slices.Sorted(slices.Values(services))
	eps := make(map[string]plugin.Endpoints, len(names))
	for _, n := range names {
		eps[n] = plugin.EndpointsUnder(base + "/services/" + n + "/oauth2/")
	}
	return plugin.MetadataResponse(issuer, base+"/.well-known/jwks.json", eps[names[0]], eps)
}

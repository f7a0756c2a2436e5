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

// wellKnownMaxAge is the Cache-Control max-age of the metadata.
const wellKnownMaxAge = "public, max-age=300"

// addWellKnown routes the two documents on mux, when e has keys.
func addWellKnown(mux *http.ServeMux, e *plugin.Engine, issuer string, services []string) *http.ServeMux {
	jwks := e.JWKSResponse()
	if jwks == nil || issuer == "" {
		return mux
	}
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		httpfront.WriteResponse(w, jwks)
	})
	meta := plugin.JSONResponse(http.StatusOK, serverMetadata(issuer, services))
	meta.Header["Cache-Control"] = []string{wellKnownMaxAge}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		httpfront.WriteResponse(w, &meta)
	})
	return mux
}

// serviceEndpoints are one service's client endpoints.
type serviceEndpoints struct {
	Token         string `json:"token_endpoint"`
	Revocation    string `json:"revocation_endpoint"`
	Introspection string `json:"introspection_endpoint"`
}

// metadata is the RFC 8414 §2 document. The issuer is serve's public
// base URL (-issuer). Endpoints are per service (/services/SERVICE/…) but
// RFC 8414 has room for one token endpoint: the standard fields name the
// first service in name order, and oauth2_password_services (an extension,
// §2 allows them) names every service's.
type metadata struct {
	Issuer string `json:"issuer"`
	serviceEndpoints
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"` // required; empty: no authorization endpoint
	GrantTypes    []string `json:"grant_types_supported"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	RevokeAuth    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntroAuth     []string `json:"introspection_endpoint_auth_methods_supported"`
	// Services maps each SERVICE to its endpoints.
	Services map[string]serviceEndpoints `json:"oauth2_password_services"`
}

func serverMetadata(issuer string, services []string) metadata {
	base := strings.TrimSuffix(issuer, "/")
	names := slices.Sorted(slices.Values(services))
	eps := make(map[string]serviceEndpoints, len(names))
	for _, n := range names {
		p := base + "/services/" + n + "/oauth2/"
		eps[n] = serviceEndpoints{Token: p + "token", Revocation: p + "revoke", Introspection: p + "introspect"}
	}
	// Confidential clients authenticate with HTTP Basic or the body;
	// public clients send only their client_id (RFC 6749 §2.3.1, RFC 7591
	// §2 "none").
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	return metadata{
		Issuer:           issuer,
		serviceEndpoints: eps[names[0]],
		JWKSURI:          base + "/.well-known/jwks.json",
		ResponseTypes:    []string{},
		GrantTypes:       []string{"password", "refresh_token"},
		AuthMethods:      auth, RevokeAuth: auth, IntroAuth: auth,
		Services: eps,
	}
}

package plugin

import (
	"fmt"
	"strings"
)

// RFC 8414 authorization server metadata (docs/upstream-jwt.md), one
// builder for both modes: serve publishes it at
// /.well-known/oauth-authorization-server, Kong mode at
// <route>/.well-known/oauth-authorization-server.

// Endpoints are one service's client endpoints, under their RFC 8414 §2
// names.
type Endpoints struct {
	Token         string `json:"token_endpoint"`
	Revocation    string `json:"revocation_endpoint"`
	Introspection string `json:"introspection_endpoint"`
}

// EndpointsUnder are the endpoints under prefix, which ends in "/oauth2/"
// (…/oauth2/token, …/oauth2/revoke, …/oauth2/introspect).
func EndpointsUnder(prefix string) Endpoints {
	return Endpoints{Token: prefix + endpointToken, Revocation: prefix + endpointRevoke, Introspection: prefix + endpointIntrospect}
}

// serverMetadata is the RFC 8414 §2 document.
type serverMetadata struct {
	Issuer string `json:"issuer"`
	Endpoints
	JWKSURI       string   `json:"jwks_uri"`
	ResponseTypes []string `json:"response_types_supported"` // required; empty: no authorization endpoint
	GrantTypes    []string `json:"grant_types_supported"`
	AuthMethods   []string `json:"token_endpoint_auth_methods_supported"`
	RevokeAuth    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntroAuth     []string `json:"introspection_endpoint_auth_methods_supported"`
	// Services maps each serve SERVICE to its endpoints (an extension
	// member, which §2 allows); absent in Kong mode.
	Services map[string]Endpoints `json:"oauth2_password_services,omitempty"`
}

// MetadataResponse is the answer to GET of the RFC 8414 document of
// issuer: eps are the standard endpoint fields, services (may be nil) every
// serve SERVICE's. It may be cached as long as the JWKS it points at.
func MetadataResponse(issuer, jwksURI string, eps Endpoints, services map[string]Endpoints) *Response {
	// Confidential clients authenticate with HTTP Basic or the body;
	// public clients send only their client_id (RFC 6749 §2.3.1, RFC 7591
	// §2 "none"), except at introspection, which refuses them
	// (descPublicIntrospect): a method listed here must be one that works.
	auth := []string{"client_secret_basic", "client_secret_post", "none"}
	secretOnly := auth[:2:2]
	r := JSONResponse(200, serverMetadata{
		Issuer:        issuer,
		Endpoints:     eps,
		JWKSURI:       jwksURI,
		ResponseTypes: []string{},
		GrantTypes:    []string{"password", "refresh_token"},
		AuthMethods:   auth, RevokeAuth: auth, IntroAuth: secretOnly,
		Services: services,
	})
	r.Header["Cache-Control"] = []string{fmt.Sprintf("public, max-age=%d", jwksMaxAge)}
	return &r
}

// metadataSuffix is the well-known path of RFC 8414 §3.
const metadataSuffix = "/.well-known/oauth-authorization-server"

// metadataRoute reports whether p is Kong mode's metadata path,
// <route>/.well-known/oauth-authorization-server (optionally with "/"),
// and returns the route prefix before it ("" at the root).
func metadataRoute(p string) (string, bool) {
	return strings.CutSuffix(strings.TrimSuffix(p, "/"), metadataSuffix)
}

// metadataEndpoint answers Kong mode's
// <route>/.well-known/oauth-authorization-server: the endpoints are the
// ones this route serves, as the client reached it (scheme and Host), so
// that a client finds the token endpoint of the route it asked.
func (r *request) metadataEndpoint(prefix string) error {
	method, err := r.k.Method()
	if err != nil {
		return readErr("method", err)
	}
	r.d.Endpoint, r.d.Outcome = endpointMetadata, OutcomeAllowed
	if method != "GET" && method != "HEAD" {
		r.d.Outcome = OutcomeInvalidMethod
		r.exit(405, mustJSON(map[string]string{"message": "Method not allowed"}),
			map[string][]string{"Content-Type": {contentTypeJSON}, "Allow": {"GET, HEAD"}})
		return nil
	}
	scheme, err := r.k.Scheme()
	if err != nil {
		return readErr("scheme", err)
	}
	host, err := r.k.Header("host")
	if err != nil {
		return readErr("host", err)
	}
	if host == "" || strings.ContainsAny(host, "/?#@ ") {
		// RFC 9112 §3.2: a request without a valid Host is a 400.
		r.d.Outcome = OutcomeInvalidRequest
		r.exitMessage(400, "Bad request: no valid Host header")
		return nil
	}
	base := scheme + "://" + host + prefix + "/oauth2/"
	r.d.Answer = MetadataResponse(r.e.opt.Signer.Issuer(), base+endpointJWKS, EndpointsUnder(base), nil)
	return nil
}

// endpointMetadata is Decision.Endpoint of the metadata endpoint.
const endpointMetadata = "metadata"

// Package plugin is the OAuth2 engine: the resource owner password
// credentials grant (RFC 6749 §4.3) and refresh (§6) at the token
// endpoint, revocation (RFC 7009), introspection (RFC 7662) and bearer
// validation (RFC 6750), with the answers of Kong's bundled oauth2 plugin
// (kong/BEHAVIOUR.md).
//
// It knows no gateway. A front reads the request for it through Request
// and Consumers (gateway.go) and acts on the Decision it returns
// (decision.go): pdk/kongaccess with Kong's PDK, pdk/httpfront over
// net/http, pdk/envoy for Envoy's ext_authz. The store is declared here by
// what each flow needs (store.go); package store implements it. The name
// is the project's history: the engine began as a Kong plugin.
package plugin

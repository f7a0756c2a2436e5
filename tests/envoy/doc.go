// Package envoy holds the Envoy suites: the real `oauth2-password serve`
// binary checked the way Envoy's ext_authz filter checks it, over gRPC
// (Authorization/Check, built from go-control-plane's types) and over HTTP
// (/services/SERVICE/ext-authz/…), and the example envoy.yaml, parsed into
// Envoy's bootstrap type. There is no Envoy binary here: the requests are
// what Envoy sends, field for field.
package envoy

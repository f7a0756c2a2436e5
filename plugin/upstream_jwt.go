package plugin

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Upstream identity (docs/upstream-jwt.md): with upstream_jwt, a request
// with a valid opaque token reaches the upstream with a short-lived JWT
// access token (RFC 9068) describing the caller, signed with the
// operator's key, so that the upstream verifies the caller itself with a
// stock JWT library and the published keys (the phantom-token pattern).
// The client keeps the opaque token, which stays revocable at once.

// Signer signs upstream JWTs and publishes its keys (jwtkeys.Set).
type Signer interface {
	// Issuer is the iss claim.
	Issuer() string
	// Sign signs a JWT claims set (JSON) with the current key: a JWS
	// compact serialization whose header has typ "at+jwt" and the kid.
	Sign(payload []byte) (string, error)
	// JWKS is the JSON Web Key Set of every key, current and retiring.
	JWKS() []byte
}

// Defaults and bounds of the upstream_jwt fields.
const (
	defaultUpstreamJWTHeader = "Authorization"
	defaultUpstreamJWTTTL    = 300
	maxUpstreamJWTTTL        = 86400
)

// validateUpstreamJWT checks the upstream_jwt fields into s.
func (c *Config) validateUpstreamJWT(s *settings) error {
	s.upstreamJWT = boolOr(c.UpstreamJWT)
	s.jwtHeader, s.jwtTTL = defaultUpstreamJWTHeader, defaultUpstreamJWTTTL
	if c.UpstreamJWTHeader != nil {
		h := *c.UpstreamJWTHeader
		if !isHeaderName(h) {
			return errors.New("upstream_jwt_header: must be a header name")
		}
		for _, id := range [...]string{hConsumerID, hConsumerCustomID, hConsumerUsername, hCredentialID, hAnonymous, hAuthenticatedScope, hAuthenticatedUserID} {
			if strings.EqualFold(h, id) {
				return fmt.Errorf("upstream_jwt_header: %s is an identity header the plugin sets itself", id)
			}
		}
		s.jwtHeader = http.CanonicalHeaderKey(h)
	}
	if strings.EqualFold(s.jwtHeader, s.authHeader) {
		// One spelling, so that the JWT and hide_credentials' removal of
		// the token are one entry of Decision.Upstream, not two that a
		// front could apply in either order.
		s.jwtHeader = s.authHeader
	}
	if c.UpstreamJWTTTL != nil {
		if *c.UpstreamJWTTTL < 1 || *c.UpstreamJWTTTL > maxUpstreamJWTTTL {
			return fmt.Errorf("upstream_jwt_ttl: value should be between 1 and %d", maxUpstreamJWTTTL)
		}
		s.jwtTTL = int64(*c.UpstreamJWTTTL)
	}
	// A config checked without an engine (serve mode's config file, before
	// the keys are loaded) is checked again once bound to one.
	if s.upstreamJWT && c.engine != nil && c.engine.opt.Signer == nil {
		return errors.New("upstream_jwt: the server has no signing key (start it with -signing-key FILE and -issuer URL)")
	}
	return nil
}

// isHeaderName: an RFC 9110 §5.1 field name (a token).
func isHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// mintedJWT is a signed upstream JWT, kept with its cached token.
type mintedJWT struct {
	header   []string // {"Bearer " + jwt}: the Decision.Upstream value, shared
	jwt      string   // header[0] without "Bearer " (the same bytes)
	aud      string
	ttl      int64
	exp      int64    // unix seconds
	capped   bool     // exp is the opaque token's own end: minting again gains nothing
	consumer Consumer // the claims' consumer: a changed one is signed anew
}

// reusable reports whether m can be sent again at now for aud under ttl.
// It is re-minted once less than a quarter of its lifetime (at most 30 s)
// is left, so that a JWT sent upstream has time to be verified there.
func (m *mintedJWT) reusable(aud string, ttl, now int64) bool {
	if m.aud != aud || m.ttl != ttl || now >= m.exp {
		return false
	}
	return m.capped || m.exp-now > min(ttl/4, 30)
}

// jwtClaims is the RFC 9068 §2.2 claims set, plus the consumer as private
// claims (RFC 7519 §4.3).
type jwtClaims struct {
	Iss              string `json:"iss"`
	Sub              string `json:"sub"`
	Aud              string `json:"aud"`
	Exp              int64  `json:"exp"`
	Iat              int64  `json:"iat"`
	Jti              string `json:"jti"`
	ClientID         string `json:"client_id"`
	Scope            string `json:"scope,omitempty"`
	ConsumerID       string `json:"consumer_id"`
	ConsumerUsername string `json:"consumer_username,omitempty"`
	ConsumerCustomID string `json:"consumer_custom_id,omitempty"`
}

// setUpstreamJWT puts the upstream JWT of a validated request in
// r.d.Upstream under the configured header, from the token's memo (kept
// with its cache entry) when one there is fresh, else signed now and kept
// there.
func (r *request) setUpstreamJWT(id *identity, memo *tokenMemo) (*mintedJWT, error) {
	aud := id.token.ServiceID
	if aud == "" { // a global token: the service it is used on
		var err error
		if aud, err = r.serviceID(); err != nil {
			return nil, err
		}
	}
	now := r.validAt
	m := memo.jwt.Load()
	// The consumer's entry is refreshed from the gateway (renamed, another
	// custom_id): its headers follow at once, and so must its claims.
	if m == nil || !m.reusable(aud, r.s.jwtTTL, now) || m.consumer != id.consumer.consumer {
		var err error
		if m, err = r.mintJWT(id, aud, now); err != nil {
			return nil, err
		}
		memo.jwt.Store(m)
	}
	r.d.Upstream[r.s.jwtHeader] = m.header
	r.d.UpstreamJWTHeader = r.s.jwtHeader
	r.d.UpstreamJWT = m.jwt
	return m, nil
}

// mintJWT signs the JWT of id for aud at now: it ends at now + ttl, or
// with the opaque token if that is sooner (RFC 9068 §2.2: exp; the JWT
// must never let the upstream accept a caller whose token has ended).
func (r *request) mintJWT(id *identity, aud string, now int64) (*mintedJWT, error) {
	signer := r.e.opt.Signer
	if signer == nil {
		return nil, errors.New("upstream_jwt: no signing key") // validateUpstreamJWT refuses this config
	}
	t := &id.token
	exp, capped := now+r.s.jwtTTL, false
	if t.ExpiresIn > 0 {
		// The opaque token is valid while now - issued_at <= expires_in,
		// so through the whole second end: in that second the JWT ends
		// with it, at end+1 (RFC 7519 §4.1.4: exp is the first instant it
		// is refused), rather than being refused upstream at once and
		// signed anew on every request.
		if end := t.IssuedAt.Unix() + t.ExpiresIn; end <= exp {
			exp, capped = max(end, now+1), true
		}
	}
	sub := t.AuthenticatedUserID
	if sub == "" {
		sub = t.ClientID // RFC 9068 §2.2: no resource owner, the client
	}
	c := id.consumer.consumer
	payload, err := json.Marshal(jwtClaims{
		Iss: signer.Issuer(), Sub: sub, Aud: aud, Exp: exp, Iat: now, Jti: rand.Text(),
		ClientID: t.ClientID, Scope: t.Scope,
		ConsumerID: c.ID, ConsumerUsername: c.Username, ConsumerCustomID: c.CustomID,
	})
	if err != nil {
		return nil, err
	}
	jwt, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("signing the upstream JWT: %w", err)
	}
	bearer := "Bearer " + jwt
	return &mintedJWT{header: []string{bearer}, jwt: bearer[len("Bearer "):], aud: aud, ttl: r.s.jwtTTL, exp: exp, capped: capped, consumer: c}, nil
}

// jwksPath reports a path ending in /oauth2/jwks (optionally with "/"):
// Kong mode's JWKS endpoint on any route of the plugin, as the token
// endpoint is.
func jwksPath(p string) bool {
	return strings.HasSuffix(strings.TrimSuffix(p, "/"), "/oauth2/jwks")
}

// jwksMaxAge is how long a verifier may cache the JWKS: a key must be
// published at least this long before it signs (docs/upstream-jwt.md,
// rotation), so it is kept short.
const jwksMaxAge = 300

// JWKSResponse is the answer to GET of the JWKS (Kong <route>/oauth2/jwks,
// serve /.well-known/jwks.json), or nil when the server has no signing
// key. RFC 7517 §8.5.1 registers its media type.
func (e *Engine) JWKSResponse() *Response {
	if e.opt.Signer == nil {
		return nil
	}
	return &Response{Status: 200, Body: e.opt.Signer.JWKS(), Header: map[string][]string{
		"Content-Type":  {"application/jwk-set+json"},
		"Cache-Control": {fmt.Sprintf("public, max-age=%d", jwksMaxAge)},
	}}
}

// jwksEndpoint answers Kong mode's <route>/oauth2/jwks.
func (r *request) jwksEndpoint() error {
	method, err := r.k.Method()
	if err != nil {
		return readErr("method", err)
	}
	// Counted with the client endpoints (Decision.Endpoint), as allowed.
	r.d.Endpoint, r.d.Outcome = endpointJWKS, OutcomeAllowed
	if method != "GET" && method != "HEAD" {
		r.d.Outcome = OutcomeInvalidMethod
		r.exit(405, mustJSON(map[string]string{"message": "Method not allowed"}),
			map[string][]string{"Content-Type": {contentTypeJSON}, "Allow": {"GET, HEAD"}})
		return nil
	}
	r.d.Answer = r.e.JWKSResponse()
	return nil
}

// endpointJWKS is Decision.Endpoint of the JWKS endpoint.
const endpointJWKS = "jwks"

package plugin

import (
	"log/slog"
	"strings"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// extracted is the access token of a proxied request and what
// hide_credentials must strip from the upstream request.
type extracted struct {
	token      string
	fromHeader bool
	newQuery   *string // the query without access_token; nil = unchanged
	newBody    []byte  // the form body without access_token; nil = unchanged
}

// extractToken follows Kong's parse_access_token (kong/BEHAVIOUR.md
// §4.2; RFC 6750 §2): the auth header wins; "Bearer t" or "token t", else
// the raw header value. Only without the header are the access_token
// query argument (RFC 6750 §2.3) and, for POST/PUT/PATCH, the body
// argument (§2.2) read, the body winning.
//
// A header present but empty is treated as absent: Kong.Header cannot tell
// them apart.
func (r *request) extractToken() (extracted, error) {
	h, err := r.k.Header(r.s.authHeader)
	if err != nil {
		return extracted{}, readErr("header", err)
	}
	if h != "" {
		return extracted{token: headerToken(h), fromHeader: true}, nil
	}

	var ex extracted
	method, err := r.k.Method()
	if err != nil {
		return ex, readErr("method", err)
	}
	rawQuery, err := r.k.RawQuery()
	if err != nil {
		return ex, readErr("raw query", err)
	}
	var tok any
	if qp, err := parseArgs(rawQuery); err == nil { // too many arguments: no token from there
		tok = qp["access_token"]
	}
	if r.s.hide {
		if q, changed := stripArg(rawQuery, "access_token"); changed {
			ex.newQuery = &q
		}
	}

	if method != "GET" && method != "HEAD" {
		ct, err := r.k.Header("content-type")
		if err != nil {
			return ex, readErr("header", err)
		}
		bodyMethod := method == "POST" || method == "PUT" || method == "PATCH"
		kind := bodyKindOf(ct)
		stripForm := r.s.hide && isFormContentType(ct)
		if (bodyMethod && kind != bodyNone) || stripForm {
			body, err := r.k.RawBody()
			if err != nil {
				return ex, readErr("raw body", err)
			}
			// Larger bodies are not searched for a token (nor stripped).
			if len(body) <= r.e.opt.MaxBodyBytes {
				if bodyMethod {
					if bp, err := parseBody(kind, ct, body); err == nil && bp != nil {
						if v, ok := bp["access_token"]; ok {
							tok = v
						}
					}
				}
				if stripForm {
					if b, changed := stripArg(string(body), "access_token"); changed {
						ex.newBody = []byte(b)
					}
				}
			}
		}
	}
	ex.token, _ = tok.(string) // a repeated argument is not a token
	return ex, nil
}

// headerToken is the token of an auth header: t in "Bearer t" or
// "token t" (exactly two Lua %S+ fields, the scheme in any case), else the
// whole value. Same result as splitting with luaFields, without
// allocating: this runs on every request.
func headerToken(h string) string {
	scheme, rest := nextField(h)
	tok, rest := nextField(rest)
	if extra, _ := nextField(rest); tok == "" || extra != "" {
		return h
	}
	if strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token") {
		return tok
	}
	return h
}

// nextField returns the first run of non-Lua-whitespace bytes of s and
// what follows it. Lua's %s is ASCII-only, so bytes suffice.
func nextField(s string) (field, rest string) {
	i := 0
	for i < len(s) && isLuaSpace(rune(s[i])) {
		i++
	}
	j := i
	for j < len(s) && !isLuaSpace(rune(s[j])) {
		j++
	}
	return s[i:j], s[j:]
}

// identity is what a valid token authenticates. It stays on the stack:
// the upstream header values live in the token's memo (tokenMemo).
type identity struct {
	token    oauth.AccessToken
	consumer *consumerEntry
	cred     Credential
}

// tokenByAccess finds the access token tok (digest access): from the
// cache (with its memo, r.memo), else from the store if lookupGate allows
// (unknown_budget.go).
func (r *request) tokenByAccess(tok string, access oauth.Digest) (oauth.AccessToken, error) {
	if c, ok := r.e.opt.Store.(jwtCache); ok {
		if t, v, ok := c.CachedAccessAttached(access); ok {
			r.memo, _ = v.(*tokenMemo)
			return t, nil
		}
	} else if m, ok := r.e.opt.Store.(CachedLookup); ok {
		if t, ok := m.CachedAccess(access); ok {
			return t, nil
		}
	}
	ticket, err := r.lookupGate(tok)
	if err != nil {
		return oauth.AccessToken{}, err
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	defer cancel()
	t, err := r.e.opt.Store.TokenByAccess(ctx, access)
	r.settle(ticket, err == nil)
	if err != nil {
		return oauth.AccessToken{}, err
	}
	return t.AccessToken(), nil
}

func (r *request) client(id string) (oauth.Client, error) {
	if m, ok := r.e.opt.Store.(CachedLookup); ok {
		if c, ok := m.CachedClient(id); ok {
			return c, nil
		}
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	defer cancel()
	return r.e.opt.Store.Client(ctx, id)
}

// authFailure is a failed validation: the error to answer and whether it
// ends the request even in anonymous mode.
type authFailure struct {
	err      *Error
	terminal bool
	global   bool   // the special body for a global token (§4.3 step 2a)
	outcome  string // Decision.Outcome
}

var (
	failMissing = &authFailure{err: ErrInvalidRequest.WithDescription(descMissingToken).WithStatus(401), outcome: OutcomeMissingToken}
	failInvalid = &authFailure{err: ErrInvalidToken, outcome: OutcomeInvalidToken}
	failExpired = &authFailure{err: ErrInvalidToken, outcome: OutcomeExpired}
	failGlobal  = &authFailure{err: ErrInvalidToken.WithDescription(descGlobalToken), terminal: true, global: true, outcome: OutcomeInvalidToken}
	failStore   = &authFailure{err: ErrTemporarilyUnavailable, terminal: true, outcome: OutcomeStoreUnavailable}
)

// validate checks an access token (kong/BEHAVIOUR.md).
// There is no scope enforcement on proxied requests: the scope is only
// forwarded upstream.
func (r *request) validate(tok string) (id identity, _ *authFailure, _ error) {
	if tok == "" {
		return id, failMissing, nil
	}
	r.access = oauth.DigestOf(tok)
	t, err := r.tokenByAccess(tok, r.access)
	if err != nil {
		if gw, ok := asGatewayError(err); ok {
			return id, nil, gw
		}
	}
	switch {
	case isNotFound(err):
		return id, failInvalid, nil
	case err != nil:
		r.logStoreFailed("loading an access token", err)
		return id, failStore, nil
	}
	r.clientID = t.ClientID
	if t.Revoked {
		return id, failInvalid, nil
	}
	if !r.s.global && t.ServiceID == "" {
		return id, failGlobal, nil
	}
	if t.ServiceID != "" {
		svc, err := r.serviceID()
		if err != nil {
			return id, nil, err
		}
		if t.ServiceID != svc {
			return id, failInvalid, nil
		}
	}
	now := r.e.now()
	r.validAt = now.Unix()
	if t.AccessExpired(now) {
		return id, failExpired, nil
	}

	client, err := r.client(t.ClientID)
	switch {
	case isNotFound(err):
		return id, failInvalid, nil // client deleted: its tokens die with it
	case err != nil:
		r.logStoreFailed("loading a client", err)
		return id, failStore, nil
	}
	consumer, fresh, err := r.e.consumers.entry(r.cs, r.s.workspaceID, client.Consumer)
	if err != nil {
		return id, nil, consumerErr(err)
	}
	if !consumer.found {
		if fresh {
			r.log(slog.LevelWarn, msgUnknownConsumer, slog.String("consumer", client.Consumer))
		}
		return id, failInvalid, nil
	}
	return identity{token: t, consumer: consumer,
		cred: Credential{ID: client.ID, ConsumerID: consumer.consumer.ID}}, nil, nil
}

// bearer validates the token of a proxied request and authenticates its
// consumer, or falls back to the anonymous consumer (logical OR).
func (r *request) bearer() error {
	if r.s.anonymous != "" {
		has, err := r.cs.HasCredential()
		if err != nil {
			return consumerErr(err)
		}
		if has {
			// A higher-priority auth plugin already authenticated the
			// request: only clear what a client could have spoofed.
			h := newHeaderMap()
			h[hAuthenticatedScope] = clearHeader
			h[hAuthenticatedUserID] = clearHeader
			if r.s.upstreamJWT {
				h[r.s.jwtHeader] = clearHeader // only our own JWT may reach the upstream there
			}
			r.d.Upstream = h
			r.d.Outcome = OutcomeOtherCredential
			return nil
		}
	}
	ex, err := r.extractToken()
	if err != nil {
		return err
	}
	id, fail, err := r.validate(ex.token)
	if err != nil {
		return err
	}
	if fail != nil {
		if r.s.anonymous != "" && !fail.terminal {
			return r.anonymousConsumer(ex)
		}
		r.exitBearerError(fail)
		return nil
	}
	r.d.Authenticate, r.d.Consumer, r.d.Credential = true, id.consumer.consumer, id.cred
	r.d.AuthenticatedUserID, r.d.Scope = id.token.AuthenticatedUserID, id.token.Scope
	r.d.Outcome = OutcomeAllowed
	memo := r.tokenMemo(&id)
	r.applyUpstream(authenticatedHeaders(id.consumer, memo), ex)
	key := memoKey{s: r.s, consumer: id.consumer, fromHeader: ex.fromHeader}
	if r.s.upstreamJWT {
		m, err := r.setUpstreamJWT(&id, memo)
		if err != nil {
			return err
		}
		key.jwt = m
	}
	if r.d.UpstreamQuery == nil && r.d.UpstreamBody == nil {
		r.d.memo, r.d.memoKey = memo, key
	}
	return nil
}

// exitBearerError answers a failed validation with an RFC 6750 §3
// challenge. The global-token case keeps Kong's generic header text.
func (r *request) exitBearerError(f *authFailure) {
	r.d.Outcome = f.outcome
	h := map[string][]string{"Content-Type": {contentTypeJSON}}
	switch {
	case f == failMissing:
		// RFC 6750 §3.1: no error code when the request lacks credentials.
		h["WWW-Authenticate"] = []string{bearerChallenge(r.s.realm, nil)}
	case f.global:
		h["WWW-Authenticate"] = []string{bearerChallenge(r.s.realm, ErrInvalidToken)}
	case f.err.Status == 503:
		h["WWW-Authenticate"] = []string{bearerChallenge(r.s.realm, nil)}
		h["Retry-After"] = []string{"1"}
	default:
		h["WWW-Authenticate"] = []string{bearerChallenge(r.s.realm, f.err)}
	}
	r.exit(f.err.Status, mustJSON(errorResponse{f.err.Code, f.err.Description, nil}), h)
}

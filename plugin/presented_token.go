package plugin

import (
	"errors"
	"fmt"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// presented is a token named by the token parameter of a revocation or
// introspection request.
type presented struct {
	token     oauth.Token
	isRefresh bool // the parameter was the token's refresh token
	digest    oauth.Digest
}

// errNoSuchToken: the token is unknown here (never issued, purged, or
// bound to another service); revocation and introspection answer it like
// an unknown token. errOverBudget: the token could not be checked and the
// address has spent its lookups (unknown_budget.go). Other errors wrap
// errUnavailable when the store failed.
var errNoSuchToken = errors.New("no such token")

// presentedToken reads the token parameter of a revocation or
// introspection request (c) and finds it. When it cannot, the request is
// answered and ok is false: a missing parameter is invalid_request, an
// unknown token gets the endpoint's own answer (unknown), a store failure
// 503. A token the address may not look up now is 429 slow_down with
// Retry-After, not the unknown answer: a 200 to a revocation would tell
// the client its token is gone (RFC 7009 §2.2) when it was not looked at,
// and active:false would call a live token dead.
func (r *request) presentedToken(c clientCall, unknown func()) (found presented, ok bool, err error) {
	tok, _ := c.p.str("token")
	if tok == "" {
		r.exitTokenError(ErrInvalidRequest.WithDescription(descMissingTokenParam), c.state)
		return found, false, nil
	}
	hint, _ := c.p.str("token_type_hint")
	found, err = r.findPresented(tok, hint)
	switch {
	case errors.Is(err, errNoSuchToken):
		unknown()
		return found, false, nil
	case errors.Is(err, errOverBudget):
		ip, err := r.clientAddr()
		if err != nil {
			return found, false, err
		}
		r.exitSlowDown(r.e.unknown.retryIn(addressKey(ip)), c.state)
		return found, false, nil
	case errors.Is(err, errUnavailable):
		r.storeFailed("loading a presented token", err, c.state)
		return found, false, nil
	case err != nil:
		return found, false, err
	}
	return found, true, nil
}

// findPresented looks the token up as an access token and as a refresh
// token, in the order token_type_hint suggests (RFC 7009 §2.1, RFC 7662
// §2.1: a wrong or unknown hint only costs a second lookup). A token bound
// to another service, or a global token on a plugin without
// global_credentials, is errNoSuchToken.
func (r *request) findPresented(tok, hint string) (presented, error) {
	d := oauth.DigestOf(tok)
	// A presented token is gated like a bearer token (unknown_budget.go):
	// one budget lookup covers both of its lookups, and is given back when
	// the token is found. Past the budget a cached access token, one in
	// use here, is still found (cache hits come first); the cache is asked
	// only then, so that a hit is not counted twice.
	ticket, err := r.mayLookUp(tok)
	switch {
	case errors.Is(err, errOverBudget):
		if !r.cachedAccess(d) {
			return presented{}, err
		}
		ticket = lookupTicket{}
	case err != nil:
		return presented{}, gatewayError{err}
	}
	lookups := []func() (oauth.Token, bool, error){r.byAccess(d), r.byRefresh(d)}
	if hint == "refresh_token" {
		lookups[0], lookups[1] = lookups[1], lookups[0]
	}
	for _, lookup := range lookups {
		t, isRefresh, err := lookup()
		if errors.Is(err, oauth.ErrNotFound) {
			continue
		}
		r.settle(ticket, err == nil)
		if err != nil {
			return presented{}, fmt.Errorf("%w: %w", errUnavailable, err)
		}
		ok, err := r.boundHere(t.ServiceID)
		if err != nil {
			return presented{}, err
		}
		if !ok {
			return presented{}, errNoSuchToken
		}
		return presented{token: t, isRefresh: isRefresh, digest: d}, nil
	}
	r.settle(ticket, false)
	return presented{}, errNoSuchToken
}

// cachedAccess reports whether the access token of digest d is cached.
func (r *request) cachedAccess(d oauth.Digest) bool {
	m, ok := r.e.opt.Store.(CachedLookup)
	if !ok {
		return false
	}
	_, ok = m.CachedAccess(d)
	return ok
}

func (r *request) byAccess(d oauth.Digest) func() (oauth.Token, bool, error) {
	return func() (oauth.Token, bool, error) {
		ctx, cancel := r.e.storeCtx(r.ctx)
		defer cancel()
		t, err := r.e.opt.Store.TokenByAccess(ctx, d)
		return t, false, err
	}
}

func (r *request) byRefresh(d oauth.Digest) func() (oauth.Token, bool, error) {
	return func() (oauth.Token, bool, error) {
		ctx, cancel := r.e.storeCtx(r.ctx)
		defer cancel()
		t, err := r.e.opt.Store.TokenByRefresh(ctx, d)
		return t, true, err
	}
}

// boundHere reports whether a token bound to svc ("" = global) may be used
// on this plugin: a global token only where global_credentials is set, a
// service token only on its own service (kong/BEHAVIOUR.md).
func (r *request) boundHere(svc string) (bool, error) {
	if svc == "" {
		return r.s.global, nil
	}
	cur, err := r.serviceID()
	if err != nil {
		return false, err
	}
	return svc == cur, nil
}

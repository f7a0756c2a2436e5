package plugin

import (
	"errors"
	"log/slog"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// refreshGrant implements RFC 6749 §6 with Kong's checks
// (kong/BEHAVIOUR.md, grant_type=refresh_token) and refresh
// token rotation with replay detection (RFC 6819 §5.2.2.3): presenting a
// refresh token that was already rotated revokes its whole family, since
// either the client or an attacker holds a stolen copy.
func (r *request) refreshGrant(p params, client oauth.Client, state any) error {
	invalid := ErrInvalidRequest.WithDescription(descInvalidRefresh)
	presented, _ := p.str("refresh_token")
	if presented == "" {
		r.exitTokenError(invalid, state)
		return nil
	}
	old := oauth.DigestOf(presented)
	now := r.e.now().UTC().Truncate(time.Second)

	ctx, cancel := r.e.storeCtx(r.ctx)
	t, err := r.e.opt.Store.TokenByRefresh(ctx, old)
	cancel()
	switch {
	case isNotFound(err):
		r.exitInvalidGrant(invalid, state)
		return nil
	case err != nil:
		r.storeFailed("loading a refresh token", err, state)
		return nil
	}
	if t.Revoked {
		if handled, err := r.refreshRetry(t, old, client, now, state); handled || err != nil {
			return err
		}
		return r.refreshReplayed(t.FamilyID, old, invalid, state)
	}
	if t.RefreshExpired(now) {
		r.exitInvalidGrant(invalid, state)
		return nil
	}

	// c. Service. A global plugin accepts any refresh token and mints a
	// global one (Kong); a service plugin accepts only its own service's,
	// and refuses a global one (Kong crashes there; §9).
	svc := ""
	if !r.s.global {
		if svc, err = r.serviceID(); err != nil {
			return err
		}
		if t.ServiceID == "" || t.ServiceID != svc {
			r.exitInvalidGrant(invalid, state)
			return nil
		}
	}
	// d. The refresh token is bound to the client it was issued to
	// (RFC 6749 §6).
	if t.ClientID != client.ID {
		r.exitTokenError(ErrInvalidClient, state)
		return nil
	}
	// e. The token's scope must still be allowed by this plugin.
	for _, s := range luaFields(t.Scope) {
		if !contains(r.s.scopes, s) {
			r.exitTokenError(ErrInvalidScope.WithDescription(descScopeMismatch), state)
			return nil
		}
	}

	if r.s.reuseRefresh {
		return r.reissueAccess(old, presented, now, invalid, state)
	}

	next, access, refresh, err := r.newToken(client.ID, svc, t.AuthenticatedUserID, t.Scope, t.FamilyID, now)
	if err != nil {
		return err
	}
	ctx, cancel = r.e.storeCtx(r.ctx)
	err = r.e.opt.Store.RotateRefresh(ctx, old, next)
	cancel()
	switch {
	case errors.Is(err, oauth.ErrRefreshReused):
		// Lost a race with another use of the same refresh token.
		if handled, err := r.refreshRetry(t, old, client, now, state); handled || err != nil {
			return err
		}
		return r.refreshReplayed(t.FamilyID, old, invalid, state)
	case errors.Is(err, oauth.ErrClientGone):
		r.exitTokenError(ErrInvalidClient, state)
		return nil
	case isNotFound(err):
		r.exitInvalidGrant(invalid, state)
		return nil
	case err != nil:
		r.storeFailed("rotating a refresh token", err, state)
		return nil
	}
	r.exitToken(access, refresh, state)
	return nil
}

// reissueAccess serves reuse_refresh_token: a new access token on the same
// row (the old access token stops working), the same refresh token, and a
// refresh lifetime that slides to now + refresh_token_ttl.
func (r *request) reissueAccess(old oauth.Digest, presented string, now time.Time, invalid *Error, state any) error {
	access, err := r.newSecretToken()
	if err != nil {
		return err
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	err = r.e.opt.Store.ReissueAccess(ctx, old, oauth.DigestOf(access), now, r.s.tokenExp, r.refreshExpiry(now))
	cancel()
	switch {
	case isNotFound(err), errors.Is(err, oauth.ErrRefreshReused):
		r.exitInvalidGrant(invalid, state)
		return nil
	case err != nil:
		r.storeFailed("reissuing an access token", err, state)
		return nil
	}
	r.exitToken(access, presented, state)
	return nil
}

// refreshReplayed revokes every token of the family and refuses the
// request with the same answer as for an unknown refresh token.
func (r *request) refreshReplayed(family string, old oauth.Digest, invalid *Error, state any) error {
	rev := oauth.Revocation{FamilyID: family}
	if family == "" {
		rev = oauth.Revocation{Refresh: &old} // the store revokes the family of that token
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	_, err := r.e.opt.Store.Revoke(ctx, rev)
	cancel()
	if err != nil {
		r.storeFailed("revoking a token family", err, state)
		return nil
	}
	r.log(slog.LevelWarn, msgRefreshReplayed, slog.String("family", family))
	r.d.Outcome = OutcomeRefreshReplayed
	r.exitTokenError(invalid, state)
	return nil
}

// exitInvalidGrant refuses a refresh token that is unknown, expired,
// revoked or not valid here: RFC 6749 §5.2 calls that invalid_grant (Kong
// answers invalid_request, and so do we; the outcome says what it was).
func (r *request) exitInvalidGrant(e *Error, state any) {
	r.d.Outcome = OutcomeInvalidGrant
	r.exitTokenError(e, state)
}

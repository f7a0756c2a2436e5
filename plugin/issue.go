package plugin

import (
	"errors"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// newToken mints an access token (and a refresh token unless tokens never
// expire) and the row that stores only their digests.
func (r *request) newToken(clientID, svc, uid, scope, family string, now time.Time) (t oauth.Token, access, refresh string, err error) {
	if access, err = r.newSecretToken(); err != nil {
		return
	}
	t = oauth.Token{
		Access:              oauth.DigestOf(access),
		ClientID:            clientID,
		ServiceID:           svc,
		AuthenticatedUserID: uid,
		Scope:               scope,
		IssuedAt:            now,
		ExpiresIn:           r.s.tokenExp,
		FamilyID:            family,
	}
	// token_expiration = 0: the access token never expires, so Kong issues
	// no refresh token.
	if r.s.tokenExp > 0 {
		if refresh, err = r.newSecretToken(); err != nil {
			return
		}
		d := oauth.DigestOf(refresh)
		t.Refresh = &d
		t.RefreshExpiresAt = r.refreshExpiry(now)
	}
	return
}

// refreshExpiry is now + refresh_token_ttl; zero (never) when the ttl is 0.
func (r *request) refreshExpiry(now time.Time) time.Time {
	if r.s.refreshTTL == 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(r.s.refreshTTL) * time.Second)
}

// issue stores a new token and answers it. A token is answered only once
// the store has committed it.
func (r *request) issue(clientID, svc, uid, scope, family string, state any) error {
	now := r.e.now().UTC().Truncate(time.Second)
	t, access, refresh, err := r.newToken(clientID, svc, uid, scope, family, now)
	if err != nil {
		return err
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	defer cancel()
	if err := r.e.opt.Store.CreateToken(ctx, t); err != nil {
		if errors.Is(err, oauth.ErrClientGone) {
			// The client was deleted (perhaps on another node) since it
			// authenticated: it is gone, the store is not down.
			r.exitTokenError(ErrInvalidClient, state)
			return nil
		}
		r.storeFailed("storing a token", err, state)
		return nil
	}
	r.exitToken(access, refresh, state)
	return nil
}

// storeFailed answers 503 temporarily_unavailable (RFC 6749 §5.2) for a
// store error on the token endpoint.
func (r *request) storeFailed(what string, err error, state any) {
	r.logStoreFailed(what, err)
	r.exitTokenError(ErrTemporarilyUnavailable, state)
}

// isNotFound reports the store's "no such row".
func isNotFound(err error) bool { return errors.Is(err, oauth.ErrNotFound) }

package plugin

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// RefreshReuser is the store extension refresh_token_grace_period needs
// (store.Lazy and store.Cached implement it): when a rotated refresh token
// was first used (its successor issued) and whether its family still has
// a token that is not revoked. A store without it has no grace period.
type RefreshReuser interface {
	RefreshReuse(ctx context.Context, old oauth.Digest) (firstUse time.Time, alive bool, err error)
}

// refreshRetry serves a rotated refresh token presented again. RFC 6819
// §5.2.2.3 has the server revoke the family: the client or an attacker
// holds a copy. But the commonest second use is the client itself
// retrying a refresh whose answer it never got (a dropped connection, a
// timeout, a failover): revoking then logs the user out. Within
// refresh_token_grace_period seconds of the first use, by the same client,
// at the same service, with a family still alive, the retry gets a new
// pair in the same family (we keep only digests, so the first answer
// cannot be sent again); the pair the client never received stays valid
// until it expires or the family is revoked. Past the window, or with
// the period 0 (the default, Kong's behaviour), reuse revokes the family.
//
// handled is false when the retry does not qualify: the caller revokes
// the family as before.
func (r *request) refreshRetry(t oauth.Token, old oauth.Digest, client oauth.Client, now time.Time, state any) (handled bool, err error) {
	g, ok := r.e.opt.Store.(RefreshReuser)
	if r.s.refreshGrace <= 0 || !ok || t.ClientID != client.ID || t.RefreshExpired(now) {
		return false, nil
	}
	svc := ""
	if !r.s.global {
		if svc, err = r.serviceID(); err != nil {
			return true, err
		}
		if t.ServiceID == "" || t.ServiceID != svc {
			return false, nil
		}
	}
	for _, s := range luaFields(t.Scope) {
		if !contains(r.s.scopes, s) {
			return false, nil
		}
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	first, alive, err := g.RefreshReuse(ctx, old)
	cancel()
	switch {
	case isNotFound(err):
		return false, nil
	case err != nil:
		r.storeFailed("reading a refresh token family", err, state)
		return true, nil
	}
	if !alive || now.Sub(first) > r.s.refreshGrace {
		return false, nil
	}
	next, access, refresh, err := r.newToken(client.ID, svc, t.AuthenticatedUserID, t.Scope, t.FamilyID, now)
	if err != nil {
		return true, err
	}
	ctx, cancel = r.e.storeCtx(r.ctx)
	err = r.e.opt.Store.CreateToken(ctx, next)
	cancel()
	switch {
	case errors.Is(err, oauth.ErrClientGone):
		r.exitTokenError(ErrInvalidClient, state)
		return true, nil
	case err != nil:
		// Committed or not, this answer carries no token (a token
		// committed but never answered is simply never used).
		r.storeFailed("storing a token", err, state)
		return true, nil
	}
	r.log(slog.LevelInfo, msgRefreshRetried, slog.String("family", t.FamilyID))
	r.exitToken(access, refresh, state)
	return true, nil
}

const msgRefreshRetried = "used refresh token presented again within refresh_token_grace_period; a new pair issued in the same family"

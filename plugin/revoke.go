package plugin

import (
	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// Descriptions of the revocation and introspection endpoints.
const (
	descMissingTokenParam = "Missing token parameter"
	descNotYourToken      = "The token was not issued to this client"
)

// ErrUnauthorizedClient (RFC 6749 §5.2): the authenticated client may not
// do this with this token.
var ErrUnauthorizedClient = &Error{"unauthorized_client", "The client is not authorized for this request", 400}

// revokeEndpoint implements POST .../oauth2/revoke (RFC 7009). The client
// authenticates as at the token endpoint. RFC 7009 §2.2: "The
// authorization server responds with HTTP status code 200 if the token has
// been revoked successfully or if the client submitted an invalid token",
// so an unknown token (or one of another service) is a 200 that changes
// nothing. A token issued to another client is refused (§2.1).
//
// Revoking a refresh token revokes every token of its grant; revoking an
// access token revokes the row that holds it, and so its refresh token too
// (§2.1 allows both).
func (r *request) revokeEndpoint() error {
	r.d.Endpoint = endpointRevoke
	c, ok, err := r.clientCall("revocation", nil)
	if err != nil || !ok {
		return err
	}
	found, ok, err := r.presentedToken(c, r.exitRevoked)
	if err != nil || !ok {
		return err
	}
	if found.token.ClientID != c.client.ID {
		r.exitTokenError(ErrUnauthorizedClient.WithDescription(descNotYourToken), c.state)
		return nil
	}
	rev := oauth.Revocation{Access: &found.digest}
	if found.isRefresh {
		rev = oauth.Revocation{Refresh: &found.digest}
	}
	ctx, cancel := r.e.storeCtx(r.ctx)
	_, err = r.e.opt.Store.Revoke(ctx, rev)
	cancel()
	if err != nil {
		r.storeFailed("revoking a token", err, c.state)
		return nil
	}
	r.exitRevoked()
	return nil
}

// exitRevoked is RFC 7009 §2.2's answer: 200; the body is ignored by
// clients, so there is none.
func (r *request) exitRevoked() {
	r.d.Outcome = OutcomeRevoked
	r.exit(200, nil, map[string][]string{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}})
}

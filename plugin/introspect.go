package plugin

import (
	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// descPublicIntrospect refuses introspection to a public client: its
// client_id is no secret, and RFC 7662 §4 asks that the endpoint require
// authorization so that it cannot be used to scan for tokens.
const descPublicIntrospect = "Public clients may not introspect tokens"

// introspection is the RFC 7662 §2.2 answer. An inactive token is
// {"active":false} and nothing else: "the authorization server SHOULD NOT
// include any additional information about an inactive token".
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
}

// introspectEndpoint implements POST .../oauth2/introspect (RFC 7662). The
// caller authenticates as a confidential client of this service, as at the
// token endpoint. A token is active when it would be accepted on this
// service now: known, not revoked or expired, bound to this service (or
// global where global_credentials is set), its client and consumer still
// there, and the caller may see it (mayIntrospect). sub is the
// authenticated_userid, username the consumer's.
func (r *request) introspectEndpoint() error {
	r.d.Endpoint = endpointIntrospect
	c, ok, err := r.clientCall("introspection", nil)
	if err != nil || !ok {
		r.introspectionUnauthorized(c)
		return err
	}
	if c.client.Type == oauth.Public {
		r.exitTokenError(ErrUnauthorizedClient.WithDescription(descPublicIntrospect), c.state)
		return nil
	}
	found, ok, err := r.presentedToken(c, func() { r.exitIntrospection(introspection{}) })
	if err != nil || !ok {
		return err
	}
	t := found.token
	if may, err := r.mayIntrospect(c.client, t.ClientID); err != nil || !may {
		if err == nil {
			r.exitIntrospection(introspection{})
		}
		return err
	}
	now := r.e.now()
	if t.Revoked || (!found.isRefresh && t.AccessExpired(now)) || (found.isRefresh && t.RefreshExpired(now)) {
		r.exitIntrospection(introspection{})
		return nil
	}
	owner, err := r.client(t.ClientID)
	switch {
	case isNotFound(err):
		r.exitIntrospection(introspection{}) // client deleted: its tokens died with it
		return nil
	case err != nil:
		r.storeFailed("loading a client", err, c.state)
		return nil
	}
	consumer, _, err := r.e.consumers.entry(r.cs, r.s.workspaceID, owner.Consumer)
	if err != nil {
		return consumerErr(err)
	}
	if !consumer.found {
		r.exitIntrospection(introspection{})
		return nil
	}
	answer := introspection{
		Active:   true,
		Scope:    t.Scope,
		ClientID: t.ClientID,
		Username: consumer.consumer.Username,
		Iat:      t.IssuedAt.Unix(),
		Sub:      t.AuthenticatedUserID,
	}
	if found.isRefresh {
		// RFC 7662 token_type names an access token type (RFC 6749 §5.1);
		// a refresh token has none.
		if !t.RefreshExpiresAt.IsZero() {
			answer.Exp = t.RefreshExpiresAt.Unix()
		}
	} else {
		answer.TokenType = "bearer"
		if t.ExpiresIn > 0 {
			answer.Exp = t.IssuedAt.Unix() + t.ExpiresIn
		}
	}
	r.exitIntrospection(answer)
	return nil
}

// mayIntrospect reports whether caller may learn about a token of client
// owner bound here. RFC 7662 §4: the endpoint must keep a client from
// learning about tokens it has no business with, and "the authorization
// server MAY ... limit which protected resources may query for which
// tokens". A client sees the tokens issued to it; a resource server the
// operator granted this service (`clients grant-introspection`) sees every
// token of the service. Anything else is answered as an unknown token, so
// that a caller cannot tell a token it may not see from one that does not
// exist.
func (r *request) mayIntrospect(caller oauth.Client, owner string) (bool, error) {
	if caller.ID == owner {
		return true, nil
	}
	if len(caller.IntrospectServices) == 0 {
		return false, nil
	}
	svc, err := r.serviceID()
	if err != nil {
		return false, err
	}
	return svc != "" && caller.MayIntrospect(svc), nil
}

// introspectionUnauthorized turns the token endpoint's 400 invalid_client
// (Kong's answer when the credentials came in the body) into 401: RFC 7662
// §2.3 answers a protected resource's invalid credentials "with an HTTP 401
// (Unauthorized) as described in Section 5.2 of OAuth 2.0", with the Basic
// challenge exitTokenError adds to every 401.
func (r *request) introspectionUnauthorized(c clientCall) {
	if r.d.Outcome != OutcomeInvalidClient || r.d.Answer == nil || r.d.Answer.Status != 400 {
		return
	}
	r.exitTokenError(ErrInvalidClient.WithStatus(401), c.state)
}

// exitIntrospection answers 200 with the introspection response; it
// describes a credential, so it is not cached either.
func (r *request) exitIntrospection(a introspection) {
	r.d.Outcome = OutcomeIntrospected
	r.exit(200, mustJSON(a), tokenHeaders())
}

package plugin

// Upstream headers (kong/constants.lua HEADERS), set or cleared on every
// authenticated request so that copies sent by the client never reach the
// upstream (kong-oauth2-behaviour.md §4.4).
const (
	hConsumerID          = "X-Consumer-ID"
	hConsumerCustomID    = "X-Consumer-Custom-ID"
	hConsumerUsername    = "X-Consumer-Username"
	hCredentialID        = "X-Credential-Identifier"
	hAnonymous           = "X-Anonymous-Consumer"
	hAuthenticatedScope  = "X-Authenticated-Scope"
	hAuthenticatedUserID = "X-Authenticated-Userid"
)

// clearHeader removes a header upstream (Kong.SetUpstreamHeaders).
var clearHeader = []string{}

func setOrClear(h map[string][]string, name, value string) {
	if value == "" {
		h[name] = clearHeader
		return
	}
	h[name] = []string{value}
}

func consumerHeaders(c Consumer) map[string][]string {
	h := make(map[string][]string, 8)
	setOrClear(h, hConsumerID, c.ID)
	setOrClear(h, hConsumerCustomID, c.CustomID)
	setOrClear(h, hConsumerUsername, c.Username)
	return h
}

// authenticatedHeaders are the headers of a request with a valid token.
func authenticatedHeaders(id *identity) map[string][]string {
	h := consumerHeaders(id.consumer)
	h[hCredentialID] = []string{id.client.ID}
	h[hAnonymous] = clearHeader
	setOrClear(h, hAuthenticatedScope, id.token.Scope)
	setOrClear(h, hAuthenticatedUserID, id.token.AuthenticatedUserID)
	return h
}

// anonymousHeaders are the headers of a request let through as the
// anonymous consumer.
func anonymousHeaders(c Consumer) map[string][]string {
	h := consumerHeaders(c)
	h[hAnonymous] = []string{"true"}
	h[hCredentialID] = clearHeader
	h[hAuthenticatedScope] = clearHeader
	h[hAuthenticatedUserID] = clearHeader
	return h
}

func (r *request) setHeaders(h map[string][]string) error {
	if err := r.k.SetUpstreamHeaders(h); err != nil {
		return kongErr("set upstream headers", err)
	}
	return nil
}

// applyUpstream sets the headers in one round trip, adding the removal of
// the credential header for hide_credentials, then strips the token from
// the query and form body if it was there (kong-oauth2-behaviour.md §4.2.4).
//
// Unlike Kong, a header used as a token in its raw form (no "Bearer ") is
// removed too: hide_credentials asks that the credential not reach the
// upstream.
func (r *request) applyUpstream(h map[string][]string, ex extracted) error {
	if r.s.hide && ex.fromHeader {
		h[r.s.authHeader] = clearHeader
	}
	if err := r.setHeaders(h); err != nil {
		return err
	}
	if !r.s.hide {
		return nil
	}
	if ex.newQuery != nil {
		if err := r.k.SetUpstreamRawQuery(*ex.newQuery); err != nil {
			return kongErr("set upstream query", err)
		}
	}
	if ex.newBody != nil {
		if err := r.k.SetUpstreamRawBody(ex.newBody); err != nil {
			return kongErr("set upstream body", err)
		}
	}
	return nil
}

package plugin

import (
	"errors"
	"strings"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// tokenEndpoint implements POST .../oauth2/token for the password and
// refresh_token grants (RFC 6749 §4.3, §6), with Kong's check order and
// error precedence (kong/BEHAVIOUR.md): later checks overwrite earlier
// errors, and the grant runs only when none is left.
func (r *request) tokenEndpoint() error {
	r.d.Endpoint = endpointToken
	// Step 2: grant type. Not final: client errors overwrite it.
	var grant string
	c, ok, err := r.clientCall("token", func(p params) *Error {
		grant, _ = p.str("grant_type")
		if grant != "password" && grant != "refresh_token" {
			return ErrUnsupportedGrantType
		}
		return nil
	})
	if err != nil || !ok {
		return err
	}
	r.d.Grant = grant
	if grant == "password" {
		return r.passwordGrant(c.p, c.client, c.state)
	}
	return r.refreshGrant(c.p, c.client, c.state)
}

// clientCall is an authenticated client's request to one of the client
// endpoints (token, revoke, introspect).
type clientCall struct {
	p      params
	state  any // echoed in every answer
	client oauth.Client
}

// clientCall runs the checks the client endpoints share, in Kong's order
// for the token endpoint: method, parameters, HTTPS, the endpoint's own
// first check (pre; its error is not final), then client authentication
// (RFC 6749 §2.3, §3.2.1) behind brute-force throttling. ok is false when
// the request has been answered.
func (r *request) clientCall(endpoint string, pre func(params) *Error) (c clientCall, ok bool, err error) {
	method, err := r.k.Method()
	if err != nil {
		return c, false, readErr("method", err)
	}
	if method != "POST" {
		r.exitInvalidMethod(method, endpoint)
		return c, false, nil
	}

	headers, err := r.k.Headers()
	if err != nil {
		return c, false, readErr("headers", err)
	}
	p, perr, err := r.tokenParams(headers)
	if err != nil {
		return c, false, err
	}
	// Step 0: state is echoed in every response, errors included.
	c.p, c.state = p, p["state"]
	if perr != nil {
		r.exitTokenError(perr, c.state)
		return c, false, nil
	}

	// Step 1: HTTPS (RFC 6749 §3.2 requires TLS at the token endpoint,
	// RFC 7009 §2 and RFC 7662 §4 at the others).
	if e, err := r.checkHTTPS(headers); err != nil || e != nil {
		if err != nil {
			return c, false, err
		}
		r.exitTokenError(e, c.state)
		return c, false, nil
	}

	var oerr *Error
	if pre != nil {
		oerr = pre(p)
	}

	// Steps 3-5: client authentication. Redirect URIs play no part in
	// these endpoints (docs/endpoints.md, where we differ from Kong).
	cc := extractClientCredentials(p, headers[r.s.authHeader])
	r.clientID = cc.logged()
	// Brute-force protection (RFC 6749 §4.3.2): a locked-out client_id is
	// refused, from the address that failed, before its credentials are
	// looked at.
	if locked, err := r.throttled(cc.id, c.state); err != nil || locked {
		return c, false, err
	}
	client, found, err := r.lookupClient(cc.id)
	if err != nil {
		r.exitTokenError(ErrTemporarilyUnavailable, c.state)
		return c, false, nil
	}
	e, answered, err := r.checkClient(client, found, cc, c.state)
	if err != nil || answered {
		return c, false, err
	}
	if e != nil {
		oerr = e
		if errors.Is(e, ErrInvalidClient) {
			if answered, err := r.authFailed(c.state); err != nil || answered {
				return c, false, err
			}
		}
	} else if answered, err := r.authPassed(c.state); err != nil || answered {
		return c, false, err
	}
	if oerr != nil {
		r.exitTokenError(oerr, c.state)
		return c, false, nil
	}
	c.client = client
	return c, true, nil
}

// checkClient is authenticateClient, with a secret kept as a slow hash
// checked under the throttle's reservation and the process's bound on
// slow hashes (slow_work.go). answered is true when the request has been
// answered: 429 (no allowance left for another slow check) or 503 (no
// slot for the hash within the wait).
func (r *request) checkClient(client oauth.Client, found bool, cc clientCredentials, state any) (e *Error, answered bool, err error) {
	secret, isString := cc.secret.(string)
	if !found || client.Type != oauth.Confidential || !isString || !clientsecret.SlowAhead(client, secret) {
		return authenticateClient(client, found, cc), false, nil
	}
	if answered, err := r.reserveAuth(state); err != nil || answered {
		return nil, answered, err
	}
	ctx, cancel := r.slowCtx()
	ok, err := clientsecret.VerifyWithin(ctx, client, secret, oauth.DigestOf(secret))
	cancel()
	if err != nil {
		r.releaseAuth()
		r.exitBusy("client secret hash", state)
		return nil, true, nil
	}
	if !ok {
		return clientAuthError(cc.fromHeader), false, nil
	}
	return nil, false, nil
}

// tokenParams returns the query parameters merged with the body ones (the
// body wins), Kong's retrieve_parameters. perr is a request error to
// answer (body too large, too many parameters); the returned params then
// still hold what could be read, for state.
func (r *request) tokenParams(headers map[string][]string) (params, *Error, error) {
	rawQuery, err := r.k.RawQuery()
	if err != nil {
		return nil, nil, readErr("raw query", err)
	}
	p, qerr := parseArgs(rawQuery)
	if qerr != nil {
		return p, ErrInvalidRequest.WithDescription(descTooManyParams), nil
	}
	ct := first(headers["content-type"])
	kind := bodyKindOf(ct)
	if kind == bodyNone {
		return p, nil, nil // Kong ignores a body it cannot parse
	}
	body, err := r.k.RawBody()
	if err != nil {
		return nil, nil, readErr("raw body", err)
	}
	if len(body) > r.e.opt.MaxBodyBytes {
		return p, ErrInvalidRequest.WithDescription(descBodyTooLarge), nil
	}
	bp, berr := parseBody(kind, ct, body)
	for k, v := range bp {
		p[k] = v
	}
	if berr != nil {
		return p, ErrInvalidRequest.WithDescription(descTooManyParams), nil
	}
	return p, nil, nil
}

// checkHTTPS is Kong's check_https (kong/BEHAVIOUR.md):
// X-Forwarded-Proto counts only with accept_http_if_already_terminated and
// a peer in Kong's trusted_ips.
func (r *request) checkHTTPS(headers map[string][]string) (*Error, error) {
	scheme, err := r.k.Scheme()
	if err != nil {
		return nil, readErr("scheme", err)
	}
	if strings.EqualFold(scheme, "https") {
		return nil, nil
	}
	if !r.s.acceptHTTP {
		return ErrAccessDenied, nil
	}
	// Kong's check_https asks about the direct peer (kong.client.get_ip),
	// not the forwarded address.
	ip, err := r.k.ClientIP()
	if err != nil {
		return nil, readErr("client ip", err)
	}
	trusted, err := r.k.IsTrustedIP(ip)
	if err != nil {
		return nil, readErr("trusted ip", err)
	}
	if !trusted {
		return ErrAccessDenied, nil
	}
	// Repeated headers are joined by nginx with a comma.
	proto := strings.Join(headers["x-forwarded-proto"], ",")
	if strings.Contains(proto, ",") {
		return ErrAccessDenied.WithDescription(descOneForwardProto), nil
	}
	if !strings.EqualFold(strings.TrimSpace(proto), "https") {
		return ErrAccessDenied, nil
	}
	return nil, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

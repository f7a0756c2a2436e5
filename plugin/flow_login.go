package plugin

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// loginBackend is the operator's login backend as the standard password
// grant uses it: it checks a user's credentials and names the user.
// login_backend.go is the HTTP one.
type loginBackend interface {
	// checkLogin returns errLoginRefused when the credentials are wrong,
	// another error when the backend could not answer. The error must not
	// hold the password.
	checkLogin(ctx context.Context, a loginAttempt) (loginResult, error)
}

// loginAttempt is what the backend is asked.
type loginAttempt struct {
	username, password string
	clientID           string
	scope              string            // the requested scope, validated, space-joined
	params             map[string]string // authenticate_params present in the request
}

// loginResult is the backend's answer: the user, and optionally the scope
// it grants (nil: whatever was requested).
type loginResult struct {
	userID string
	scope  *string
}

// errLoginRefused: the backend refused the credentials (401 or 403).
var errLoginRefused = errors.New("login refused")

// Descriptions of the standard grant's request errors.
const (
	descMissingCredentials = "Missing username or password parameter"
	descCredentialsUTF8    = "username and password must be UTF-8 strings"
	descScopeNarrowedAway  = "The user may not be granted any of the requested scopes"
)

// loginGrant is the resource owner password credentials grant as RFC 6749
// §4.3.2 writes it: grant_type=password, username, password (and scope).
// The operator's login backend checks the credentials and names the user;
// we never store or log the password.
func (r *request) loginGrant(p params, client oauth.Client, state any) error {
	user, uok := p.str("username")
	pass, pok := p.str("password")
	if !uok || !pok || user == "" || pass == "" {
		r.exitTokenError(ErrInvalidRequest.WithDescription(descMissingCredentials), state)
		return nil
	}
	// JSON encoding would turn invalid UTF-8 into U+FFFD: two different
	// passwords would reach the backend as one.
	if !utf8.ValidString(user) || !utf8.ValidString(pass) {
		r.exitTokenError(ErrInvalidRequest.WithDescription(descCredentialsUTF8), state)
		return nil
	}
	scope, e := r.requestedScope(p)
	if e != nil {
		r.exitTokenError(e, state)
		return nil
	}
	passed, e := r.loginParams(p)
	if e != nil {
		r.exitTokenError(e, state)
		return nil
	}

	// RFC 6749 §4.3.2: "the authorization server MUST protect the endpoint
	// against brute force attacks". A locked-out login never reaches the
	// backend, and no more logins reach it at once than the counts have
	// failures left (login_throttle.go).
	lk, err := r.loginKeys(user)
	if err != nil {
		return err
	}
	if !r.reserveLogin(lk, state) {
		return nil
	}
	started := time.Now() // the floor is wall-clock time, whatever Options.Now says
	if !r.acquireLogin() {
		r.settleLogin(lk, false)
		r.exitBusy("login backend", state)
		return nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.s.loginTimeout)
	res, err := r.s.login.checkLogin(ctx, loginAttempt{username: user, password: pass, clientID: client.ID, scope: scope, params: passed})
	cancel()
	r.releaseLogin()
	r.settleLogin(lk, errors.Is(err, errLoginRefused))
	switch {
	case errors.Is(err, errLoginRefused):
		r.failureFloor(started)
		r.exitTokenError(ErrInvalidGrant, state)
		return nil
	case err != nil:
		r.loginUnavailable(err.Error(), state)
		return nil
	}
	// The user id travels upstream in X-Authenticated-Userid: the same
	// rules as a provisioned one, but a bad one is the backend's fault.
	if strings.TrimFunc(res.userID, isLuaSpace) == "" || !printableUTF8(res.userID) {
		r.loginUnavailable("answered an authenticated_userid that is blank or not printable UTF-8", state)
		return nil
	}
	if res.scope != nil {
		granted := narrowScope(scope, *res.scope)
		if granted != scope {
			if granted == "" && r.s.mandatoryScope {
				r.exitTokenError(ErrInvalidScope.WithDescription(descScopeNarrowedAway), state)
				return nil
			}
			scope, r.narrowedScope = granted, &granted
		}
	}
	return r.issueGrant(client.ID, res.userID, scope, state)
}

// loginUnavailable answers 503 temporarily_unavailable (RFC 6749 §5.2) for
// a login backend that failed, and logs why (never the password).
func (r *request) loginUnavailable(why string, state any) {
	r.log(slog.LevelError, msgLoginBackendFailed, slog.String("why", why))
	r.d.Outcome = OutcomeLoginUnavailable
	r.exitTokenError(ErrTemporarilyUnavailable, state)
}

// loginParams picks the authenticate_params the request carries. They
// must be strings: a backend reads an OTP as one.
func (r *request) loginParams(p params) (map[string]string, *Error) {
	var out map[string]string
	for _, name := range r.s.loginParams {
		v, present := p[name]
		if !present {
			continue
		}
		s, ok := v.(string)
		if !ok || !utf8.ValidString(s) {
			return nil, ErrInvalidRequest.WithDescription(name + " must be a UTF-8 string")
		}
		if out == nil {
			out = make(map[string]string, len(r.s.loginParams))
		}
		out[name] = s
	}
	return out, nil
}

// narrowScope is the backend's narrowing of the requested scope: the
// requested items, in request order, that the backend's space-separated
// list also holds. The backend may only narrow (RFC 6749 §3.3: the server
// may issue a scope different from the request): items it names that were
// not requested are ignored, so a backend bug can never widen a token.
func narrowScope(requested, allowed string) string {
	ok := luaFields(allowed)
	var kept []string
	for _, it := range luaFields(requested) {
		if contains(ok, it) {
			kept = append(kept, it)
		}
	}
	return strings.Join(kept, " ")
}

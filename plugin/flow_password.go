package plugin

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// passwordGrant implements the resource owner password credentials grant
// (RFC 6749 §4.3) the Kong way: the application's backend has checked the
// user's password itself and vouches for the user with the provision_key
// and authenticated_userid (kong/BEHAVIOUR.md). With authenticate_url set,
// a request without provision_key is the standard grant instead, checked
// by the login backend (flow_login.go).
func (r *request) passwordGrant(p params, client oauth.Client, state any) error {
	if _, vouched := p["provision_key"]; !vouched && r.s.login != nil {
		return r.loginGrant(p, client, state)
	}
	// a. provision_key, compared as SHA-256 digests in constant time so
	// that neither its content nor its length leaks.
	pk, _ := p.str("provision_key")
	d := sha256.Sum256([]byte(pk))
	if subtle.ConstantTimeCompare(d[:], r.s.provisionKey[:]) != 1 {
		if answered, err := r.authFailed(state); err != nil || answered {
			return err
		}
		r.exitTokenError(ErrInvalidProvisionKey, state)
		return nil
	}
	if answered, err := r.authPassed(state); err != nil || answered {
		return err
	}
	// b. authenticated_userid: stored as sent, but blank is missing.
	uid, _ := p.str("authenticated_userid")
	if strings.TrimFunc(uid, isLuaSpace) == "" {
		r.exitTokenError(ErrInvalidAuthenticatedUserID, state)
		return nil
	}
	// Beyond Kong: the user id travels upstream in X-Authenticated-Userid
	// on every request, so a value no header can carry (invalid UTF-8,
	// control characters such as CR/LF) is refused now rather than
	// failing each proxied request later.
	if !printableUTF8(uid) {
		r.exitTokenError(ErrInvalidAuthenticatedUserID.WithDescription(descUserIDNotPrintable), state)
		return nil
	}
	// c. scope.
	scope, e := r.requestedScope(p)
	if e != nil {
		r.exitTokenError(e, state)
		return nil
	}
	// d. issue.
	return r.issueGrant(client.ID, uid, scope, state)
}

// issueGrant issues the first token of a new grant to uid.
func (r *request) issueGrant(clientID, uid, scope string, state any) error {
	svc := ""
	if !r.s.global {
		var err error
		if svc, err = r.serviceID(); err != nil {
			return err
		}
		if svc == "" {
			// A token without a service would be a global token: refuse
			// rather than widen what the token grants.
			return errors.New("token endpoint reached on a route without a service while global_credentials is false")
		}
	}
	family, err := newFamilyID()
	if err != nil {
		return err
	}
	return r.issue(clientID, svc, uid, scope, family, state)
}

// requestedScope validates the scope parameter against conf.scopes
// (Kong's retrieve_scope, RFC 6749 §3.3) and returns it space-joined.
func (r *request) requestedScope(p params) (string, *Error) {
	// Kong tests `scope ~= nil`, not truthiness: a JSON false or null is a
	// present, non-string scope ("scope must be a string" below).
	v, present := p["scope"]
	if !present {
		if r.s.mandatoryScope {
			return "", ErrInvalidScope.WithDescription(descMustSpecify)
		}
		return "", nil
	}
	if r.s.scopes == nil {
		return "", nil // Kong drops scopes when none are configured
	}
	s, ok := v.(string)
	if !ok {
		return "", ErrInvalidScope.WithDescription(descScopeNotString)
	}
	items := luaFields(s)
	for _, it := range items {
		if !contains(r.s.scopes, it) {
			return "", ErrInvalidScope.WithDescription(`"` + it + `" is an invalid scope`)
		}
	}
	// Deviation (kong/BEHAVIOUR.md): scope="" does not satisfy
	// mandatory_scope.
	if len(items) == 0 && r.s.mandatoryScope {
		return "", ErrInvalidScope.WithDescription(descMustSpecify)
	}
	return strings.Join(items, " "), nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// descUserIDNotPrintable answers an authenticated_userid that cannot be a
// header value.
const descUserIDNotPrintable = "authenticated_userid must be printable UTF-8"

// printableUTF8 reports whether s is valid UTF-8 without control characters.
func printableUTF8(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

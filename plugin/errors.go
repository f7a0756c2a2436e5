package plugin

import "fmt"

// Error is an OAuth2 error response: the RFC 6749 §5.2 / RFC 6750 §3.1
// error code, its description and the HTTP status it is answered with.
// The sentinels below carry Kong's wording; WithDescription and WithStatus
// return decorated copies, and errors.Is matches on the code.
type Error struct {
	Code        string // "error" member
	Description string // "error_description" member
	Status      int
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Description) }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrInvalidScope) matches every decorated copy.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithDescription returns a copy of e with another description.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// WithStatus returns a copy of e answered with another HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// RFC 6749 §5.2 and RFC 6750 §3.1 errors, plus Kong's own codes, with the
// descriptions Kong's oauth2 plugin uses (kong/BEHAVIOUR.md, §4).
var (
	ErrInvalidRequest = &Error{"invalid_request", "Invalid request", 400}
	// ErrInvalidClient: RFC 6749 §5.2 allows 401 only when the client
	// authenticated through the Authorization header; Kong answers 400
	// otherwise (see clientAuthError).
	ErrInvalidClient        = &Error{"invalid_client", "Invalid client authentication", 400}
	ErrUnsupportedGrantType = &Error{"unsupported_grant_type", "Invalid grant_type", 400}
	ErrInvalidScope         = &Error{"invalid_scope", "Invalid scope", 400}
	// ErrInvalidGrant: the login backend refused the resource owner's
	// credentials (RFC 6749 §5.2).
	ErrInvalidGrant           = &Error{"invalid_grant", "Invalid username or password", 400}
	ErrAccessDenied           = &Error{"access_denied", "You must use HTTPS", 400}
	ErrTemporarilyUnavailable = &Error{"temporarily_unavailable", "The authorization server is temporarily unavailable", 503}
	ErrInvalidToken           = &Error{"invalid_token", "The access token is invalid or has expired", 401}

	// Kong-specific codes.
	ErrInvalidProvisionKey        = &Error{"invalid_provision_key", "Invalid provision_key", 400}
	ErrInvalidAuthenticatedUserID = &Error{"invalid_authenticated_userid", "Missing authenticated_userid parameter", 400}
	ErrInvalidMethod              = &Error{"invalid_method", "The HTTP method is invalid for the token endpoint", 405}
)

// Descriptions used in more than one place.
const (
	descInvalidRefresh  = "Invalid refresh_token"
	descMissingToken    = "The access token is missing"
	descGlobalToken     = "The access token is global, but the current plugin is configured without 'global_credentials'"
	descUnexpected      = "An unexpected error occurred"
	descBodyTooLarge    = "Request body too large"
	descTooManyParams   = "Too many parameters"
	descMustSpecify     = "You must specify a scope"
	descScopeNotString  = "scope must be a string"
	descScopeMismatch   = "Scope mismatch"
	descPublicSecret    = "client_secret is disallowed for public clients"
	descOneForwardProto = "Only one X-Forwarded-Proto header allowed"
)

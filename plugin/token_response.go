package plugin

import (
	"encoding/json"
	"log"
	"strings"
)

const contentTypeJSON = "application/json; charset=utf-8"

// basicChallenge is Kong's fixed challenge for a client that failed Basic
// authentication (RFC 6749 §5.2: 401 + WWW-Authenticate).
const basicChallenge = `Basic realm="OAuth2.0"`

// tokenResponse is the RFC 6749 §5.1 success body, in Kong's shape: no
// "scope" member, expires_in omitted for tokens that never expire. Scope
// is set only when the login backend narrowed the requested scope: RFC
// 6749 §3.3 requires it when the issued scope differs from the request.
type tokenResponse struct {
	AccessToken  string  `json:"access_token"`
	TokenType    string  `json:"token_type"`
	ExpiresIn    int64   `json:"expires_in,omitempty"`
	RefreshToken string  `json:"refresh_token,omitempty"`
	Scope        *string `json:"scope,omitempty"`
	State        any     `json:"state,omitempty"`
}

// errorResponse is the RFC 6749 §5.2 error body; Kong echoes state in it.
type errorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	State       any    `json:"state,omitempty"`
}

// tokenHeaders are sent with every token-endpoint response: RFC 6749 §5.1
// requires no-store / no-cache for anything carrying tokens.
func tokenHeaders() map[string][]string {
	return map[string][]string{
		"Content-Type":  {contentTypeJSON},
		"Cache-Control": {"no-store"},
		"Pragma":        {"no-cache"},
	}
}

// exitTokenError answers a token-endpoint error, echoing state.
// The outcome follows e unless the flow already named a finer one.
func (r *request) exitTokenError(e *Error, state any) {
	if r.d.Outcome == "" {
		r.d.Outcome = outcomeOf(e)
	}
	h := tokenHeaders()
	switch {
	case e.Status == 401: // only invalid_client from the Basic header
		h["WWW-Authenticate"] = []string{basicChallenge}
	case e.Status == 503:
		h["Retry-After"] = []string{"1"}
	}
	r.exit(e.Status, mustJSON(errorResponse{e.Code, e.Description, state}), h)
}

// exitToken answers a successful grant (RFC 6749 §5.1). expires_in is
// omitted when tokens never expire, as Kong does.
func (r *request) exitToken(access, refresh string, state any) {
	r.d.Outcome = OutcomeIssued
	r.exit(200, mustJSON(tokenResponse{
		AccessToken:  access,
		TokenType:    "bearer",
		ExpiresIn:    r.s.tokenExp,
		RefreshToken: refresh,
		Scope:        r.narrowedScope,
		State:        state,
	}), tokenHeaders())
}

// exitInvalidMethod answers a non-POST request to a client endpoint (405,
// before the HTTPS check, like Kong at the token endpoint), with the
// RFC 6750 §3 challenge.
func (r *request) exitInvalidMethod(method, endpoint string) {
	e := ErrInvalidMethod.WithDescription("The HTTP method " + method + " is invalid for the " + endpoint + " endpoint")
	r.d.Outcome = OutcomeInvalidMethod
	h := tokenHeaders()
	h["WWW-Authenticate"] = []string{bearerChallenge(r.s.realm, e)}
	h["Allow"] = []string{"POST"} // RFC 9110 §15.5.6: a 405 names the methods that work
	r.exit(e.Status, mustJSON(errorResponse{e.Code, e.Description, nil}), h)
}

// bearerChallenge builds an RFC 6750 §3 challenge with comma-separated
// parameters: Bearer realm="R", error="...", error_description="...".
func bearerChallenge(realm string, e *Error) string {
	var parts []string
	if realm != "" {
		parts = append(parts, `realm=`+quote(realm))
	}
	if e != nil {
		parts = append(parts, `error=`+quote(e.Code), `error_description=`+quote(e.Description))
	}
	if len(parts) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(parts, ", ")
}

// quote makes an RFC 9110 quoted-string.
func quote(s string) string {
	return `"` + quoteEscaper.Replace(s) + `"`
}

// quoteEscaper is built once: a Replacer's tables cost 13 KB to build,
// and every 401 quotes (a flood of made-up tokens is a flood of 401s).
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own structs reach here; a failure is a bug.
		log.Panicf("oauth2-password: encoding a response: %v", err)
	}
	return b
}

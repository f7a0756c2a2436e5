package httpfront

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// queryCredentials are the request parameters that are credentials. RFC
// 6749 §2.3.1: client credentials "MUST NOT be included in the request
// URI"; §3.2 sends the token request as a form body; URLs end up in proxy
// and access logs. Serve mode therefore refuses them in the query string.
// Kong mode keeps Kong's merge of query and body (kong/BEHAVIOUR.md), which
// apps written against Kong may rely on.
var queryCredentials = []string{"client_secret", "provision_key", "password", "refresh_token"}

// presentedCredentials are queryCredentials and the token parameter of
// revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1), which
// names an access or refresh token and belongs in the entity-body too.
var presentedCredentials = append(queryCredentials[:len(queryCredentials):len(queryCredentials)], "token")

// credentialInQuery returns the first of the credential parameters named
// in the raw query, or "". Names are matched after percent-decoding, as the
// engine's own parser would read them; an unparsable pair is skipped (the
// engine refuses the request on its own terms).
func credentialInQuery(rawQuery string, credentials []string) string {
	if rawQuery == "" {
		return ""
	}
	for pair := range strings.SplitSeq(rawQuery, "&") {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		for _, c := range credentials {
			if name == c {
				return c
			}
		}
	}
	return ""
}

// refuseQueryCredentials answers 400 invalid_request, and reports the
// refusal, when the request carries a credential in its query string; the
// engine is not asked, so nothing is issued, revoked or looked up.
func (s *Service) refuseQueryCredentials(w http.ResponseWriter, r *http.Request, endpoint string, credentials []string, start time.Time) bool {
	name := credentialInQuery(r.URL.RawQuery, credentials)
	if name == "" {
		return false
	}
	s.refuse(w, http.StatusBadRequest, name+" must be sent in the request body, not in the URL", endpoint, start, nil)
	return true
}

// refuse answers a client-endpoint request the engine never saw with an
// invalid_request error, headers as the engine's token-endpoint answers
// have them (no-store, no-cache: RFC 6749 §5.1) and extra, and reports it.
func (s *Service) refuse(w http.ResponseWriter, status int, description, endpoint string, start time.Time, extra map[string]string) {
	a := plugin.JSONResponse(status, map[string]string{"error": "invalid_request", "error_description": description})
	a.Header["Cache-Control"] = []string{"no-store"}
	a.Header["Pragma"] = []string{"no-cache"}
	for k, v := range extra {
		a.Header[k] = []string{v}
	}
	WriteResponse(w, &a)
	d := plugin.Decision{Answer: &a, Outcome: plugin.OutcomeInvalidRequest, Endpoint: endpoint}
	s.Config.Observe(plugin.FrontToken, &d, start)
}

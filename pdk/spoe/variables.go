package spoe

import (
	"strings"
	"sync"

	"github.com/negasus/haproxy-spoe-go/action"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// The variables the agent sets (package doc), in HAProxy's transaction
// scope: they live as long as the request and its response.
const (
	VarAllow           = "allow"
	VarStatus          = "status"
	VarBody            = "body"
	VarWWWAuthenticate = "www_authenticate"
	VarRetryAfter      = "retry_after"
	VarQuery           = "query"
	headerVarPrefix    = "hdr_"
)

const scope = action.ScopeTransaction

// HeaderVar is the variable that carries upstream header name:
// "X-Consumer-ID" is hdr_x_consumer_id. HAProxy's variable names take
// letters, digits, "." and "_" only; other bytes become "_".
func HeaderVar(name string) string {
	if v, ok := headerVars.Load(name); ok {
		return v.(string)
	}
	b := []byte(headerVarPrefix + strings.ToLower(name))
	for i := len(headerVarPrefix); i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			b[i] = '_'
		}
	}
	v := string(b)
	headerVars.Store(name, v)
	return v
}

// headerVars caches HeaderVar: the engine's few header names come back on
// every allowed request.
var headerVars sync.Map

// setDecision turns the engine's decision into variables.
//
// Allowed: allow=true and one hdr_ variable for every upstream header the
// engine set or removed ("" removes it), so that HAProxy's rules replace
// whatever the client sent; query when hide_credentials took access_token
// out of it.
//
// Denied: allow=false with the status, body, WWW-Authenticate and
// Retry-After of the engine's answer, so that the client sees what a Kong
// user sees. A store outage is a denial too (503 with Retry-After).
func setDecision(d *plugin.Decision, acts *action.Actions) {
	if a := d.Answer; a != nil {
		setAnswer(a, acts)
		return
	}
	acts.SetVar(scope, VarAllow, true)
	for k, v := range d.Upstream {
		acts.SetVar(scope, HeaderVar(k), joined(v))
	}
	if d.UpstreamQuery != nil {
		acts.SetVar(scope, VarQuery, *d.UpstreamQuery)
	}
}

// setAnswer denies with a.
func setAnswer(a *plugin.Response, acts *action.Actions) {
	acts.SetVar(scope, VarAllow, false)
	acts.SetVar(scope, VarStatus, int32(a.Status))
	acts.SetVar(scope, VarBody, string(a.Body))
	for k, v := range a.Header {
		switch {
		case strings.EqualFold(k, "WWW-Authenticate"):
			acts.SetVar(scope, VarWWWAuthenticate, joined(v))
		case strings.EqualFold(k, "Retry-After"):
			acts.SetVar(scope, VarRetryAfter, joined(v))
		}
	}
}

// joined is a header's values as one value (RFC 9110 §5.3); none is "".
func joined(v []string) string {
	switch len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	}
	return strings.Join(v, ", ")
}

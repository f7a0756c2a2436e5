package plugin

import "time"

// Outcomes: what the engine decided, one word per request
// (Decision.Outcome). They label the request metrics and the request's log
// lines, so the set is fixed and small: never a client_id, user id or
// error text.
const (
	OutcomeAllowed         = "allowed"          // valid token: the request goes upstream
	OutcomeAnonymous       = "anonymous"        // no valid token: let through as the anonymous consumer
	OutcomeOtherCredential = "other_credential" // anonymous configured and an earlier plugin authenticated: let through
	OutcomeMissingToken    = "missing_token"    // RFC 6750 §3.1: no credentials at all
	OutcomeInvalidToken    = "invalid_token"    // unknown, revoked, another service's, its client or consumer gone
	OutcomeExpired         = "expired"          // known and bound here, but expired

	OutcomeIssued       = "issued"       // token endpoint: a token was answered (Decision.Grant says how)
	OutcomeRevoked      = "revoked"      // RFC 7009 §2.2: answered 200
	OutcomeIntrospected = "introspected" // RFC 7662 §2.2: answered 200, active or not

	OutcomeInvalidRequest      = "invalid_request"
	OutcomeInvalidMethod       = "invalid_method"
	OutcomeHTTPSRequired       = "https_required" // access_denied "You must use HTTPS"
	OutcomeUnsupportedGrant    = "unsupported_grant_type"
	OutcomeInvalidClient       = "invalid_client"
	OutcomeInvalidGrant        = "invalid_grant" // unknown, expired, revoked or foreign refresh token; a login the backend refused
	OutcomeRefreshReplayed     = "refresh_replayed"
	OutcomeInvalidProvisionKey = "invalid_provision_key"
	OutcomeInvalidUserID       = "invalid_authenticated_userid"
	OutcomeInvalidScope        = "invalid_scope"
	OutcomeUnauthorizedClient  = "unauthorized_client"
	OutcomeThrottled           = "throttled"         // 429 slow_down
	OutcomeStoreUnavailable    = "store_unavailable" // 503 temporarily_unavailable: the store
	OutcomeLoginUnavailable    = "login_unavailable" // 503 temporarily_unavailable: the login backend (authenticate_url)
	OutcomeConfigError         = "config_error"      // invalid plugin configuration: 500
	OutcomeError               = "error"             // a failure of ours or of the gateway: 500
	OutcomeBusy                = "busy"              // 503 temporarily_unavailable: no slow-hash or login slot within SlowWait
)

// Outcomes lists every outcome the engine reports.
func Outcomes() []string {
	return []string{OutcomeAllowed, OutcomeAnonymous, OutcomeOtherCredential, OutcomeMissingToken, OutcomeInvalidToken, OutcomeExpired,
		OutcomeIssued, OutcomeRevoked, OutcomeIntrospected,
		OutcomeInvalidRequest, OutcomeInvalidMethod, OutcomeHTTPSRequired, OutcomeUnsupportedGrant,
		OutcomeInvalidClient, OutcomeInvalidGrant, OutcomeRefreshReplayed, OutcomeInvalidProvisionKey,
		OutcomeInvalidUserID, OutcomeInvalidScope, OutcomeUnauthorizedClient, OutcomeThrottled,
		OutcomeStoreUnavailable, OutcomeLoginUnavailable, OutcomeConfigError, OutcomeError,
		OutcomeBusy}
}

// outcomeOf is the outcome of an answer with OAuth error e, for the
// client endpoints.
func outcomeOf(e *Error) string {
	switch e.Code {
	case ErrTemporarilyUnavailable.Code:
		return OutcomeStoreUnavailable
	case ErrSlowDown.Code:
		return OutcomeThrottled
	case ErrAccessDenied.Code:
		return OutcomeHTTPSRequired
	case ErrInvalidClient.Code, ErrInvalidMethod.Code, ErrUnsupportedGrantType.Code, ErrInvalidScope.Code,
		ErrInvalidProvisionKey.Code, ErrInvalidAuthenticatedUserID.Code, ErrUnauthorizedClient.Code, ErrInvalidGrant.Code:
		return e.Code
	}
	return OutcomeInvalidRequest
}

// Fronts: where a request reached the engine (Observation.Front).
const (
	FrontKong         = "kong"           // Kong's access phase, bearer validation
	FrontForwardAuth  = "forward-auth"   // serve: nginx auth_request, Traefik, Caddy
	FrontExtAuthzHTTP = "ext-authz-http" // serve: Envoy ext_authz over HTTP
	FrontExtAuthzGRPC = "ext-authz-grpc" // serve: Envoy ext_authz over gRPC
	FrontSPOE         = "spoe"           // serve: HAProxy's SPOE agent (-spoe)
	FrontToken        = "token"          // the token, revoke and introspect endpoints, either mode
)

// Fronts lists every front.
func Fronts() []string {
	return []string{FrontKong, FrontForwardAuth, FrontExtAuthzHTTP, FrontExtAuthzGRPC, FrontToken, FrontSPOE}
}

// Observation is one request as a front carried it out.
type Observation struct {
	Front   string        // one of the Front constants
	Outcome string        // Decision.Outcome
	Grant   string        // Decision.Grant
	Took    time.Duration // from the front's first look at the request to its answer
}

// Observer is told of every request a front carried out (the binary's
// metrics). It runs on every request: it must be cheap and must not block.
type Observer interface {
	Observe(Observation)
}

// Observe reports a decision d that a front carried out, started at start
// (time.Now() when the front first saw the request). Every front calls it
// once per request, after acting on d and before d.Release.
func (e *Engine) Observe(front string, d *Decision, start time.Time) {
	if e.opt.Observer == nil {
		return
	}
	e.opt.Observer.Observe(Observation{Front: front, Outcome: d.Outcome, Grant: d.Grant, Took: time.Since(start)})
}

// Observe is Engine.Observe on c's engine.
func (c *Config) Observe(front string, d *Decision, start time.Time) {
	c.eng().Observe(front, d, start)
}

// Start is the start to give Observe: time.Now(), or the zero time when
// nobody observes (no metrics), so that a front reads the clock only
// when its reading is used.
func (c *Config) Start() time.Time {
	if c.eng().opt.Observer == nil {
		return time.Time{}
	}
	return time.Now()
}

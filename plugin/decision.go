package plugin

// Decision is the engine's answer to one request; the front of each
// gateway acts on it (pdk/kongaccess turns it into PDK calls, forward auth into
// an HTTP answer, Envoy's ext_authz into a CheckResponse). Either Answer is
// set and the request goes no further, or the request is let through to
// the upstream with the changes below.
type Decision struct {
	// Answer is the response for the client: an OAuth2 error, a token, an
	// introspection result.
	Answer *Response

	// Authenticate asks the gateway to record Consumer (and Credential,
	// unless Anonymous) as the request's authenticated identity (Kong:
	// kong.client.authenticate). It is false when an earlier step already
	// authenticated the request.
	Authenticate bool
	Consumer     Consumer
	Credential   Credential // zero for the anonymous consumer
	Anonymous    bool
	// AuthenticatedUserID and Scope are the token's.
	AuthenticatedUserID string
	Scope               string

	// Upstream holds the headers to set on the upstream request; an empty
	// slice removes the header. Every identity header is present, set or
	// removed, so that copies a client sent never reach the upstream. It
	// comes from a pool: call Release once it has been used.
	Upstream map[string][]string
	// UpstreamJWT is the signed JWT for the upstream (upstream_jwt), ""
	// when none, and UpstreamJWTHeader the header it goes in (set to
	// "Bearer " + UpstreamJWT). Both are already in Upstream: a front that
	// copies Upstream needs nothing more; a front with a fixed set of
	// headers (HAProxy's SPOE variables) copies this one. With
	// upstream_jwt, a request let through without a JWT has the header
	// cleared in Upstream.
	UpstreamJWT       string
	UpstreamJWTHeader string
	// UpstreamQuery and UpstreamBody replace the upstream request's query
	// and body when not nil (hide_credentials on a token sent there).
	UpstreamQuery *string
	UpstreamBody  []byte

	// Log is a message for the gateway's own error log (Kong's error.log);
	// the process log already has it.
	Log string

	// Outcome names what was decided, one of the Outcome constants, for
	// metrics and logs.
	Outcome string
	// Endpoint is the client endpoint that answered ("token", "revoke",
	// "introspect"), or "" for bearer validation.
	Endpoint string
	// Grant is the grant type a token request asked for ("password",
	// "refresh_token") once its client authenticated, else "".
	Grant string

	// memo is the validated token's memo, with memoKey, when Upstream is
	// exactly what memoKey determines (Remember, Remembered); else nil.
	memo    *tokenMemo
	memoKey memoKey
}

// Response is an answer to the client.
type Response struct {
	Status int
	Header map[string][]string
	Body   []byte
}

// Allowed reports whether the request goes upstream.
func (d *Decision) Allowed() bool { return d.Answer == nil }

// Release returns d.Upstream to its pool. d must not be used after.
func (d *Decision) Release() {
	if d.Upstream != nil {
		releaseHeaderMap(d.Upstream)
		d.Upstream = nil
	}
}

// Unexpected is the answer to a failure of our own: 500 with Kong's
// {"message": …} body. Fronts use it for failures outside the engine.
func Unexpected() Response {
	return JSONResponse(500, map[string]string{"message": descUnexpected})
}

// JSONResponse is an answer with v as its JSON body, for fronts' own
// answers (unknown service, health checks).
func JSONResponse(status int, v any) Response {
	return Response{Status: status, Header: map[string][]string{"Content-Type": {contentTypeJSON}}, Body: mustJSON(v)}
}

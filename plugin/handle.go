package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
)

// request is the state of one call into the engine.
type request struct {
	ctx context.Context
	e   *Engine
	k   Request
	cs  Consumers
	s   *settings
	d   Decision

	svc      string // current service id, once known
	svcKnown bool
	ip       string // the client's address (Request.ForwardedIP), once known
	ipKnown  bool

	throttleOn     bool   // failures of this request are counted
	throttleClient string // ... for this client_id (and the client's address)
	authSlot       bool   // a failure slot is reserved for a slow secret check (throttle.go)

	narrowedScope *string // the issued scope, when the login backend narrowed the request's

	access  oauth.Digest // the validated token's digest: the key of its cache entry
	validAt int64        // unix seconds at which it was found valid
	memo    *tokenMemo   // attached to the token's cached copy (upstream_memo.go)

	clientID string    // the client the request named or its token belongs to, for the log
	logs     []logLine // lines about this request, written when it ends (logging.go)
}

// Handle is the whole of Kong's access phase: the token, revocation and
// introspection endpoints on any route path ending in /oauth2/token,
// /oauth2/revoke or /oauth2/introspect, and bearer validation on every other
// request.
func (c *Config) Handle(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, flowHandle)
}

// Token is the token endpoint (RFC 6749 §3.2): POST only, password and
// refresh_token grants.
func (c *Config) Token(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, flowToken)
}

// Revoke is the revocation endpoint (RFC 7009).
func (c *Config) Revoke(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, flowRevoke)
}

// Introspect is the introspection endpoint (RFC 7662).
func (c *Config) Introspect(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, flowIntrospect)
}

// Authorize validates the bearer token of a request bound for the upstream
// (RFC 6750), falling back to the anonymous consumer when configured.
func (c *Config) Authorize(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, flowAuthorize)
}

// flow names an entry point. run switches on it rather than taking a
// method value, so that the request state does not escape to the heap: the
// cache-hit validation allocates only what it must.
type flow int

const (
	flowHandle flow = iota
	flowToken
	flowRevoke
	flowIntrospect
	flowAuthorize
)

func (r *request) run(f flow) error {
	switch f {
	case flowToken:
		return r.tokenEndpoint()
	case flowRevoke:
		return r.revokeEndpoint()
	case flowIntrospect:
		return r.introspectEndpoint()
	case flowAuthorize:
		return r.bearer()
	}
	return r.dispatch()
}

// run calls flow and returns its decision. It never panics: a panic is
// logged with its stack and answered with a 500, so that one bad request
// cannot take the process (and every request in flight) down.
func (c *Config) run(ctx context.Context, in Request, cs Consumers, f flow) (d Decision) {
	e := c.eng()
	r := &request{ctx: ctx, e: e, k: in, cs: cs}
	defer func() {
		if v := recover(); v != nil {
			r.log(slog.LevelError, msgPanic, slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			d = r.failed()
		}
		r.flushLogs()
	}()

	s, err := c.settings()
	if err != nil {
		r.exitMessage(500, err.Error())
		r.d.Outcome = OutcomeConfigError
		c.logOnce.Do(func() {
			r.log(slog.LevelError, msgInvalidConfig, slog.String("err", err.Error()))
			r.d.Log = "oauth2-password: " + err.Error()
		})
		return r.d
	}
	r.s = s
	if err := r.run(f); err != nil {
		r.log(slog.LevelError, msgRequestFailed, slog.String("err", err.Error()))
		return r.failed()
	}
	return r.d
}

func (r *request) dispatch() error {
	path, err := r.k.Path()
	if err != nil {
		return readErr("path", err)
	}
	if r.e.opt.Signer != nil {
		if jwksPath(path) {
			return r.jwksEndpoint()
		}
		if prefix, ok := metadataRoute(path); ok {
			return r.metadataEndpoint(prefix)
		}
	}
	switch endpointOf(path) {
	case endpointToken:
		return r.tokenEndpoint()
	case endpointRevoke:
		return r.revokeEndpoint()
	case endpointIntrospect:
		return r.introspectEndpoint()
	}
	return r.bearer()
}

// endpointOf names the endpoint a path ends in: Kong serves the token
// endpoint on any route of the plugin whose normalized path ends with
// /oauth2/token (kong/BEHAVIOUR.md), optionally followed by "/"; revoke
// and introspect follow the same rule.
func endpointOf(p string) string {
	p = strings.TrimSuffix(p, "/")
	for _, name := range [...]string{endpointToken, endpointRevoke, endpointIntrospect} {
		if strings.HasSuffix(p, "/oauth2/"+name) {
			return name
		}
	}
	return ""
}

// serviceID is the current service: from the instance config when the
// gateway put it there, else asked of the request once.
func (r *request) serviceID() (string, error) {
	if r.s.serviceID != "" {
		return r.s.serviceID, nil
	}
	if !r.svcKnown {
		id, err := r.k.ServiceID()
		if err != nil {
			return "", readErr("service", err)
		}
		r.svc, r.svcKnown = id, true
	}
	return r.svc, nil
}

// exit sets the answer for the client.
func (r *request) exit(status int, body []byte, h map[string][]string) {
	r.d.Answer = &Response{Status: status, Header: h, Body: body}
}

// exitMessage answers {"message": msg}, as kong.response.error does.
func (r *request) exitMessage(status int, msg string) {
	r.exit(status, mustJSON(struct {
		Message string `json:"message"`
	}{msg}), map[string][]string{"Content-Type": {contentTypeJSON}})
}

// failed is the decision for an unexpected failure: 500, and nothing sent
// upstream.
func (r *request) failed() Decision {
	r.d.Release()
	r.d = Decision{Log: r.d.Log, Endpoint: r.d.Endpoint, Outcome: OutcomeError}
	r.exitMessage(500, descUnexpected)
	return r.d
}

// Client endpoints (Decision.Endpoint).
const (
	endpointToken      = "token"
	endpointRevoke     = "revoke"
	endpointIntrospect = "introspect"
)

// readErr wraps a failed read of the request from the gateway; it is
// answered with a 500.
func readErr(what string, err error) error {
	return fmt.Errorf("reading the request's %s from the gateway: %w", what, err)
}

// consumerErr wraps a failed consumer lookup; it is answered with a 500.
func consumerErr(err error) error {
	return fmt.Errorf("looking up a consumer in the gateway: %w", err)
}

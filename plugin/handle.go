package plugin

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
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
	ip       string // client IP, once known
	ipKnown  bool

	throttleOn  bool        // failures of this token request are counted
	throttleKey throttleKey // ... against this key

	narrowedScope *string // the issued scope, when the login backend narrowed the request's
}

// Handle is the whole of Kong's access phase: the token, revocation and
// introspection endpoints on any route path ending in /oauth2/token,
// /oauth2/revoke or /oauth2/introspect, and bearer validation on every other
// request.
func (c *Config) Handle(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, (*request).dispatch)
}

// Token is the token endpoint (RFC 6749 §3.2): POST only, password and
// refresh_token grants.
func (c *Config) Token(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, (*request).tokenEndpoint)
}

// Revoke is the revocation endpoint (RFC 7009).
func (c *Config) Revoke(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, (*request).revokeEndpoint)
}

// Introspect is the introspection endpoint (RFC 7662).
func (c *Config) Introspect(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, (*request).introspectEndpoint)
}

// Authorize validates the bearer token of a request bound for the upstream
// (RFC 6750), falling back to the anonymous consumer when configured.
func (c *Config) Authorize(ctx context.Context, in Request, cs Consumers) Decision {
	return c.run(ctx, in, cs, (*request).bearer)
}

// run calls flow and returns its decision. It never panics: a panic is
// logged with its stack and answered with a 500, so that one bad request
// cannot take the process (and every request in flight) down.
func (c *Config) run(ctx context.Context, in Request, cs Consumers, flow func(*request) error) (d Decision) {
	e := c.eng()
	r := &request{ctx: ctx, e: e, k: in, cs: cs}
	defer func() {
		if v := recover(); v != nil {
			e.logf("oauth2-password: recovered from panic: %v\n%s", v, debug.Stack())
			d = r.failed()
		}
	}()

	s, err := c.settings()
	if err != nil {
		msg := "oauth2-password: " + err.Error()
		c.logOnce.Do(func() {
			e.logf("%s", msg)
			r.d.Log = msg
		})
		r.exitMessage(500, err.Error())
		return r.d
	}
	r.s = s
	if err := flow(r); err != nil {
		e.logf("oauth2-password: %v", err)
		return r.failed()
	}
	return r.d
}

func (r *request) dispatch() error {
	path, err := r.k.Path()
	if err != nil {
		return readErr("path", err)
	}
	switch endpointOf(path) {
	case "token":
		return r.tokenEndpoint()
	case "revoke":
		return r.revokeEndpoint()
	case "introspect":
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
	for _, name := range [...]string{"token", "revoke", "introspect"} {
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
	log := r.d.Log
	r.d = Decision{Log: log}
	r.exitMessage(500, descUnexpected)
	return r.d
}

// readErr wraps a failed read of the request from the gateway; it is
// answered with a 500.
func readErr(what string, err error) error {
	return fmt.Errorf("reading the request's %s from the gateway: %w", what, err)
}

// consumerErr wraps a failed consumer lookup; it is answered with a 500.
func consumerErr(err error) error {
	return fmt.Errorf("looking up a consumer in the gateway: %w", err)
}

package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// access runs the engine on one request of Kong's access phase and carries
// out its decision, as pdk/kong.Access does for Kong 3.x (that package
// cannot be imported here: it is built on go-pdk v0.11.0). It never
// panics: go-pluginserver runs handlers without recover, and one panic
// would end the process and every request in flight.
func access(c *plugin.Config, k adapter) {
	start := time.Now()
	d := c.Handle(context.Background(), k, k)
	defer d.Release()
	exited := false
	defer func() {
		if v := recover(); v != nil {
			d.Outcome = plugin.OutcomeError
			c.Logger().Error("recovered from panic in the access phase", "panic", v, "stack", string(debug.Stack()),
				"client_id", d.Credential.ID, "outcome", d.Outcome)
			if !exited {
				exitUnexpected(c, k)
			}
		}
		front := plugin.FrontKong
		if d.Endpoint != "" {
			front = plugin.FrontToken
		}
		c.Observe(front, &d, start)
	}()
	if d.Log != "" {
		k.LogErr(d.Log)
	}
	if a := d.Answer; a != nil {
		exited = true
		k.Exit(a.Status, a.Body, a.Header)
		return
	}
	if err := allow(k, &d); err != nil {
		d.Outcome = plugin.OutcomeError
		c.Logger().Error("carrying out the decision failed", "err", err, "client_id", d.Credential.ID, "outcome", d.Outcome)
		exited = true
		exitUnexpected(c, k)
	}
}

// allow carries out an allowed request: kong.client.authenticate, the
// upstream headers in one call, then query and body when they change.
func allow(k adapter, d *plugin.Decision) error {
	if d.Authenticate {
		var cred *plugin.Credential
		if !d.Anonymous {
			cred = &d.Credential
		}
		if err := k.Authenticate(d.Consumer, cred); err != nil {
			return fmt.Errorf("kong PDK call kong.client.authenticate failed: %w", err)
		}
	}
	steps := []struct {
		call string
		set  bool
		do   func() error
	}{
		{"kong.service.request.set_headers", d.Upstream != nil, func() error { return k.SetUpstreamHeaders(d.Upstream) }},
		{"kong.service.request.set_raw_query", d.UpstreamQuery != nil, func() error { return k.SetUpstreamRawQuery(*d.UpstreamQuery) }},
		{"kong.service.request.set_raw_body", d.UpstreamBody != nil, func() error { return k.SetUpstreamRawBody(d.UpstreamBody) }},
	}
	for _, s := range steps {
		if s.set {
			if err := s.do(); err != nil {
				return fmt.Errorf("kong PDK call %s failed: %w", s.call, err)
			}
		}
	}
	return nil
}

// exitUnexpected answers 500; it runs inside recover handlers, so it must
// not panic itself.
func exitUnexpected(c *plugin.Config, k adapter) {
	defer func() {
		if v := recover(); v != nil {
			c.Logger().Error("could not answer 500", "panic", v)
		}
	}()
	a := plugin.Unexpected()
	k.Exit(a.Status, a.Body, a.Header)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// crossNode is the time from a revocation to its refusal on every node.
type crossNode struct {
	nodes, revocations int
	lags               []time.Duration
}

// measureCrossNode starts three plugin processes (three Kong nodes, default
// flags) on one new PostgreSQL database and, n times each, revokes a token
// cached on all three with the admin CLI, and revokes a family by
// replaying a refresh token on one node; it records, per node, the time
// from the acknowledgment to the first 401.
func (e *env) measureCrossNode(ctx context.Context, n int) (crossNode, error) {
	db := e.pgSrv.URL() // the database of the other PostgreSQL rows; a client of its own
	var nodes []*pluginProc
	defer func() {
		for _, p := range nodes {
			p.host.Close()
		}
	}()
	for i := range 3 {
		p, err := startPlugin(ctx, fmt.Sprintf("node-%d", i), e.bin, []string{"-database-url", db})
		if err != nil {
			return crossNode{}, err
		}
		nodes = append(nodes, p)
		if _, err := p.host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
			return crossNode{}, err
		}
		if _, err := p.host.AddService(konghost.ServiceSpec{Name: service, Host: routeHost,
			Config: map[string]any{"provision_key": provisionKey, "global_credentials": true}}); err != nil {
			return crossNode{}, err
		}
	}
	out, err := e.cli("clients", "create", "--consumer", "bob", "--name", "cross-node", "-database-url", db)
	if err != nil {
		return crossNode{}, err
	}
	var c client
	if err := json.Unmarshal(out, &c); err != nil {
		return crossNode{}, err
	}
	probes := make([]harness.Prober, len(nodes))
	for i, p := range nodes {
		p.client = c
		probes[i] = func(ctx context.Context, token string) (int, error) {
			res, err := p.host.Do(ctx, service, &konghost.Request{Host: routeHost, Path: "/orders",
				Header: map[string][]string{"Authorization": {"Bearer " + token}}})
			if err != nil {
				return 0, err
			}
			return res.Status, nil
		}
	}
	r := crossNode{nodes: len(nodes)}
	measure := func(token string, revoke func(context.Context) error) error {
		for i, probe := range probes {
			if st, err := probe(ctx, token); err != nil || st != 200 {
				return fmt.Errorf("node %d: fresh token answered %d %v", i, st, err)
			}
		}
		lags, err := harness.RevocationLag(ctx, probes, token, revoke, 10*time.Second)
		if err != nil {
			return err
		}
		r.lags = append(r.lags, lags...)
		r.revocations++
		return nil
	}
	for i := range n {
		p := nodes[i%3]
		tok, err := p.issue(ctx)
		if err != nil {
			return r, err
		}
		if err := measure(tok, func(context.Context) error {
			_, err := e.cli("tokens", "revoke", "--access-token", tok, "-database-url", db)
			return err
		}); err != nil {
			return r, err
		}
		first, err := p.grant(ctx, url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
			"authenticated_userid": {"user-1"}})
		if err != nil {
			return r, err
		}
		next, err := p.grant(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
		if err != nil {
			return r, err
		}
		if err := measure(next.AccessToken, func(ctx context.Context) error {
			_, err := p.grant(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}})
			if err == errStatus400 {
				return nil // the replay, refused; its family is revoked
			}
			return fmt.Errorf("replayed refresh token: %v, want a 400", err)
		}); err != nil {
			return r, err
		}
	}
	return r, nil
}

var errStatus400 = fmt.Errorf("answered 400")

type grantAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// grant sends a token request with p's client credentials added.
func (p *pluginProc) grant(ctx context.Context, form url.Values) (grantAnswer, error) {
	form.Set("client_id", p.client.ID)
	form.Set("client_secret", p.client.Secret)
	req := &konghost.Request{Method: "POST", Scheme: "https", Host: routeHost, Path: "/oauth2/token",
		Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(form.Encode())}
	res, err := p.host.Do(ctx, service, req)
	if err != nil {
		return grantAnswer{}, err
	}
	if res.Exit == nil || res.Status != 200 {
		if res.Status == 400 {
			return grantAnswer{}, errStatus400
		}
		return grantAnswer{}, fmt.Errorf("%s: token endpoint answered %d (%v)\n%s", p.name, res.Status, res.Failure, p.log)
	}
	var a grantAnswer
	if err := json.Unmarshal(res.Exit.Body, &a); err != nil || a.AccessToken == "" {
		return a, fmt.Errorf("%s: token endpoint answered %s", p.name, res.Exit.Body)
	}
	return a, nil
}

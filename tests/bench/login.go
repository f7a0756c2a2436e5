package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// The standard password grant's cost: the login backend's HTTP call. Ours
// over PostgreSQL gets a second service whose authenticate_url is a
// loopback backend in this process that answers at once, and a password
// grant with username and password there is measured against the
// provision-key grant on the first service, in alternating rounds.
const (
	loginService = "login"
	loginHost    = "login.test"
)

// startLoginBackend serves the login backend and adds the login service to
// ours over PostgreSQL.
func (e *env) startLoginBackend() error {
	e.loginBackend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"authenticated_userid":"user-1"}`)
	}))
	_, err := e.pg.host.AddService(konghost.ServiceSpec{Name: loginService, Host: loginHost,
		Config: map[string]any{"provision_key": provisionKey, "authenticate_url": e.loginBackend.URL + "/login"}})
	return err
}

// loginUsers numbers the bench's users. Every login is a different user:
// the login throttle lets one user log in from one address at most
// -login-throttle-failures times at once (docs/security-throttling.md,
// "Concurrent attempts"), fewer than the bench's concurrency, and many
// users logging in through one app is what the row measures.
var loginUsers atomic.Uint64

// loginRequest is a password grant as RFC 6749 §4.3.2 writes it.
func (p *pluginProc) loginRequest() *konghost.Request {
	user := "user-" + strconv.FormatUint(loginUsers.Add(1), 10)
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {"pw-0123456789"},
		"client_id": {p.client.ID}, "client_secret": {p.client.Secret}}
	return &konghost.Request{Method: "POST", Scheme: "https", Host: loginHost, Path: "/oauth2/token",
		Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(form.Encode())}
}

// issueByLogin runs one password grant checked by the login backend.
func (e *env) issueByLogin(ctx context.Context) error {
	res, err := e.pg.host.Do(ctx, loginService, e.pg.loginRequest())
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.Exit == nil || res.Status != 200 || json.Unmarshal(res.Exit.Body, &tok) != nil || tok.AccessToken == "" {
		return fmt.Errorf("login grant answered %d (%v)\n%s", res.Status, res.Failure, e.pg.log)
	}
	return nil
}

// loginCost is the comparison of the two grants.
type loginCost struct {
	concurrency int
	login, pk   *sample
}

func (e *env) compareLogin(ctx context.Context, o options) (loginCost, error) {
	a := side{name: "authenticate_url", op: e.issueByLogin, plugin: e.pg}
	b := side{name: "provision_key", op: func(ctx context.Context) error {
		_, err := e.pg.issue(ctx)
		return err
	}, plugin: e.pg}
	io := o
	io.rounds = max(2, o.rounds/2)
	sl, sp, err := interleave(ctx, a, b, o.issueConc, io)
	if err != nil {
		return loginCost{}, err
	}
	return loginCost{concurrency: o.issueConc, login: sl, pk: sp}, nil
}

// printLogin prints the rows of the comparison.
func (r *report) printLogin(p func(string, ...any)) {
	l := r.login
	if l.login == nil {
		return
	}
	p("| Token issuance with username and password checked by a loopback login backend (authenticate_url, answers at once), PostgreSQL fsync=off, concurrency %d: tokens/s | %s | provision_key grant %s | %.2f× cost per token (median of round pairs) | | |",
		l.concurrency, num(l.login.perSecond()), num(l.pk.perSecond()), pairedCost(l.login, l.pk))
	p("| … latency p50 / p99 | %s / %s | %s / %s | %.2f× / %.2f× | | |",
		ms(l.login.quantile(0.50)), ms(l.login.quantile(0.99)), ms(l.pk.quantile(0.50)), ms(l.pk.quantile(0.99)),
		ratio(l.login.quantile(0.50), l.pk.quantile(0.50)), ratio(l.login.quantile(0.99), l.pk.quantile(0.99)))
	lc, pc := l.login.cpuPerOp(), l.pk.cpuPerOp()
	p("| … CPU per token: plugin process / bench process (test host, and the backend for authenticate_url) / PostgreSQL | %s / %s / %s | %s / %s / %s | | | |",
		us(lc.plugin), us(lc.self), us(lc.postgres), us(pc.plugin), us(pc.self), us(pc.postgres))
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/haproxy"
)

// haproxyService is the SERVICE deploy/haproxy/haproxy.cfg sends every
// path but /catalog to; hide_credentials as in deploy/haproxy/serve.yaml.
const haproxyService = "orders"

// proc is a process of the HAProxy row, with its stderr.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *lineLog
}

func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, cmd: cmd, log: &lineLog{}}
	cmd.Stdout, cmd.Stderr = logWriter{p.log}, logWriter{p.log}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", name, err)
	}
	return p, nil
}

func (p *proc) close() {
	if p != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// haproxyEnv is two HAProxies on deploy/haproxy/haproxy.cfg as it is, one
// over serve -spoe (on the bench's PostgreSQL database), one over the
// floor SPOE agent, in front of one upstream, and a valid token.
type haproxyEnv struct {
	serve, floor, hapServe, hapFloor *proc
	urlServe, urlFloor               string
	upstream                         *httptest.Server
	hc                               *http.Client
	token                            string
}

func (h *haproxyEnv) close() {
	for _, p := range []*proc{h.hapServe, h.hapFloor, h.serve, h.floor} {
		p.close()
	}
	if h.upstream != nil {
		h.upstream.Close()
	}
}

func (e *env) setupHAProxy(ctx context.Context) (_ *haproxyEnv, err error) {
	h := &haproxyEnv{}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	bin, err := haproxy.Bin()
	if err != nil {
		return nil, err
	}
	out, err := e.cli("clients", "create", "--consumer", "bob", "--name", "haproxy", "-database-url", e.pgURL)
	if err != nil {
		return nil, err
	}
	var c client
	if err := json.Unmarshal(out, &c); err != nil || c.ID == "" {
		return nil, fmt.Errorf("clients create printed %q", out)
	}
	conf := filepath.Join(e.dir, "serve-haproxy.yaml")
	if err := os.WriteFile(conf, []byte("trusted_ips: [\"127.0.0.1/32\"]\nservices:\n  "+haproxyService+":\n    provision_key: "+provisionKey+
		"\n    accept_http_if_already_terminated: true\n    hide_credentials: true\n"), 0o600); err != nil {
		return nil, err
	}
	addrs := make([]string, 5)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	httpAddr, spoeAddr, floorAddr, proxyServe, proxyFloor := addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]
	cmd := exec.Command(e.bin, "serve", "-config", conf, "-http", httpAddr, "-spoe", spoeAddr, "-database-url", e.pgURL)
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	if h.serve, err = startProc("serve -spoe", cmd); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, "http://"+httpAddr+"/readyz"); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, h.serve.log)
	}
	if h.token, err = haproxyToken(ctx, "http://"+httpAddr, c); err != nil {
		return nil, err
	}
	floorBin := filepath.Join(e.dir, "floor", "floorspoe")
	if err := goBuild(floorBin, "./tests/haproxy/floorspoe"); err != nil {
		return nil, err
	}
	if h.floor, err = startProc("floor SPOE agent", exec.Command(floorBin, "-spoe", floorAddr, "-consumer-id", "bob", "-client-id", c.ID, "-user", "user-1")); err != nil {
		return nil, err
	}

	// The API: 200 only with the identity set and the token removed, so
	// that a side that set no variables cannot pass.
	h.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Consumer-Id") != "bob" || r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	dir := filepath.Join(e.dir, "haproxy")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pem, hc, err := haproxy.Certificate(dir)
	if err != nil {
		return nil, err
	}
	h.hc = hc
	up := strings.TrimPrefix(h.upstream.URL, "http://")
	cfg := haproxy.ConfigPath(root())
	if h.hapServe, err = startProc("haproxy (serve)", haproxy.Command(bin, cfg, haproxy.Env{ProxyAddr: proxyServe, TLSCert: pem,
		ServeAddr: httpAddr, SPOEAddr: spoeAddr, UpstreamAddr: up})); err != nil {
		return nil, err
	}
	if h.hapFloor, err = startProc("haproxy (floor)", haproxy.Command(bin, cfg, haproxy.Env{ProxyAddr: proxyFloor, TLSCert: pem,
		ServeAddr: httpAddr, SPOEAddr: floorAddr, UpstreamAddr: up})); err != nil {
		return nil, err
	}
	h.urlServe, h.urlFloor = "https://"+proxyServe+"/orders/1?page=2", "https://"+proxyFloor+"/orders/1?page=2"
	// Both must let the same request through before anything is measured.
	for _, s := range []struct {
		u    string
		logs []*proc
	}{{h.urlServe, []*proc{h.hapServe, h.serve}}, {h.urlFloor, []*proc{h.hapFloor, h.floor}}} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := h.op(s.u)(ctx)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: %v\n%s\n%s", s.u, err, s.logs[0].log, s.logs[1].log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return h, nil
}

// haproxyToken is a password grant at serve's token endpoint of orders.
func haproxyToken(ctx context.Context, base string, c client) (string, error) {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {"user-1"}, "client_id": {c.ID}, "client_secret": {c.Secret}}.Encode()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/services/"+haproxyService+"/oauth2/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := httpClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint of %s answered %d %s", haproxyService, res.StatusCode, b)
	}
	return tok.AccessToken, nil
}

// op is one request with the token through the HAProxy at u: it must
// reach the API (200) with the identity set.
func (h *haproxyEnv) op(u string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+h.token)
		res, err := h.hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s answered %d", u, res.StatusCode)
		}
		return nil
	}
}

// haproxyRows measures validation through HAProxy with serve -spoe
// against HAProxy with the floor agent at each concurrency, in alternating
// rounds. CPU per request is the agent process's.
func (e *env) haproxyRows(ctx context.Context, o options) ([]envoyCheck, error) {
	progress("HAProxy SPOE: HAProxy + serve -spoe vs HAProxy + the floor SPOE agent")
	h, err := e.setupHAProxy(ctx)
	if err != nil {
		return nil, err
	}
	defer h.close()
	var rows []envoyCheck
	for _, c := range o.concurrency {
		progress("validation through HAProxy at concurrency %d: %d rounds of %v per side", c, o.rounds, o.round)
		ours := side{name: "HAProxy + serve -spoe", op: h.op(h.urlServe), pid: h.serve.cmd.Process.Pid}
		floor := side{name: "HAProxy + floor SPOE agent", op: h.op(h.urlFloor), pid: h.floor.cmd.Process.Pid}
		so, sf, err := interleave(ctx, ours, floor, c, o)
		if err != nil {
			return nil, err
		}
		rows = append(rows, envoyCheck{concurrency: c, ours: so, floor: sf})
	}
	return rows, nil
}

// printHAProxy prints the HAProxy SPOE rows.
func (r *report) printHAProxy(p func(string, ...any)) {
	for _, v := range r.haproxy {
		cost := pairedCost(v.ours, v.floor)
		p("| HAProxy 2.6 SPOE: a request with a cached token through HAProxy (TLS, keep-alive) and `serve -spoe`, concurrency %d: requests/s | %s | HAProxy + floor SPOE agent %s | %.3f× cost per request (median of round pairs; totals: %.3f×) | ≤ 1.10× | %s |",
			v.concurrency, num(v.ours.perSecond()), num(v.floor.perSecond()), cost, v.floor.perSecond()/v.ours.perSecond(), met(cost <= 1.10))
		p("| … latency p50 / p99 per request | %s / %s | %s / %s | %.3f× / %.3f× | | |",
			ms(v.ours.quantile(0.50)), ms(v.ours.quantile(0.99)), ms(v.floor.quantile(0.50)), ms(v.floor.quantile(0.99)),
			ratio(v.ours.quantile(0.50), v.floor.quantile(0.50)), ratio(v.ours.quantile(0.99), v.floor.quantile(0.99)))
		oc, fc := v.ours.cpuPerOp(), v.floor.cpuPerOp()
		p("| … CPU per request: agent process / client | %s / %s | %s / %s | %.2f× / %.2f× | | |",
			us(oc.plugin), us(oc.self), us(fc.plugin), us(fc.self), ratio(oc.plugin, fc.plugin), ratio(oc.self, fc.self))
	}
}

// printHAProxyOnly is the table of -haproxy-only.
func (r *report) printHAProxyOnly(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Machine: %s.  ", r.machine)
	p("Reproduce: `go run ./tests/bench -haproxy-only -concurrency %s -rounds %d -round %v`; wall time %s.",
		joinInts(r.opts.concurrency), r.opts.rounds, r.opts.round, r.wall.Round(time.Second))
	p("")
	p("| Measure | oauth2-password | Reference | Ratio | Goal | Met |")
	p("|---|---|---|---|---|---|")
	r.printHAProxy(p)
}

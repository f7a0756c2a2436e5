package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// Upstream JWTs (docs/upstream-jwt.md): validation of a cached token with
// upstream_jwt on against the same validation with it off, in one process
// (two services that differ only by upstream_jwt), in alternating rounds:
// through the Kong socket and through serve's forward auth. The JWT is
// signed once per token, so at steady state the difference is one cache
// lookup and one header more. The first-use signing cost is measured
// apart, in process: one signature of the claims with each key type.

// upstreamJWTCmp is one comparison: with the JWT and without.
type upstreamJWTCmp struct {
	front       string
	concurrency int
	with, plain *sample
}

// upstreamJWTRows are the comparisons and the signing cost per key type.
type upstreamJWTRows struct {
	cmps []upstreamJWTCmp
	sign map[string]time.Duration // key type → one signature of the claims
}

const (
	jwtService  = "api-jwt"
	jwtHost     = "jwt.example.com"
	jwtIssuerBn = "https://auth.example.com"
)

// measureUpstreamJWT runs the rows with the binary bin in the directory dir.
func measureUpstreamJWT(ctx context.Context, bin, dir string, o options) (upstreamJWTRows, error) {
	var rows upstreamJWTRows
	key := filepath.Join(dir, "upstream-jwt.pem")
	if out, err := exec.Command(bin, "keys", "generate", "--type", "ed25519", "--out", key).CombinedOutput(); err != nil {
		return rows, fmt.Errorf("keys generate: %v: %s", err, out)
	}
	keyFlags := []string{"-signing-key", key, "-issuer", jwtIssuerBn}
	db := "sqlite:" + filepath.Join(dir, "upstream-jwt.db")

	// Kong socket: one plugin process, two services.
	p, err := startPlugin(ctx, "ours-upstream-jwt", bin, append([]string{"-database-url", db}, keyFlags...))
	if err != nil {
		return rows, err
	}
	defer p.host.Close()
	if _, err := p.host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		return rows, err
	}
	for name, conf := range map[string]map[string]any{
		service:    {"provision_key": provisionKey},
		jwtService: {"provision_key": provisionKey, "upstream_jwt": true},
	} {
		host := routeHost
		if name == jwtService {
			host = jwtHost
		}
		if _, err := p.host.AddService(konghost.ServiceSpec{Name: name, Host: host, Config: conf}); err != nil {
			return rows, err
		}
	}
	out, err := exec.Command(bin, "clients", "create", "--consumer", "bob", "--name", "bench", "-database-url", db).Output()
	if err != nil || json.Unmarshal(out, &p.client) != nil {
		return rows, fmt.Errorf("clients create: %v %s", err, out)
	}
	issueOn := func(name, host string) (string, error) {
		req := p.tokenRequest()
		req.Host = host
		res, err := p.host.Do(ctx, name, req)
		if err != nil {
			return "", err
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if res.Exit == nil || json.Unmarshal(res.Exit.Body, &tok) != nil || tok.AccessToken == "" {
			return "", fmt.Errorf("token endpoint of %s answered %d", name, res.Status)
		}
		return tok.AccessToken, nil
	}
	plainTok, err := issueOn(service, routeHost)
	if err != nil {
		return rows, err
	}
	jwtTok, err := issueOn(jwtService, jwtHost)
	if err != nil {
		return rows, err
	}
	kongOp := func(name, host, tok string, wantJWT bool) func(context.Context) error {
		req := &konghost.Request{Host: host, Path: "/orders", Header: map[string][]string{"Authorization": {"Bearer " + tok}}}
		return func(ctx context.Context) error {
			res, err := p.host.Do(ctx, name, req)
			if err != nil {
				return err
			}
			// 4 round trips; 5 when the consumer cache (-consumer-cache-ttl)
			// has just expired and the consumer is loaded again.
			if !res.Proxied || res.Status != 200 || res.RoundTrips-res.Calls["kong.client.load_consumer"] != 4 {
				return fmt.Errorf("validation on %s answered %d with %d round trips", name, res.Status, res.RoundTrips)
			}
			if h := res.Upstream.Header["authorization"]; wantJWT && (len(h) != 1 || strings.Count(h[0], ".") != 2) {
				return fmt.Errorf("no JWT upstream on %s", name)
			}
			return nil
		}
	}
	// One request each first: it loads the consumer (one PDK call more).
	for name, host := range map[string]string{service: routeHost, jwtService: jwtHost} {
		tok := plainTok
		if name == jwtService {
			tok = jwtTok
		}
		if _, err := p.host.Do(ctx, name, &konghost.Request{Host: host, Path: "/orders", Header: map[string][]string{"Authorization": {"Bearer " + tok}}}); err != nil {
			return rows, err
		}
	}
	for _, c := range o.concurrency {
		progress("upstream JWT: validation through the socket at concurrency %d, with vs without", c)
		w, pl, err := interleave(ctx,
			side{name: "upstream_jwt", op: kongOp(jwtService, jwtHost, jwtTok, true), plugin: p},
			side{name: "no upstream_jwt", op: kongOp(service, routeHost, plainTok, false), plugin: p}, c, o)
		if err != nil {
			return rows, err
		}
		rows.cmps = append(rows.cmps, upstreamJWTCmp{front: "Kong socket", concurrency: c, with: w, plain: pl})
	}
	p.host.Close()

	// Forward auth: one serve process, two services.
	conf := filepath.Join(dir, "upstream-jwt.yaml")
	body := "trusted_ips: [127.0.0.1/32]\nservices:\n  " + service + ":\n    provision_key: " + provisionKey +
		"\n    accept_http_if_already_terminated: true\n  " + jwtService + ":\n    provision_key: " + provisionKey +
		"\n    accept_http_if_already_terminated: true\n    upstream_jwt: true\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return rows, err
	}
	addr, err := freeAddr()
	if err != nil {
		return rows, err
	}
	sp := &serveProc{name: "serve-upstream-jwt", url: "http://" + addr, client: p.client}
	sp.cmd = exec.Command(bin, append([]string{"serve", "-config", conf, "-http", addr, "-database-url", db}, keyFlags...)...)
	sp.cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	if err := sp.cmd.Start(); err != nil {
		return rows, err
	}
	defer sp.close()
	if err := waitHTTP(ctx, sp.url+"/readyz"); err != nil {
		return rows, err
	}
	serveTok := func(name string) (string, error) {
		form := fmt.Sprintf("grant_type=password&provision_key=%s&authenticated_userid=user-1&client_id=%s&client_secret=%s", provisionKey, p.client.ID, p.client.Secret)
		req, _ := http.NewRequestWithContext(ctx, "POST", sp.url+"/services/"+name+"/oauth2/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := httpClient.Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if res.StatusCode != 200 || json.Unmarshal(b, &tok) != nil {
			return "", fmt.Errorf("serve token endpoint of %s: %d %s", name, res.StatusCode, b)
		}
		return tok.AccessToken, nil
	}
	if plainTok, err = serveTok(service); err != nil {
		return rows, err
	}
	if jwtTok, err = serveTok(jwtService); err != nil {
		return rows, err
	}
	for _, c := range o.concurrency {
		progress("upstream JWT: forward auth at concurrency %d, with vs without", c)
		w, pl, err := interleave(ctx,
			side{name: "upstream_jwt", op: authOp(sp.url+"/services/"+jwtService+"/auth", jwtTok), pid: sp.pid()},
			side{name: "no upstream_jwt", op: authOp(sp.url+"/services/"+service+"/auth", plainTok), pid: sp.pid()}, c, o)
		if err != nil {
			return rows, err
		}
		rows.cmps = append(rows.cmps, upstreamJWTCmp{front: "serve forward auth", concurrency: c, with: w, plain: pl})
	}

	rows.sign = map[string]time.Duration{}
	for _, typ := range []string{jwtkeys.TypeEd25519, jwtkeys.TypeES256} {
		if rows.sign[typ], err = signingCost(typ); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// signingCost is the time of one signature of a typical claims set with a
// fresh key of typ: what the first request of a token pays on top.
func signingCost(typ string) (time.Duration, error) {
	pem, err := jwtkeys.Generate(typ)
	if err != nil {
		return 0, err
	}
	k, err := jwtkeys.ParseKey(pem)
	if err != nil {
		return 0, err
	}
	set, err := jwtkeys.NewSet(jwtIssuerBn, []*jwtkeys.Key{k})
	if err != nil {
		return 0, err
	}
	payload, _ := json.Marshal(map[string]any{"iss": jwtIssuerBn, "sub": "user-1", "aud": "4b1a6ad4-0000-4000-8000-000000000001",
		"exp": time.Now().Unix() + 300, "iat": time.Now().Unix(), "jti": "N6BQ3XZ7JYV2K4WD5T6RMS2ZQA", "client_id": "web-0123456789abcdef",
		"scope": "email profile", "consumer_id": "4b1a6ad4-0000-4000-8000-000000000002", "consumer_username": "bob"})
	const n = 2000
	start := time.Now()
	for range n {
		if _, err := set.Sign(payload); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / n, nil
}

func (r *report) printUpstreamJWT(p func(string, ...any)) {
	for _, c := range r.upstreamJWT.cmps {
		cost := pairedCost(c.with, c.plain)
		p("| Upstream JWT (upstream_jwt) on a cached token, %s, concurrency %d: requests/s | %s | without upstream_jwt %s | %.3f× cost per request (median of round pairs; totals: %.3f×) | ≤ 1.05× | %s |",
			c.front, c.concurrency, num(c.with.perSecond()), num(c.plain.perSecond()), cost, c.plain.perSecond()/c.with.perSecond(), met(cost <= 1.05))
		p("| … latency p50 / p99 | %s / %s | %s / %s | %.3f× / %.3f× | | |",
			ms(c.with.quantile(0.50)), ms(c.with.quantile(0.99)), ms(c.plain.quantile(0.50)), ms(c.plain.quantile(0.99)),
			ratio(c.with.quantile(0.50), c.plain.quantile(0.50)), ratio(c.with.quantile(0.99), c.plain.quantile(0.99)))
		// The server and the load generator share two cores, so the
		// requests/s ratio also carries the client's cost of parsing a
		// response (forward auth) or a PDK call (Kong) ~500 bytes longer.
		wc, pc := c.with.cpuPerOp(), c.plain.cpuPerOp()
		p("| … CPU per request: oauth2-password process / load generator (the Kong host on the socket) | %s / %s | %s / %s | %.3f× / %.3f× | | |",
			usf(wc.plugin), usf(wc.self), usf(pc.plugin), usf(pc.self), ratio(wc.plugin, pc.plugin), ratio(wc.self, pc.self))
	}
	if s := r.upstreamJWT.sign; s != nil {
		p("| Upstream JWT: first use of a token, one signature of its claims (in process, paid once per token per node) | Ed25519 %s, ES256 %s | | | | |",
			us(s[jwtkeys.TypeEd25519]), us(s[jwtkeys.TypeES256]))
	}
}

// runUpstreamJWTOnly is -upstream-jwt-only: the binary, no PostgreSQL.
func runUpstreamJWTOnly(ctx context.Context, o options) (*report, error) {
	dir, err := os.MkdirTemp("", "o2p-bench-jwt")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	progress("building the plugin (no -race)")
	bin := filepath.Join(dir, "bin", "oauth2-password")
	if err := goBuild(bin, "./cmd/oauth2-password"); err != nil {
		return nil, err
	}
	rows, err := measureUpstreamJWT(ctx, bin, dir, o)
	if err != nil {
		return nil, err
	}
	return &report{opts: o, machine: machine(), upstreamJWT: rows}, nil
}

func (r *report) printUpstreamJWTOnly(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Machine: %s.  ", r.machine)
	p("Reproduce: `go run ./tests/bench -upstream-jwt-only -concurrency %s -rounds %d -round %v`; wall time %s.",
		joinInts(r.opts.concurrency), r.opts.rounds, r.opts.round, r.wall.Round(time.Second))
	p("")
	p("| Measure | oauth2-password | Reference | Ratio | Goal | Met |")
	p("|---|---|---|---|---|---|")
	r.printUpstreamJWT(p)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/freeport"
)

// serveProc is `oauth2-password serve` (or the forward-auth floor) started
// by the bench on a loopback port.
type serveProc struct {
	name   string
	cmd    *exec.Cmd
	url    string
	client client
}

func (p *serveProc) pid() int { return p.cmd.Process.Pid }

func (p *serveProc) close() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// httpClient is shared by both sides of every HTTP comparison.
var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// freeAddr is a loopback address for a process the bench starts. The
// port stays claimed until the bench exits (freeport says why a port
// bound to 0 and closed again is not safe while tests run beside it).
func freeAddr() (string, error) {
	port, _, err := freeport.Claim()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// startServe runs serve on dbURL with one service (api) behind a trusted
// TLS-terminating proxy (plain HTTP, X-Forwarded-Proto from loopback), one
// consumer and one confidential client created by the admin CLI.
func (e *env) startServe(ctx context.Context, name, dbURL string) (*serveProc, error) {
	out, err := e.cli("clients", "create", "--consumer", "bob", "--name", name, "-database-url", dbURL)
	if err != nil {
		return nil, err
	}
	p := &serveProc{name: name}
	if err := json.Unmarshal(out, &p.client); err != nil || p.client.ID == "" {
		return nil, fmt.Errorf("clients create printed %q", out)
	}
	conf := filepath.Join(e.dir, name+".yaml")
	body := "trusted_ips: [127.0.0.1/32]\nservices:\n  " + service + ":\n    provision_key: " + provisionKey +
		"\n    accept_http_if_already_terminated: true\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p.url = "http://" + addr
	p.cmd = exec.Command(e.bin, "serve", "-config", conf, "-http", addr, "-database-url", dbURL)
	p.cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	return p, waitHTTP(ctx, p.url+"/readyz")
}

// startFloorHTTP runs the forward-auth floor.
func (e *env) startFloorHTTP(ctx context.Context) (*serveProc, error) {
	bin := filepath.Join(e.dir, "floorhttp")
	if err := goBuild(bin, "./tests/floorhttp"); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &serveProc{name: "floorhttp", url: "http://" + addr, cmd: exec.Command(bin, "-http", addr)}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	return p, waitHTTP(ctx, p.url+"/")
}

func waitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := httpClient.Get(u); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within 20s", u)
}

// tokenOp is one password grant through serve's token endpoint.
func (p *serveProc) tokenOp() func(context.Context) (string, error) {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {"user-1"}, "client_id": {p.client.ID}, "client_secret": {p.client.Secret}}.Encode()
	return func(ctx context.Context) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/services/"+service+"/oauth2/token", strings.NewReader(form))
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
			return "", fmt.Errorf("%s: token endpoint answered %d %s", p.name, res.StatusCode, b)
		}
		return tok.AccessToken, nil
	}
}

// authOp is one forward-auth check of token at u; it must answer 200 with
// the consumer's username.
func authOp(u, token string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Consumer-Username") != "bob" {
			return fmt.Errorf("forward auth at %s answered %d", u, res.StatusCode)
		}
		return nil
	}
}

// compareForwardAuth measures serve's forward auth of a cached token
// against the floor HTTP server.
func (e *env) compareForwardAuth(ctx context.Context, sp, floor *serveProc, c int, o options) (validation, error) {
	tok, err := sp.tokenOp()(ctx)
	if err != nil {
		return validation{}, err
	}
	ours := side{name: "oauth2-password serve", op: authOp(sp.url+"/services/"+service+"/auth", tok), pid: sp.pid()}
	fl := side{name: "floor HTTP handler", op: authOp(floor.url+"/", tok), pid: floor.pid()}
	so, sf, err := interleave(ctx, ours, fl, c, o)
	if err != nil {
		return validation{}, err
	}
	return validation{concurrency: c, ours: so, floor: sf}, nil
}

// compareServeIssuance measures token issuance through serve's HTTP
// endpoint against the raw loop w on the same store.
func (e *env) compareServeIssuance(ctx context.Context, sp *serveProc, w writer, storeLabel string, o options) (issuance, error) {
	op := sp.tokenOp()
	ours := side{name: "oauth2-password serve", op: func(ctx context.Context) error { _, err := op(ctx); return err }, pid: sp.pid()}
	raw := side{name: w.name(), op: w.write}
	io := o
	io.rounds = max(2, o.rounds/2)
	so, sr, err := interleave(ctx, ours, raw, o.issueConc, io)
	if err != nil {
		return issuance{}, err
	}
	return issuance{concurrency: o.issueConc, store: storeLabel, pg: w.store() == "PostgreSQL", ours: so, raw: sr}, nil
}

// forwardAuthRows compares sp's forward auth with the floor HTTP handler
// at each concurrency.
func (e *env) forwardAuthRows(ctx context.Context, sp *serveProc, o options) (fa []validation, err error) {
	floor, err := e.startFloorHTTP(ctx)
	if err != nil {
		return nil, err
	}
	defer floor.close()
	for _, c := range o.concurrency {
		progress("serve: forward auth at concurrency %d vs the floor HTTP handler", c)
		v, err := e.compareForwardAuth(ctx, sp, floor, c, o)
		if err != nil {
			return nil, err
		}
		fa = append(fa, v)
	}
	return fa, nil
}

// serveRows runs every serve-mode comparison.
func (e *env) serveRows(ctx context.Context, o options) (fa []validation, is []issuance, err error) {
	spg, err := e.startServe(ctx, "serve-postgres", e.pgURL)
	if err != nil {
		return nil, nil, err
	}
	defer spg.close()
	if fa, err = e.forwardAuthRows(ctx, spg, o); err != nil {
		return nil, nil, err
	}
	rawPG, err := openRawPostgres(ctx, e.pgURL, spg.client.ID, service)
	if err != nil {
		return nil, nil, err
	}
	defer rawPG.close()
	progress("serve: issuance over HTTP with PostgreSQL (fsync=off) at concurrency %d", o.issueConc)
	r, err := e.compareServeIssuance(ctx, spg, rawPG, "PostgreSQL (pgtest, fsync=off)", o)
	if err != nil {
		return nil, nil, err
	}
	is = append(is, r)

	litePath := filepath.Join(e.dir, "serve.db")
	slite, err := e.startServe(ctx, "serve-sqlite", "sqlite:"+litePath)
	if err != nil {
		return nil, nil, err
	}
	defer slite.close()
	rawLite, err := openRawSQLite(ctx, litePath, slite.client.ID, service)
	if err != nil {
		return nil, nil, err
	}
	defer rawLite.close()
	progress("serve: issuance over HTTP with the embedded store at concurrency %d", o.issueConc)
	if r, err = e.compareServeIssuance(ctx, slite, rawLite, "embedded SQLite", o); err != nil {
		return nil, nil, err
	}
	return fa, append(is, r), nil
}

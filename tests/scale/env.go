package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

const (
	service      = "api"
	provisionKey = "pk-scale-0123456789abcdef"
)

// env is the binary, the PostgreSQL server the sizes grow in (cluster), a
// reference server that stays at the smallest size (ref), and a scratch
// directory.
type env struct {
	cluster
	dir string
	bin string
	// ref holds refSize tokens for the whole run: each size's cache misses
	// are measured side by side with it (missSideBySide). nil: no sizes.
	ref        *cluster
	refSize    int
	liteClient client
	liteURL    string
	liteSize   int // tokens loaded into the embedded store so far
	pgSize     int
	expiredSeq int // numbers the expired tokens loaded for the purge rows
	// serves are every serve started, stopped again by close in case a
	// failure skipped their own close.
	serves []*serveProc
}

// cluster is one PostgreSQL server with PostgreSQL's own default settings
// (fsync and full_page_writes on) and the store's database, as each serve
// finds it: one client, one service.
type cluster struct {
	pg       *pgtest.Server
	pgURL    string // the store's database
	admin    *sql.DB
	pgClient client
}

type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func setup(ctx context.Context) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "o2p-scale"); err != nil {
		return nil, err
	}
	progress("building the binary")
	e.bin = filepath.Join(e.dir, "oauth2-password")
	cmd := exec.Command("go", "build", "-o", e.bin, "./cmd/oauth2-password")
	cmd.Dir = root()
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, b)
	}
	progress("starting PostgreSQL (pgtest, then restarted with fsync and full_page_writes on: PostgreSQL's defaults)")
	c, err := e.newCluster(ctx)
	if c != nil {
		e.cluster = *c
	}
	if err != nil {
		return nil, err
	}
	e.liteURL = "sqlite:" + filepath.Join(e.dir, "store.db")
	if e.liteClient, err = e.createClient(e.liteURL); err != nil {
		return nil, err
	}
	return e, nil
}

// newCluster starts a PostgreSQL server (pgtest), restarts it with
// fsync and full_page_writes on, and creates the store's client in it.
// The cluster is returned even on error, for close.
func (e *env) newCluster(ctx context.Context) (*cluster, error) {
	c := &cluster{}
	var err error
	if c.pg, err = pgtest.New(); err != nil {
		return nil, err
	}
	c.pg.SetDurable(true)
	if err := c.restartPG(ctx); err != nil {
		return c, err
	}
	c.pgURL = c.pg.URL()
	if c.admin, err = sql.Open("postgres", c.pgURL); err != nil {
		return c, err
	}
	c.admin.SetMaxOpenConns(2)
	c.pgClient, err = e.createClient(c.pgURL)
	return c, err
}

func (e *env) close() {
	for _, p := range e.serves {
		p.close()
	}
	e.cluster.close()
	if e.ref != nil {
		e.ref.close()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

func (e *cluster) close() {
	if e.admin != nil {
		e.admin.Close()
	}
	if e.pg != nil {
		e.pg.Close()
	}
}

// restartPG checkpoints (so that the restart replays little WAL), stops
// and starts the server: settings changed with ALTER SYSTEM apply.
func (e *cluster) restartPG(ctx context.Context) error {
	if e.admin != nil {
		e.admin.ExecContext(ctx, `CHECKPOINT`)
		e.admin.Close()
		e.admin = nil
	}
	if err := e.pg.Stop(); err != nil {
		return err
	}
	if err := e.pg.Start(); err != nil {
		return err
	}
	if e.pgURL != "" {
		var err error
		if e.admin, err = sql.Open("postgres", e.pgURL); err != nil {
			return err
		}
		e.admin.SetMaxOpenConns(2)
	}
	return nil
}

// cli runs the binary's admin CLI and returns its stdout.
func (e *env) cli(args ...string) ([]byte, error) {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("oauth2-password %s: %v: %s", args[0], err, stderr.String())
	}
	return out, nil
}

func (e *env) createClient(dbURL string) (client, error) {
	out, err := e.cli("clients", "create", "--consumer", "bob", "--name", "scale", "-database-url", dbURL)
	if err != nil {
		return client{}, err
	}
	var c client
	if err := json.Unmarshal(out, &c); err != nil || c.ID == "" || c.Secret == "" {
		return client{}, fmt.Errorf("clients create printed %q", out)
	}
	return c, nil
}

// serveProc is `oauth2-password serve` on a loopback port.
type serveProc struct {
	cmd     *exec.Cmd
	url     string
	client  client
	startup time.Duration // from exec to the first answered forward auth
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startServe runs serve on dbURL with the one service and waits for the
// first forward auth of the token probe to be answered 200: the start-up
// time a load balancer sees.
func (e *env) startServe(ctx context.Context, dbURL string, c client, probe string) (*serveProc, error) {
	conf := filepath.Join(e.dir, "serve.yaml")
	body := "trusted_ips: [127.0.0.1/32]\nservices:\n  " + service + ":\n    provision_key: " + provisionKey +
		"\n    accept_http_if_already_terminated: true\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &serveProc{url: "http://" + addr, client: c}
	p.cmd = exec.Command(e.bin, "serve", "-config", conf, "-http", addr, "-database-url", dbURL)
	p.cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	e.serves = append(e.serves, p)
	auth := p.authOp()
	if probe == "" { // an empty store: the first answered /readyz
		auth = func(ctx context.Context, _ string) error {
			res, err := httpClient.Get(p.url + "/readyz")
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("/readyz answered %d", res.StatusCode)
			}
			return nil
		}
	}
	deadline := start.Add(60 * time.Second)
	for {
		if err := auth(ctx, probe); err == nil {
			p.startup = time.Since(start)
			return p, nil
		} else if time.Now().After(deadline) {
			p.close()
			return nil, fmt.Errorf("serve not answering within 60s: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (p *serveProc) close() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// rss is the process's resident set and its peak so far, in bytes.
func (p *serveProc) rss() (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			cur = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			peak = kb << 10
		}
	}
	return cur, peak
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// post sends a form to one of the service's endpoints and decodes the JSON
// answer into v (when not nil); any status but 200 is an error.
func (p *serveProc) post(ctx context.Context, endpoint string, form url.Values, v any) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/services/"+service+"/oauth2/"+endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	if res.StatusCode != 200 {
		var body map[string]any
		_ = dec.Decode(&body)
		return fmt.Errorf("%s answered %d %v", endpoint, res.StatusCode, body)
	}
	if v == nil {
		return nil
	}
	return dec.Decode(v)
}

// authOp is one forward-auth check; 200 with the consumer's username.
func (p *serveProc) authOp() func(context.Context, string) error {
	u := p.url + "/services/" + service + "/auth"
	return func(ctx context.Context, token string) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("X-Consumer-Username") != "bob" {
			return fmt.Errorf("forward auth answered %d", res.StatusCode)
		}
		return nil
	}
}

func (p *serveProc) issue(ctx context.Context) error {
	_, err := p.issueToken(ctx)
	return err
}

// issuedUser is the authenticated_userid of the tokens the measurements
// issue (the loaded ones are user-0 … user-99999): missAndSustain deletes
// them after each sustained run, measurePostgres before the next size is
// loaded.
const issuedUser = "scale-issued"

// issueToken is one password grant; it returns the access token.
func (p *serveProc) issueToken(ctx context.Context) (string, error) {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := p.post(ctx, "token", url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {issuedUser}, "client_id": {p.client.ID}, "client_secret": {p.client.Secret}}, &tok)
	if err == nil && tok.AccessToken == "" {
		err = errors.New("token endpoint answered no access_token")
	}
	return tok.AccessToken, err
}

func (p *serveProc) refresh(ctx context.Context, refresh string) error {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err := p.post(ctx, "token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {p.client.ID}, "client_secret": {p.client.Secret}}, &tok)
	if err == nil && tok.AccessToken == "" {
		err = errors.New("refresh answered no access_token")
	}
	return err
}

func (p *serveProc) introspect(ctx context.Context, access string) error {
	var ans struct {
		Active bool `json:"active"`
	}
	err := p.post(ctx, "introspect", url.Values{"token": {access}, "client_id": {p.client.ID}, "client_secret": {p.client.Secret}}, &ans)
	if err == nil && !ans.Active {
		err = errors.New("introspection: a live token is inactive")
	}
	return err
}

func (p *serveProc) revoke(ctx context.Context, access string) error {
	return p.post(ctx, "revoke", url.Values{"token": {access}, "token_type_hint": {"access_token"},
		"client_id": {p.client.ID}, "client_secret": {p.client.Secret}}, nil)
}

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

const (
	provisionKey = "pk-bench-0123456789abcdef"
	service      = "api"
	routeHost    = "api.test"
)

// root is the module's root directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// plugin is one plugin process under its own Kong-side host.
type pluginProc struct {
	name   string
	host   *konghost.Host
	log    *lineLog
	db     string
	client client // ours only
}

type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// env is everything the socket measurements share.
type env struct {
	dir   string
	bin   string
	pgSrv *pgtest.Server
	pgURL string
	pg    *pluginProc // ours over PostgreSQL
	// pgMetrics is ours over PostgreSQL with -metrics on (its own process
	// and client), for the validation row with metrics.
	pgMetrics *pluginProc
	lite      *pluginProc // ours over the embedded store
	floor     *pluginProc
	// floorIssue is the floor plugin in issue mode over ours' PostgreSQL.
	floorIssue *pluginProc
	rawPG      writer
	rawSQLite  writer
	// loginBackend answers ours' login service (login.go).
	loginBackend *httptest.Server
	closeOnce    sync.Once
}

func setup(ctx context.Context) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.dir, err = os.MkdirTemp("", "o2p-bench"); err != nil {
		return nil, err
	}
	progress("building the plugin (no -race) and the floor plugin")
	e.bin = filepath.Join(e.dir, "bin", "oauth2-password")
	floorBin := filepath.Join(e.dir, "floor", "floor-plugin")
	if err := goBuild(e.bin, "./cmd/oauth2-password"); err != nil {
		return nil, err
	}
	if err := goBuild(floorBin, "./tests/floorplugin"); err != nil {
		return nil, err
	}

	progress("starting PostgreSQL (pgtest)")
	if e.pgSrv, err = pgtest.New(); err != nil {
		return nil, err
	}
	e.pgURL = e.pgSrv.URL()
	sqliteURL := "sqlite:" + filepath.Join(e.dir, "oauth2-password.db")

	if e.pg, err = e.startOurs(ctx, "ours-postgres", e.pgURL); err != nil {
		return nil, err
	}
	if e.pgMetrics, err = e.startOurs(ctx, "ours-postgres-metrics", e.pgURL, "-metrics", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if e.lite, err = e.startOurs(ctx, "ours-sqlite", sqliteURL); err != nil {
		return nil, err
	}
	if e.floor, err = startPlugin(ctx, "floor", floorBin, nil); err != nil {
		return nil, err
	}
	if _, err := e.floor.host.AddService(konghost.ServiceSpec{Name: service, Host: routeHost}); err != nil {
		return nil, err
	}
	pgSvc, _ := e.pg.host.Service(service)
	if e.floorIssue, err = startIssueFloor(ctx, floorBin, e.pgURL, e.pg.client.ID, pgSvc.ServiceID); err != nil {
		return nil, err
	}
	if e.rawPG, err = openRawPostgres(ctx, e.pgURL, e.pg.client.ID, pgSvc.ServiceID); err != nil {
		return nil, err
	}
	if err := e.startLoginBackend(); err != nil {
		return nil, err
	}
	liteSvc, _ := e.lite.host.Service(service)
	if e.rawSQLite, err = openRawSQLite(ctx, strings.TrimPrefix(sqliteURL, "sqlite:"), e.lite.client.ID, liteSvc.ServiceID); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	e.closeOnce.Do(func() {
		for _, w := range []writer{e.rawPG, e.rawSQLite} {
			if w != nil {
				w.close()
			}
		}
		for _, p := range []*pluginProc{e.pg, e.pgMetrics, e.lite, e.floor, e.floorIssue} {
			if p != nil {
				p.host.Close()
			}
		}
		if e.pgSrv != nil {
			e.pgSrv.Close()
		}
		if e.loginBackend != nil {
			e.loginBackend.Close()
		}
		if e.dir != "" {
			os.RemoveAll(e.dir)
		}
	})
}

func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func startPlugin(ctx context.Context, name, bin string, args []string) (*pluginProc, error) {
	p := &pluginProc{name: name, log: &lineLog{}}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	h, err := konghost.Start(ctx, konghost.Options{
		Bin: bin, Args: args, Log: p.log.add,
		Env: []string{"OAUTH2_PASSWORD_DATABASE_URL="},
	})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %v\n%s", name, err, p.log)
	}
	p.host = h
	return p, nil
}

// startOurs runs the real plugin on dbURL (extra flags may follow) with one
// service, one consumer and one confidential client created by the admin
// CLI.
func (e *env) startOurs(ctx context.Context, name, dbURL string, flags ...string) (*pluginProc, error) {
	p, err := startPlugin(ctx, name, e.bin, append([]string{"-database-url", dbURL}, flags...))
	if err != nil {
		return nil, err
	}
	p.db = dbURL
	if _, err := p.host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		return p, err
	}
	if _, err := p.host.AddService(konghost.ServiceSpec{Name: service, Host: routeHost,
		Config: map[string]any{"provision_key": provisionKey}}); err != nil {
		return p, err
	}
	out, err := e.cli("clients", "create", "--consumer", "bob", "--name", "bench", "-database-url", dbURL)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(out, &p.client); err != nil || p.client.ID == "" {
		return p, fmt.Errorf("clients create printed %q", out)
	}
	return p, nil
}

func (e *env) cli(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	var o, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("oauth2-password %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return o.Bytes(), nil
}

// tokenRequest is a password-grant request for p's client.
func (p *pluginProc) tokenRequest() *konghost.Request {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {"user-1"}, "client_id": {p.client.ID}, "client_secret": {p.client.Secret}}
	return &konghost.Request{Method: "POST", Scheme: "https", Host: routeHost, Path: "/oauth2/token",
		Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:   []byte(form.Encode())}
}

// issue runs one password grant and returns the access token.
func (p *pluginProc) issue(ctx context.Context) (string, error) {
	res, err := p.host.Do(ctx, service, p.tokenRequest())
	if err != nil {
		return "", err
	}
	if res.Exit == nil || res.Status != 200 {
		return "", fmt.Errorf("%s: token endpoint answered %d (%v)\n%s", p.name, res.Status, res.Failure, p.log)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(res.Exit.Body, &tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("%s: token endpoint answered %s", p.name, res.Exit.Body)
	}
	return tok.AccessToken, nil
}

// lineLog keeps the last lines a plugin process printed, for errors.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) >= 50 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, s)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// setFsync restarts PostgreSQL with fsync and full_page_writes on or off
// (pgtest starts it with both off; neither can change on a reload when
// given on the command line) and waits until the plugin's store and the
// raw loop have reconnected.
func (e *env) setFsync(ctx context.Context, on bool) error {
	if err := e.pgSrv.Stop(); err != nil {
		return err
	}
	e.pgSrv.SetDurable(on)
	if err := e.pgSrv.Start(); err != nil {
		return err
	}
	db, err := sql.Open("postgres", e.pgSrv.AdminURL())
	if err != nil {
		return err
	}
	defer db.Close()
	want := map[bool]string{true: "on", false: "off"}[on]
	var got string
	if err := db.QueryRowContext(ctx, "SHOW fsync").Scan(&got); err != nil || got != want {
		return fmt.Errorf("PostgreSQL restarted with fsync=%q (%v), want %s", got, err, want)
	}
	// Connections pooled before the restart are dead: lib/pq reports each
	// once (driver.ErrBadConn makes database/sql retry), so a few rounds
	// of requests flush them on both sides.
	deadline := time.Now().Add(30 * time.Second)
	for ok := 0; ok < 32; {
		if time.Now().After(deadline) {
			return fmt.Errorf("the plugin did not recover from the PostgreSQL restart\n%s", e.pg.log)
		}
		_, err1 := e.pg.issue(ctx)
		err2 := e.rawPG.write(ctx)
		if err1 == nil && err2 == nil {
			ok++
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

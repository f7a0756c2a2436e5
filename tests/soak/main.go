// Command soak runs the real plugin binary for a while under mixed load and
// fails if it leaks or loses a token (make soak; not part of make test).
//
//	go run ./tests/soak -duration 5m
//
// Load, from several goroutines at once, through the Kong-side test host:
// password grants, validations, refreshes, replays of used refresh tokens
// (family revocations), admin-CLI revocations, and wrong client secrets
// (from a client of their own, so that throttling them locks nobody else
// out). PostgreSQL is restarted in the middle. Every 10 s it samples the
// plugin process's RSS (/proc), live heap and goroutines (the line the
// plugin logs on SIGUSR1) and its open PostgreSQL connections
// (pg_stat_activity).
//
// The plugin runs with a -cache-max-ttl of a tenth of the run (10 s to 1 m),
// so that its token cache reaches its steady size early. It fails if, after
// the warm-up (a fifth of the run, at least twice that TTL), a figure
// keeps growing: every sample of the second half above the highest of the
// first half by more than a tolerance. It also fails if a token answered
// 200 and never revoked or rotated stops validating, or if an answer is not
// one the load expects.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

const (
	provisionKey = "pk-soak-0123456789abcdef"
	service      = "api"
	routeHost    = "api.test"
)

func main() {
	d := flag.Duration("duration", 5*time.Minute, "how long the load runs (SOAK in make soak)")
	workers := flag.Int("workers", 6, "concurrent clients")
	every := flag.Duration("sample", 10*time.Second, "sampling interval")
	flag.Parse()
	if err := run(*d, *workers, *every); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...) }

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

type env struct {
	bin   string
	db    string
	pg    *pgtest.Server
	host  *konghost.Host
	good  client
	bad   client
	lines chan string // the plugin's log lines
}

func run(d time.Duration, workers int, every time.Duration) error {
	dir, err := os.MkdirTemp("", "o2p-soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := &env{bin: filepath.Join(dir, "oauth2-password"), lines: make(chan string, 4096)}
	// The token cache fills for -cache-max-ttl and is steady after it:
	// short enough here that the run sees the steady state, and the
	// warm-up covers it twice.
	maxTTL := min(max(d/10, 10*time.Second), time.Minute)
	warmup := max(d/5, 2*maxTTL)
	build := exec.Command("go", "build", "-o", e.bin, "./cmd/oauth2-password")
	build.Dir = root()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	if e.pg, err = pgtest.New(); err != nil {
		return err
	}
	defer e.pg.Close()
	e.db = e.pg.URL()
	ctx := context.Background()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	e.host, err = konghost.Start(sctx, konghost.Options{
		Bin: e.bin, Args: []string{"-database-url", e.db, "-cache-max-ttl", maxTTL.String()},
		Env: []string{"OAUTH2_PASSWORD_DATABASE_URL="},
		Log: func(s string) {
			select {
			case e.lines <- s:
			default: // nobody is waiting for a stats line: drop
			}
		},
	})
	if err != nil {
		return err
	}
	defer e.host.Close()
	if _, err := e.host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		return err
	}
	if _, err := e.host.AddService(konghost.ServiceSpec{Name: service, Host: routeHost,
		Config: map[string]any{"provision_key": provisionKey}}); err != nil {
		return err
	}
	for _, c := range []*client{&e.good, &e.bad} {
		out, err := e.cli("clients", "create", "--consumer", "bob", "--name", "soak")
		if err != nil {
			return err
		}
		if err := json.Unmarshal(out, c); err != nil {
			return err
		}
	}
	stats, err := sql.Open("postgres", e.db)
	if err != nil {
		return err
	}
	defer stats.Close()
	stats.SetMaxOpenConns(1)

	var (
		counts  sync.Map // answer kind → *atomic.Int64
		keepMu  sync.Mutex
		keepers []string // tokens answered 200 and never revoked nor rotated
		failMu  sync.Mutex
		failure error
	)
	fail := func(err error) {
		failMu.Lock()
		defer failMu.Unlock()
		if failure == nil {
			failure = err
		}
	}
	count := func(k string) {
		v, _ := counts.LoadOrStore(k, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	lctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; lctx.Err() == nil; i++ {
				if err := e.round(lctx, w, i, count, func(tok string) {
					keepMu.Lock()
					keepers = append(keepers, tok)
					keepMu.Unlock()
				}); err != nil && lctx.Err() == nil {
					fail(fmt.Errorf("worker %d: %w", w, err))
					return
				}
			}
		})
	}
	// PostgreSQL restarts in the middle.
	restarted := make(chan error, 1)
	go func() {
		select {
		case <-lctx.Done():
			restarted <- nil
			return
		case <-time.After(d / 2):
		}
		logf("restarting PostgreSQL")
		err := e.pg.Stop()
		if err == nil {
			err = e.pg.Start()
		}
		restarted <- err
	}()

	var samples []sample
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	for lctx.Err() == nil {
		select {
		case <-lctx.Done():
		case <-tick.C:
			s, err := e.sample(ctx, stats)
			if err != nil {
				fail(err)
				stop()
				break
			}
			s.at = time.Since(start)
			samples = append(samples, s)
			logf("%6s  rss %7.1f MiB  heap %7.1f MiB  goroutines %4d  pg connections %3d", s.at.Round(time.Second), mib(s.rss), mib(s.heap), s.goroutines, s.conns)
		}
	}
	wg.Wait()
	if err := <-restarted; err != nil {
		return fmt.Errorf("restarting PostgreSQL: %w", err)
	}
	var summary []string
	counts.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	logf("answers: %s", strings.Join(summary, ", "))
	if failure != nil {
		return failure
	}
	// Every kept token still validates.
	for _, tok := range keepers {
		st, err := e.validate(ctx, tok)
		if err != nil {
			return err
		}
		if st != 200 {
			return fmt.Errorf("a token answered 200 and never revoked now answers %d (of %d kept)", st, len(keepers))
		}
	}
	logf("%d kept tokens all validate", len(keepers))
	return checkGrowth(samples, warmup)
}

// round is one user's session: a grant, uses, a refresh, and one of a
// replay, a CLI revocation, a kept token, or wrong secrets.
func (e *env) round(ctx context.Context, w, i int, count func(string), keep func(string)) error {
	user := fmt.Sprintf("soak-%d-%d", w, i)
	tr, st, err := e.grant(ctx, e.good, url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {user}})
	if err != nil {
		return err
	}
	if st == 503 {
		count("503 (store unavailable)")
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	if st != 200 {
		return fmt.Errorf("password grant answered %d", st)
	}
	count("issued")
	for range 3 {
		if err := e.expect(ctx, tr.AccessToken, 200, 503, count); err != nil {
			return err
		}
	}
	switch i % 5 {
	case 0: // kept: must validate at the end
		keep(tr.AccessToken)
		return nil
	case 4: // wrong secrets, from the other client
		for range 3 {
			_, st, err := e.grant(ctx, client{ID: e.bad.ID, Secret: "wrong-secret-0123456789abc"},
				url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {user}})
			if err != nil {
				return err
			}
			switch st {
			case 400, 401, 429, 503:
				count(fmt.Sprintf("wrong secret %d", st))
			default:
				return fmt.Errorf("a wrong client secret answered %d", st)
			}
		}
		return nil
	}
	nx, st, err := e.grant(ctx, e.good, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
	if err != nil {
		return err
	}
	if st == 503 {
		count("503 (store unavailable)")
		return nil
	}
	if st != 200 {
		return fmt.Errorf("refresh answered %d", st)
	}
	count("refreshed")
	if err := e.expect(ctx, tr.AccessToken, 401, 503, count); err != nil {
		return fmt.Errorf("rotated-out token: %w", err)
	}
	switch i % 5 {
	case 1: // replay: the family goes
		_, st, err := e.grant(ctx, e.good, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		switch {
		case err != nil:
			return err
		case st == 503: // nothing was revoked
			count("503 (store unavailable)")
			return nil
		case st != 400:
			return fmt.Errorf("replayed refresh token answered %d", st)
		}
		count("replayed")
		return e.eventually401(ctx, nx.AccessToken)
	case 2: // the admin CLI revokes it (now and then: each is a process)
		if rand.IntN(4) == 0 {
			if _, err := e.cli("tokens", "revoke", "--access-token", nx.AccessToken); err != nil {
				count("CLI revocation failed (PostgreSQL restarting)")
				return nil
			}
			count("CLI revoked")
			return e.eventually401(ctx, nx.AccessToken)
		}
	}
	return e.expect(ctx, nx.AccessToken, 200, 503, count)
}

// eventually401 waits up to 5 s for a revoked token to be refused.
func (e *env) eventually401(ctx context.Context, tok string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := e.validate(ctx, tok)
		if err != nil || st == 401 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("a revoked token still answers %d after 5 s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expect validates tok and accepts want, or the store-outage answer.
func (e *env) expect(ctx context.Context, tok string, want, outage int, count func(string)) error {
	st, err := e.validate(ctx, tok)
	if err != nil {
		return err
	}
	switch st {
	case want:
		count(fmt.Sprintf("validation %d", st))
		return nil
	case outage:
		count("validation 503")
		return nil
	}
	return fmt.Errorf("validation answered %d, want %d", st, want)
}

func (e *env) validate(ctx context.Context, tok string) (int, error) {
	res, err := e.host.Do(ctx, service, &konghost.Request{Host: routeHost, Path: "/orders",
		Header: map[string][]string{"Authorization": {"Bearer " + tok}}})
	if err != nil {
		return 0, err
	}
	return res.Status, nil
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (e *env) grant(ctx context.Context, c client, form url.Values) (tokenAnswer, int, error) {
	form.Set("client_id", c.ID)
	form.Set("client_secret", c.Secret)
	res, err := e.host.Do(ctx, service, &konghost.Request{Method: "POST", Scheme: "https", Host: routeHost, Path: "/oauth2/token",
		Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte(form.Encode())})
	if err != nil {
		return tokenAnswer{}, 0, err
	}
	if res.Status == 500 {
		return tokenAnswer{}, 500, fmt.Errorf("token endpoint answered 500 (%v)", res.Failure)
	}
	var a tokenAnswer
	if res.Status == 200 {
		if res.Exit == nil || json.Unmarshal(res.Exit.Body, &a) != nil || a.AccessToken == "" {
			return a, 0, fmt.Errorf("token endpoint answered 200 without a token")
		}
	}
	return a, res.Status, nil
}

func (e *env) cli(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append(args, "-database-url", e.db)...)
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("oauth2-password %s: %v: %s", strings.Join(args, " "), err, errOut.Bytes())
	}
	return out.Bytes(), nil
}

type sample struct {
	at         time.Duration
	rss, heap  int64
	goroutines int64
	conns      int64
}

var statsLine = regexp.MustCompile(`oauth2-password: stats: heap_alloc=(\d+) heap_sys=\d+ goroutines=(\d+)`)

// sample asks the plugin for its stats line and reads the rest.
func (e *env) sample(ctx context.Context, db *sql.DB) (sample, error) {
	var s sample
	pid := e.host.Process().PID()
	if pid == 0 {
		return s, fmt.Errorf("the plugin process is not running")
	}
	for len(e.lines) > 0 { // drop what is queued: the answer comes next
		<-e.lines
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return s, err
	}
	deadline := time.After(10 * time.Second)
	for s.heap == 0 {
		select {
		case l := <-e.lines:
			if m := statsLine.FindStringSubmatch(l); m != nil {
				s.heap, _ = strconv.ParseInt(m[1], 10, 64)
				s.goroutines, _ = strconv.ParseInt(m[2], 10, 64)
			}
		case <-deadline:
			return s, fmt.Errorf("no stats line from the plugin within 10 s")
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for l := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			s.rss = kb << 10
		}
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// The plugin's pool and LISTEN session; not this connection, nor a CLI.
	err = db.QueryRowContext(qctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&s.conns)
	if err != nil {
		s.conns = -1 // PostgreSQL restarting: no figure this time
	}
	return s, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// checkGrowth fails if a figure keeps growing after warm-up: every sample
// of the second half of the post-warm-up samples above the highest of the
// first half by more than its tolerance.
func checkGrowth(samples []sample, warmup time.Duration) error {
	var after []sample
	for _, s := range samples {
		if s.at >= warmup {
			after = append(after, s)
		}
	}
	if len(after) < 4 {
		return fmt.Errorf("only %d samples after the warm-up: run longer (-duration) or sample more often", len(after))
	}
	half := len(after) / 2
	figures := []struct {
		name  string
		get   func(sample) int64
		slack func(int64) int64
	}{
		{"RSS", func(s sample) int64 { return s.rss }, func(v int64) int64 { return v/5 + 4<<20 }},
		{"live heap", func(s sample) int64 { return s.heap }, func(v int64) int64 { return v/5 + 2<<20 }},
		{"goroutines", func(s sample) int64 { return s.goroutines }, func(v int64) int64 { return v/10 + 5 }},
		{"PostgreSQL connections", func(s sample) int64 { return s.conns }, func(int64) int64 { return 4 }},
	}
	var errs []string
	for _, f := range figures {
		var peak int64
		for _, s := range after[:half] {
			peak = max(peak, f.get(s))
		}
		low := int64(-1)
		for _, s := range after[half:] {
			if v := f.get(s); v >= 0 && (low < 0 || v < low) {
				low = v
			}
		}
		logf("%s: first half peak %d, second half low %d", f.name, peak, low)
		if low > peak+f.slack(peak) {
			errs = append(errs, fmt.Sprintf("%s keeps growing: %d at least in the second half, %d at most in the first", f.name, low, peak))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

type fakeStore struct {
	ready bool
	age   time.Duration
}

func (f fakeStore) Ready() bool            { return f.ready }
func (f fakeStore) SyncAge() time.Duration { return f.age }

type fakeEngine int

func (f fakeEngine) ThrottledKeys() int { return int(f) }

// TestMetricsCount: each event moves its own series, by the labels the
// README names, and the exposition passes client_golang's linter (the
// checks of promtool check metrics).
func TestMetricsCount(t *testing.T) {
	m := New("1.2.3")
	m.WatchStore(fakeStore{ready: true, age: 1500 * time.Millisecond})
	m.WatchEngine(fakeEngine(7))
	ms := time.Millisecond
	for _, o := range []plugin.Observation{
		{Front: plugin.FrontKong, Outcome: plugin.OutcomeAllowed, Took: ms},
		{Front: plugin.FrontKong, Outcome: plugin.OutcomeAllowed, Took: ms},
		{Front: plugin.FrontKong, Outcome: plugin.OutcomeExpired, Took: ms},
		{Front: plugin.FrontToken, Outcome: plugin.OutcomeIssued, Grant: "password", Took: 5 * ms},
		{Front: plugin.FrontToken, Outcome: plugin.OutcomeIssued, Grant: "refresh_token", Took: 5 * ms},
		{Front: plugin.FrontToken, Outcome: plugin.OutcomeRefreshReplayed, Grant: "refresh_token", Took: 5 * ms},
		{Front: plugin.FrontForwardAuth, Outcome: plugin.OutcomeStoreUnavailable, Took: 2 * time.Second},
	} {
		m.Observe(o)
	}
	m.CacheLookup(store.CacheTokens, true)
	m.CacheLookup(store.CacheTokens, true)
	m.CacheLookup(store.CacheTokens, false)
	m.CacheLookup(store.CacheClients, false)
	m.StoreCall(store.OpTokenByAccess, 2*ms, store.ResultOK)
	m.StoreCall(store.OpCreateToken, 2*time.Second, store.ResultTimeout)

	want := map[string]float64{
		`oauth2_password_requests_total{front="kong",outcome="allowed"}`:                   2,
		`oauth2_password_requests_total{front="kong",outcome="expired"}`:                   1,
		`oauth2_password_requests_total{front="token",outcome="issued"}`:                   2,
		`oauth2_password_requests_total{front="forward-auth",outcome="store_unavailable"}`: 1,
		`oauth2_password_request_duration_seconds_count{front="kong"}`:                     3,
		`oauth2_password_request_duration_seconds_bucket{front="kong",le="0.001"}`:         3,
		`oauth2_password_request_duration_seconds_bucket{front="forward-auth",le="1"}`:     0,
		`oauth2_password_tokens_issued_total{grant="password"}`:                            1,
		`oauth2_password_tokens_issued_total{grant="refresh_token"}`:                       1,
		`oauth2_password_token_family_revocations_total`:                                   1,
		`oauth2_password_cache_lookups_total{cache="token",result="hit"}`:                  2,
		`oauth2_password_cache_lookups_total{cache="token",result="miss"}`:                 1,
		`oauth2_password_cache_lookups_total{cache="client",result="hit"}`:                 0,
		`oauth2_password_cache_lookups_total{cache="client",result="miss"}`:                1,
		`oauth2_password_store_calls_total{op="token_by_access",result="ok"}`:              1,
		`oauth2_password_store_calls_total{op="create_token",result="timeout"}`:            1,
		`oauth2_password_store_call_duration_seconds_count{op="create_token"}`:             1,
		`oauth2_password_store_ready`:                                                      1,
		`oauth2_password_cache_sync_age_seconds`:                                           1.5,
		`oauth2_password_throttle_keys`:                                                    7,
		`oauth2_password_build_info{version="1.2.3"}`:                                      1,
	}
	got := scrape(t, m)
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
	for series := range got {
		if name, _, _ := strings.Cut(series, "{"); strings.HasPrefix(name, namespace) && !exportedSeries(name) {
			t.Errorf("%s is missing from the list the dashboard test checks against", name)
		}
		if strings.Contains(series, `front="ext-authz-grpc"`) {
			t.Errorf("a front that saw no request has series: %s", series)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestHotPathAllocatesNothing: what a validated request adds (a cache
// hit and one observation) allocates nothing once its series exist.
func TestHotPathAllocatesNothing(t *testing.T) {
	m := New("test")
	o := plugin.Observation{Front: plugin.FrontKong, Outcome: plugin.OutcomeAllowed, Took: time.Millisecond}
	if n := testing.AllocsPerRun(1000, func() {
		m.CacheLookup(store.CacheTokens, true)
		m.CacheLookup(store.CacheClients, true)
		m.Observe(o)
	}); n != 0 {
		t.Errorf("%v allocations per validated request, want 0", n)
	}
}

// TestServe: the listener serves the metrics on GET /metrics only, logs
// the address it took, and stops with its context.
func TestServe(t *testing.T) {
	m := New("test")
	m.Observe(plugin.Observation{Front: plugin.FrontKong, Outcome: plugin.OutcomeAllowed})
	var logBuf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Serve(ctx, "127.0.0.1:0", slog.New(slog.NewJSONHandler(&logBuf, nil)))
		close(done)
	}()
	addr := waitFor(t, &logBuf, regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`))
	base := "http://" + addr
	resp, err := http.Get(base + Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`oauth2_password_requests_total{front="kong",outcome="allowed"} 1`)) {
		t.Errorf("GET %s: %d\n%s", Path, resp.StatusCode, body)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"POST", Path, 405}, {"GET", "/", 404}, {"GET", "/debug/pprof/", 404}} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// TestServeRetriesBusyAddress: an address in use is logged and retried,
// not fatal.
func TestServeRetriesBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logBuf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		New("test").Serve(ctx, ln.Addr().String(), slog.New(slog.NewJSONHandler(&logBuf, nil)))
		close(done)
	}()
	waitFor(t, &logBuf, regexp.MustCompile(`"msg":"metrics listener failed; retrying in 2s"`))
	ln.Close()
	waitFor(t, &logBuf, regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`))
	cancel()
	<-done
}

// waitFor waits until the log has a line matching re and returns its
// first group.
func waitFor(t *testing.T, b *syncBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return ""
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s in %q", re, b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrape returns every sample of m's text exposition by series.
func scrape(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	srv := m.Handler()
	rec := &recorder{header: http.Header{}}
	req, _ := http.NewRequest("GET", Path, nil)
	srv.ServeHTTP(rec, req)
	if rec.status != 0 && rec.status != 200 {
		t.Fatalf("GET %s: %d", Path, rec.status)
	}
	samples, err := harness.ParseMetrics(rec.body.String())
	if err != nil {
		t.Fatal(err)
	}
	return samples
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

// syncBuffer is a log written by one goroutine and read by another.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

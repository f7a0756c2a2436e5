package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// Throttling under concurrency, through the real binary: requests that
// arrive together must not slip past the allowance while the first of them
// are still being checked (docs/security-throttling.md).

// behindProxy is a serve config with orders and accounts behind a TLS
// terminating proxy on 127.0.0.1 (trusted_ips): requests come as that
// proxy sends them, the client's address in X-Forwarded-For.
func behindProxy(loginURL string) string {
	return harness.ServeConfig(
		"  orders:\n    provision_key: \""+provisionKey+"\"\n    accept_http_if_already_terminated: true",
		"  accounts:\n    provision_key: \""+provisionKey+"\"\n    accept_http_if_already_terminated: true\n"+
			"    authenticate_url: "+loginURL+"\n    authenticate_timeout: 60000")
}

// viaProxy is req as the proxy forwards it for a client at addr.
func viaProxy(req *http.Request, addr string) *http.Request {
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", addr)
	return req
}

// tokenRequest is a password grant on orders with HTTP Basic client
// credentials (a wrong secret is then 401, RFC 6749 §5.2), from addr.
func tokenRequest(s *harness.Serve, id, secret, addr string) *http.Request {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {"user-1"}}
	req, _ := http.NewRequest("POST", s.URL+"/services/orders/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	return viaProxy(req, addr)
}

// loginRequest is a standard password grant on accounts from addr.
func loginRequest(s *harness.Serve, c harness.Client, user, pass, addr string) *http.Request {
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}}
	req, _ := http.NewRequest("POST", s.URL+"/services/accounts/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	return viaProxy(req, addr)
}

// newPool is a client that keeps up to n connections open, so that a
// burst, once warmed up, goes out on open connections at once.
func newPool(n int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = n, n
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// burst sends n requests at once on c (made by mk), released together by
// a barrier once each has an open connection, and returns the statuses
// and the Retry-After of each. onAnswer, when set, is called as each
// answer comes in.
func burst(t *testing.T, s *harness.Serve, c *http.Client, n int, mk func(i int) *http.Request, onAnswer func()) (statuses []int, retryAfter []string) {
	t.Helper()
	// Open n connections first: n requests in flight at once.
	var warm sync.WaitGroup
	for range n {
		warm.Go(func() {
			if res, err := c.Get(s.URL + "/healthz"); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	warm.Wait()
	statuses, retryAfter = make([]int, n), make([]string, n)
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		req := mk(i)
		wg.Go(func() {
			ready.Done()
			<-start
			res, err := c.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses[i], retryAfter[i] = res.StatusCode, res.Header.Get("Retry-After")
			if onAnswer != nil {
				onAnswer()
			}
		})
	}
	ready.Wait()
	close(start)
	wg.Wait()
	return statuses, retryAfter
}

func countStatuses(s []int) map[int]int {
	m := map[int]int{}
	for _, v := range s {
		m[v]++
	}
	return m
}

// TestConcurrentWrongSecrets: 100 wrong secrets for one client from one
// address at once: at most the allowance (10) are answered 401, the rest
// 429 with Retry-After; the right secret from another address still gets
// its token. The addresses are what the trusted proxy forwarded.
func TestConcurrentWrongSecrets(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	s := harness.StartServe(t, db, behindProxy("http://127.0.0.1:1/unused"))
	c := harness.CreateClient(t, db, "bob", "app")
	statuses, retry := burst(t, s, newPool(100), 100,
		func(i int) *http.Request {
			return tokenRequest(s, c.ID, fmt.Sprintf("wrong-secret-%03d", i), "203.0.113.1")
		}, nil)
	got := countStatuses(statuses)
	if got[401] > 10 || got[401]+got[429] != 100 {
		t.Errorf("answers %v: want at most 10 × 401, the rest 429", got)
	}
	for i, st := range statuses {
		if st == 429 && retry[i] == "" {
			t.Errorf("a 429 without Retry-After")
			break
		}
	}
	if a := do(t, s.Client, tokenRequest(s, c.ID, c.Secret, "203.0.113.2")); a.status != 200 {
		t.Errorf("the right secret from another address: %d %s", a.status, a.body)
	}
	if a := do(t, s.Client, tokenRequest(s, c.ID, c.Secret, "203.0.113.1")); a.status != 429 {
		t.Errorf("the right secret from the locked-out address: %d %s, want 429", a.status, a.body)
	}
}

// TestConcurrentWrongPasswords: 200 wrong passwords for one user from one
// address at once reach the login backend at most 5 times (the login
// allowance). The backend holds each call until the other requests have
// been answered, so that all of them are in flight together.
func TestConcurrentWrongPasswords(t *testing.T) {
	t.Parallel()
	const n = 200
	var calls, answered atomic.Int32
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer backend.Close()
	go func() {
		// Release the backend once every request the throttle should
		// refuse has been answered (or once the backend got more calls
		// than it should: the test then fails).
		for answered.Load() < n-5 && calls.Load() <= 5 {
			time.Sleep(5 * time.Millisecond)
		}
		close(release)
	}()
	db := harness.SQLiteURL(t)
	s := harness.StartServe(t, db, behindProxy(backend.URL+"/login"))
	c := harness.CreateClient(t, db, "bob", "app")
	statuses, _ := burst(t, s, newPool(n), n,
		func(i int) *http.Request {
			return loginRequest(s, c, "alice", fmt.Sprintf("guess-%d", i), "203.0.113.1")
		},
		func() { answered.Add(1) })
	got := countStatuses(statuses)
	if k := calls.Load(); k > 5 || int(k) != got[400] || got[429] != n-int(k) {
		t.Errorf("the login backend was called %d times, answers %v; want at most 5 calls (each a 400 invalid_grant), the rest 429", k, got)
	}
}

// TestShortSecretFlood: 200 wrong secrets at once for a client with a
// short secret (an argon2id hash, 19 MiB per check), from 200 addresses so
// that no throttle stops them: the process's peak RSS grows by less than
// 150 MiB (at most -slow-hash-concurrency hashes run, the rest wait, then
// answer 503 with Retry-After), and it keeps answering bearer validations
// meanwhile.
func TestShortSecretFlood(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	// The binary as users run it: a -race build's shadow memory would
	// multiply every byte argon2id touches.
	s := harness.StartServePlain(t, db, behindProxy("http://127.0.0.1:1/unused"), "-slow-hash-concurrency", "2", "-slow-wait", "2s")
	c := harness.CreateClient(t, db, "bob", "short", "--client-secret", "secret123")
	// Warm up: one argon2id hash, and the token validated below.
	a := do(t, s.Client, tokenRequest(s, c.ID, "secret123", "203.0.113.200"))
	var good tokens
	if a.status != 200 || json.Unmarshal(a.body, &good) != nil {
		t.Fatalf("warm-up grant: %d %s", a.status, a.body)
	}
	before := peakRSS(t, s.PID())

	const n = 200
	validated := make(chan int, 1)
	flooding := make(chan struct{})
	var floodAnswers atomic.Int32
	go func() {
		// Bearer validations while the flood is in flight: count those
		// answered before the last flood request was.
		ok := 0
		defer func() { validated <- ok }()
		hc := newPool(1)
		for {
			select {
			case <-flooding:
				return
			default:
			}
			res, err := hc.Do(viaProxy(bearerRequest(s, good.Access), "203.0.113.201"))
			if err != nil {
				t.Errorf("a bearer validation during the flood: %v", err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("a bearer validation during the flood: %d", res.StatusCode)
				return
			}
			if floodAnswers.Load() < n {
				ok++
			}
		}
	}()
	statuses, retry := burst(t, s, newPool(n), n,
		func(i int) *http.Request {
			return tokenRequest(s, c.ID, fmt.Sprintf("wrong-%d", i), fmt.Sprintf("198.51.100.%d", i+1))
		}, func() { floodAnswers.Add(1) })
	close(flooding)
	if ok := <-validated; ok == 0 {
		t.Error("no bearer validation was answered during the flood")
	}
	got := countStatuses(statuses)
	if got[401]+got[503] != n || got[401] == 0 {
		t.Errorf("answers %v: want only 401 and 503, some 401", got)
	}
	for i, st := range statuses {
		if st == 503 && retry[i] == "" {
			t.Error("a 503 without Retry-After")
			break
		}
	}
	after := peakRSS(t, s.PID())
	t.Logf("peak RSS %d MiB before the flood, %d MiB after; answers %v", before>>20, after>>20, got)
	if after-before >= 150<<20 {
		t.Errorf("peak RSS grew by %d MiB, want less than 150", (after-before)>>20)
	}
}

func bearerRequest(s *harness.Serve, token string) *http.Request {
	req, _ := http.NewRequest("GET", s.URL+"/services/orders/auth", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// peakRSS is the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

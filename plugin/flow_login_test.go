package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testPassword = "correct horse battery staple"

// fakeLogin is a login backend that answers what the test sets and
// records what it was asked.
type fakeLogin struct {
	mu       sync.Mutex
	attempts []loginAttempt
	answer   func(ctx context.Context, a loginAttempt) (loginResult, error)
}

func (f *fakeLogin) checkLogin(ctx context.Context, a loginAttempt) (loginResult, error) {
	f.mu.Lock()
	f.attempts = append(f.attempts, a)
	answer := f.answer
	f.mu.Unlock()
	return answer(ctx, a)
}

func (f *fakeLogin) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.attempts)
}

func (f *fakeLogin) last() loginAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[len(f.attempts)-1]
}

// checkPassword is a backend that knows user "alice" with testPassword and
// answers her user id, and the scope when scope is not nil.
func checkPassword(scope *string) func(context.Context, loginAttempt) (loginResult, error) {
	return func(_ context.Context, a loginAttempt) (loginResult, error) {
		if a.username != "alice" || a.password != testPassword {
			return loginResult{}, errLoginRefused
		}
		return loginResult{userID: "user-alice", scope: scope}, nil
	}
}

func answer(res loginResult, err error) func(context.Context, loginAttempt) (loginResult, error) {
	return func(context.Context, loginAttempt) (loginResult, error) { return res, err }
}

func ptr[T any](v T) *T { return &v }

// newLoginEnv is an env with no failure floor (TestLoginFailureFloor has
// one) and opts applied.
func newLoginEnv(t *testing.T, opts func(*Options)) *env {
	return newEnvOpts(t, nil, func(o *Options) {
		o.LoginFailureFloor = 0
		if opts != nil {
			opts(o)
		}
	})
}

// loginConfig is v.config with authenticate_url set and the backend
// replaced by fake.
func (v *env) loginConfig(extra string, fake *fakeLogin) *Config {
	v.t.Helper()
	base := `{"authenticate_url":"https://login.example/check"`
	if extra != "" {
		base += "," + strings.TrimPrefix(extra, "{")
	} else {
		base += "}"
	}
	c := v.config(base)
	s, err := c.settings()
	if err != nil {
		v.t.Fatalf("login config: %v", err)
	}
	s.login = fake
	return c
}

// loginForm is what a stock client sends (RFC 6749 §4.3.2).
func loginForm(extra ...string) url.Values {
	f := url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {testSecret},
		"username": {"alice"}, "password": {testPassword}, "scope": {"email"}}
	return edited(f, extra)
}

func TestLoginGrant(t *testing.T) {
	v := newLoginEnv(t, nil)
	slow := func(ctx context.Context, _ loginAttempt) (loginResult, error) {
		<-ctx.Done() // answers only when the timeout ends the call
		return loginResult{}, ctx.Err()
	}
	for _, tc := range []struct {
		name      string
		config    string
		backend   func(context.Context, loginAttempt) (loginResult, error)
		form      url.Values
		jsonBody  map[string]any // sent as JSON instead of form when set
		status    int
		code      string // error code; "" on success
		desc      string
		calls     int    // backend calls
		wantScope string // on success, as forwarded upstream
		respScope *string
	}{
		{name: "success", backend: checkPassword(nil), form: loginForm(), status: 200, calls: 1, wantScope: "email"},
		{name: "two scopes", backend: checkPassword(nil), form: loginForm("scope", "profile  email"), status: 200, calls: 1, wantScope: "profile email"},
		{name: "wrong password", backend: checkPassword(nil), form: loginForm("password", "guess"), status: 400,
			code: "invalid_grant", desc: "Invalid username or password", calls: 1},
		{name: "no such user", backend: checkPassword(nil), form: loginForm("username", "mallory"), status: 400,
			code: "invalid_grant", desc: "Invalid username or password", calls: 1},
		{name: "backend error", backend: answer(loginResult{}, errors.New("answered 500")), form: loginForm(), status: 503,
			code: "temporarily_unavailable", desc: ErrTemporarilyUnavailable.Description, calls: 1},
		{name: "backend slower than authenticate_timeout", config: `{"authenticate_timeout":20}`, backend: slow, form: loginForm(),
			status: 503, code: "temporarily_unavailable", desc: ErrTemporarilyUnavailable.Description, calls: 1},
		{name: "blank user id", backend: answer(loginResult{userID: " \t"}, nil), form: loginForm(), status: 503,
			code: "temporarily_unavailable", desc: ErrTemporarilyUnavailable.Description, calls: 1},
		{name: "user id with CR LF", backend: answer(loginResult{userID: "bob\r\nX-Consumer-ID: admin"}, nil), form: loginForm(),
			status: 503, code: "temporarily_unavailable", desc: ErrTemporarilyUnavailable.Description, calls: 1},
		{name: "backend narrows the scope", backend: checkPassword(ptr("email")), form: loginForm("scope", "email profile"),
			status: 200, calls: 1, wantScope: "email", respScope: ptr("email")},
		{name: "backend cannot widen the scope", backend: checkPassword(ptr("profile email admin")), form: loginForm("scope", "email"),
			status: 200, calls: 1, wantScope: "email"},
		{name: "backend scope with nothing requested", backend: checkPassword(ptr("email")), form: loginForm("scope", "<del>"),
			status: 200, calls: 1, wantScope: "<cleared>"},
		{name: "backend narrows to nothing", backend: checkPassword(ptr("")), form: loginForm(),
			status: 200, calls: 1, wantScope: "<cleared>", respScope: ptr("")},
		{name: "backend narrows to nothing, mandatory_scope", config: `{"mandatory_scope":true}`, backend: checkPassword(ptr("admin")),
			form: loginForm(), status: 400, code: "invalid_scope", desc: descScopeNarrowedAway, calls: 1},
		{name: "missing username", backend: checkPassword(nil), form: loginForm("username", "<del>"), status: 400,
			code: "invalid_request", desc: descMissingCredentials},
		{name: "empty password", backend: checkPassword(nil), form: loginForm("password", ""), status: 400,
			code: "invalid_request", desc: descMissingCredentials},
		{name: "password not a string", backend: checkPassword(nil), jsonBody: map[string]any{"password": 1234}, status: 400,
			code: "invalid_request", desc: descMissingCredentials},
		{name: "password not UTF-8", backend: checkPassword(nil), form: loginForm("password", "\xff\xfe"), status: 400,
			code: "invalid_request", desc: descCredentialsUTF8},
		{name: "invalid scope is refused before the backend", backend: checkPassword(nil), form: loginForm("scope", "admin"),
			status: 400, code: "invalid_scope", desc: `"admin" is an invalid scope`},
		{name: "wrong client secret is refused before the backend", backend: checkPassword(nil), form: loginForm("client_secret", "nope"),
			status: 400, code: "invalid_client", desc: "Invalid client authentication"},
		{name: "provision_key request takes Kong's path", backend: checkPassword(nil), form: passwordForm(), status: 200, wantScope: "email"},
		{name: "provision_key wins over username and password", backend: checkPassword(nil),
			form: passwordForm("username", "alice", "password", testPassword, "provision_key", "nope"), status: 400,
			code: "invalid_provision_key", desc: "Invalid provision_key"},
		{name: "otp passed as a string only", config: `{"authenticate_params":["otp"]}`, backend: checkPassword(nil),
			jsonBody: map[string]any{"otp": 123456}, status: 400, code: "invalid_request", desc: "otp must be a UTF-8 string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			fake := &fakeLogin{answer: tc.backend}
			c := v.loginConfig(tc.config, fake)
			var f *fakeKong
			if tc.jsonBody != nil {
				body := map[string]any{}
				for k, vs := range loginForm() {
					body[k] = vs[0]
				}
				for k, val := range tc.jsonBody {
					body[k] = val
				}
				f = v.jsonTokenReq(body)
			} else {
				f = v.tokenReq(tc.form)
			}
			access(c, f)
			if fake.calls() != tc.calls {
				t.Errorf("backend called %d times, want %d", fake.calls(), tc.calls)
			}
			if strings.Contains(v.logs(), testPassword) || strings.Contains(string(f.respBody), testPassword) {
				t.Errorf("the password is in the log or the answer")
			}
			if tc.code != "" {
				f.expectError(tc.status, tc.code, tc.desc)
				if tc.status == 503 && f.respHeader("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
				return
			}
			m := f.json()
			if f.status != 200 {
				t.Fatalf("got %d %v", f.status, m)
			}
			got, present := m["scope"]
			switch {
			case tc.respScope == nil && present:
				t.Errorf("answer has scope %v, want none (the scope requested was issued)", got)
			case tc.respScope != nil && got != *tc.respScope:
				t.Errorf("answer scope %v, want %q (RFC 6749 §3.3)", got, *tc.respScope)
			}
			p := v.proxy(c, str(m, "access_token"))
			expectProxied(t, p)
			if got := p.up(hAuthenticatedScope); got != tc.wantScope {
				t.Errorf("X-Authenticated-Scope = %q, want %q", got, tc.wantScope)
			}
			wantUser := "user-1"
			if tc.calls > 0 {
				wantUser = "user-alice"
			}
			if got := p.up(hAuthenticatedUserID); got != wantUser {
				t.Errorf("X-Authenticated-Userid = %q, want %q", got, wantUser)
			}
		})
	}
}

// TestLoginRequestToBackend: the backend is asked with the user's
// credentials, the client, the validated scope and the configured
// authenticate_params that are present, and nothing else.
func TestLoginRequestToBackend(t *testing.T) {
	v := newLoginEnv(t, nil)
	fake := &fakeLogin{answer: checkPassword(nil)}
	c := v.loginConfig(`{"authenticate_params":["otp","device"]}`, fake)
	f := v.tokenReq(loginForm("otp", "123456", "scope", " profile\temail ", "other", "x"))
	access(c, f)
	if f.status != 200 {
		t.Fatalf("got %d %s", f.status, f.respBody)
	}
	a := fake.last()
	if a.username != "alice" || a.password != testPassword || a.clientID != "app" || a.scope != "profile email" {
		t.Errorf("backend asked %+v", a)
	}
	if len(a.params) != 1 || a.params["otp"] != "123456" {
		t.Errorf("passed params %v, want only otp", a.params)
	}
}

// TestLoginThrottle: failed logins lock (username, address) after
// LoginThrottleFailures, not the same user elsewhere; the per-user count
// locks the account from every address; a locked-out login never reaches
// the backend; both locks end with their window.
func TestLoginThrottle(t *testing.T) {
	v := newLoginEnv(t, func(o *Options) {
		o.LoginThrottleFailures, o.ThrottleWindow = 3, time.Minute
		o.LoginUserThrottleFailures, o.LoginUserThrottleWindow = 7, 10*time.Minute
	})
	fake := &fakeLogin{answer: checkPassword(nil)}
	c := v.loginConfig("", fake)
	login := func(ip, user, pass string) *fakeKong {
		f := v.tokenReq(loginForm("username", user, "password", pass))
		f.clientIP = ip
		access(c, f)
		return f
	}
	for i := 0; i < 3; i++ {
		login("10.0.0.1", "alice", "guess").expectError(400, "invalid_grant", "Invalid username or password")
	}
	before := fake.calls()
	f := login("10.0.0.1", "alice", testPassword) // even the right password
	f.expectError(429, "slow_down", ErrSlowDown.Description)
	if fake.calls() != before {
		t.Errorf("a locked-out login reached the backend")
	}
	if ra := f.respHeader("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q, want 60", ra)
	}
	// Case and surrounding space do not make another account.
	login("10.0.0.1", " ALICE", "guess").expectError(429, "slow_down", ErrSlowDown.Description)
	// The user from another address, and another user from this one, are
	// not locked by this address's failures.
	if f := login("10.0.0.2", "alice", testPassword); f.status != 200 {
		t.Errorf("alice from another address: %d %s", f.status, f.respBody)
	}
	login("10.0.0.1", "bob", "guess").expectError(400, "invalid_grant", "Invalid username or password")

	// Many addresses: the per-user count (7) locks alice everywhere.
	for i := 0; i < 4; i++ {
		login(fmt.Sprintf("10.0.1.%d", i), "alice", "guess").expectError(400, "invalid_grant", "Invalid username or password")
	}
	f = login("10.0.9.9", "alice", testPassword)
	f.expectError(429, "slow_down", ErrSlowDown.Description)
	if ra := f.respHeader("Retry-After"); ra != "600" {
		t.Errorf("Retry-After %q, want 600 (the per-user window)", ra)
	}
	v.advance(10 * time.Minute)
	if f := login("10.0.0.1", "alice", testPassword); f.status != 200 {
		t.Errorf("after both windows: %d %s", f.status, f.respBody)
	}
	// Wrong passwords never counted against the client.
	f = v.tokenReq(passwordForm())
	access(c, f)
	if f.status != 200 {
		t.Errorf("the client's provision_key flow after failed logins: %d %s", f.status, f.respBody)
	}
}

// TestLoginFailureFloor: a refused login is answered no sooner than the
// floor, however fast the backend said no; a success is not delayed.
func TestLoginFailureFloor(t *testing.T) {
	const floor = 150 * time.Millisecond
	v := newLoginEnv(t, func(o *Options) { o.LoginFailureFloor = floor })
	c := v.loginConfig("", &fakeLogin{answer: checkPassword(nil)})
	for _, tc := range []struct {
		name     string
		user     string
		refused  bool
		minTaken time.Duration
	}{
		{"no such user", "mallory", true, floor},
		{"wrong password", "alice", true, floor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			start := time.Now()
			f := v.tokenReq(loginForm("username", tc.user, "password", "guess"))
			access(c, f)
			if took := time.Since(start); took < tc.minTaken {
				t.Errorf("answered after %v, want at least %v", took, tc.minTaken)
			}
			f.expectError(400, "invalid_grant", "Invalid username or password")
		})
	}
	start := time.Now()
	f := v.tokenReq(loginForm())
	access(c, f)
	if took := time.Since(start); f.status != 200 || took >= floor {
		t.Errorf("success: %d after %v, want 200 sooner than the floor", f.status, took)
	}
}

// TestLoginFailureFloorEndsWithTheRequest: a client that goes away does
// not keep a goroutine waiting out the floor.
func TestLoginFailureFloorEndsWithTheRequest(t *testing.T) {
	v := newLoginEnv(t, func(o *Options) { o.LoginFailureFloor = time.Hour })
	c := v.loginConfig("", &fakeLogin{answer: checkPassword(nil)})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	f := v.tokenReq(loginForm("password", "guess"))
	d := c.Handle(ctx, f, f)
	f.record(&d)
	d.Release()
	f.expectError(400, "invalid_grant", "Invalid username or password")
}

func TestLoginConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json, field string
	}{
		{"plain http to another host", `{"authenticate_url":"http://login.example/check"}`, "authenticate_url"},
		{"plain http to a private address", `{"authenticate_url":"http://10.1.2.3/check"}`, "authenticate_url"},
		{"not http", `{"authenticate_url":"ftp://login.example/"}`, "authenticate_url"},
		{"relative", `{"authenticate_url":"/check"}`, "authenticate_url"},
		{"not a string", `{"authenticate_url":1}`, "authenticate_url"},
		{"timeout 0", `{"authenticate_url":"https://l.example","authenticate_timeout":0}`, "authenticate_timeout"},
		{"timeout above a minute", `{"authenticate_url":"https://l.example","authenticate_timeout":60001}`, "authenticate_timeout"},
		{"header Content-Type", `{"authenticate_url":"https://l.example","authenticate_headers":{"Content-Type":"text/plain"}}`, "authenticate_headers"},
		{"header name with a space", `{"authenticate_url":"https://l.example","authenticate_headers":{"X Secret":"s"}}`, "authenticate_headers"},
		{"header value with CR LF", `{"authenticate_url":"https://l.example","authenticate_headers":{"X-Secret":"s\r\nX-Admin: 1"}}`, "authenticate_headers"},
		{"headers not strings", `{"authenticate_url":"https://l.example","authenticate_headers":{"X-Secret":1}}`, "authenticate_headers"},
		{"param password", `{"authenticate_url":"https://l.example","authenticate_params":["password"]}`, "authenticate_params"},
		{"param client_secret", `{"authenticate_url":"https://l.example","authenticate_params":["client_secret"]}`, "authenticate_params"},
		{"params without url", `{"authenticate_params":["otp"]}`, "authenticate_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			c := v.config(tc.json)
			f := v.kong()
			f.path = "/api"
			access(c, f)
			msg := str(f.json(), "message")
			if f.status != 500 || !strings.HasPrefix(msg, "invalid plugin configuration: "+tc.field+": ") {
				t.Errorf("got %d %q, want 500 naming %s", f.status, msg, tc.field)
			}
			if strings.Contains(msg, "X-Admin") {
				t.Errorf("the message echoes a header value: %q", msg)
			}
		})
	}
	v := newEnv(t)
	for _, ok := range []string{"https://login.example/check?x=1", "http://127.0.0.1:8080/check", "http://[::1]/check", "http://localhost/check"} {
		c := v.config(`{"authenticate_url":"` + ok + `","authenticate_headers":{"X-Secret":"s"},"authenticate_params":["otp"]}`)
		if _, err := c.settings(); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

// TestLoginConcurrentGuessesReachTheBackendAtMostTheAllowance: 200 wrong
// passwords for one user from one address at once. The backend holds the
// calls it gets until every other request has been answered, so all of
// them are in flight together: it is called at most the allowance (5),
// those answer invalid_grant, every other one 429.
func TestLoginConcurrentGuessesReachTheBackendAtMostTheAllowance(t *testing.T) {
	v := newLoginEnv(t, nil)
	release := make(chan struct{})
	fake := &fakeLogin{answer: func(ctx context.Context, _ loginAttempt) (loginResult, error) {
		<-release
		return loginResult{}, errLoginRefused
	}}
	c := v.loginConfig("", fake)
	// The client's secret checked once first (a request refused before
	// the login throttle), so that the 200 below wait on the login
	// throttle only, not on the process's bound on slow secret hashes,
	// which may answer some of them 503 on a busy machine.
	warm := v.tokenReq(loginForm("username", ""))
	access(c, warm)
	if warm.status != 400 {
		t.Fatalf("warm-up answered %d, want 400", warm.status)
	}
	const n = 200
	var wg sync.WaitGroup
	var answered atomic.Int32
	statuses := make([]int, n)
	start := make(chan struct{})
	for i := range n {
		f := v.tokenReq(loginForm("password", fmt.Sprintf("guess-%d", i)))
		wg.Go(func() {
			<-start
			access(c, f)
			statuses[i] = f.status
			answered.Add(1)
		})
	}
	close(start)
	// Every request is either held by the backend or answered (whatever
	// the answer: the assertions below judge it) before the backend lets
	// go, so none can reach it after a held one fails.
	for int(answered.Load())+fake.calls() < n {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if fake.calls() > DefaultLoginThrottleFailures || count[400] != fake.calls() || count[429] != n-fake.calls() {
		t.Errorf("backend called %d times, answers %v; want at most %d calls, each a 400, the rest 429",
			fake.calls(), count, DefaultLoginThrottleFailures)
	}
}

// TestLoginBusy: with every login slot of the process taken for longer
// than SlowWait, a login is answered 503 temporarily_unavailable with
// Retry-After, without reaching the backend, and counts as no failure.
func TestLoginBusy(t *testing.T) {
	v := newLoginEnv(t, func(o *Options) { o.LoginConcurrency, o.SlowWait = 1, 20*time.Millisecond })
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	fake := &fakeLogin{answer: func(ctx context.Context, a loginAttempt) (loginResult, error) {
		if a.username == "slow" {
			entered <- struct{}{}
			<-release
		}
		return checkPassword(nil)(ctx, a)
	}}
	c := v.loginConfig("", fake)
	done := make(chan struct{})
	go func() {
		defer close(done)
		access(c, v.tokenReq(loginForm("username", "slow")))
	}()
	<-entered
	for range DefaultLoginThrottleFailures + 1 {
		f := v.tokenReq(loginForm())
		access(c, f)
		f.expectError(503, "temporarily_unavailable", ErrTemporarilyUnavailable.Description)
		if f.respHeader("Retry-After") != "1" || f.outcome != OutcomeBusy {
			t.Errorf("Retry-After %q, outcome %q; want 1, %s", f.respHeader("Retry-After"), f.outcome, OutcomeBusy)
		}
	}
	close(release)
	<-done
	f := v.tokenReq(loginForm())
	if access(c, f); f.status != 200 {
		t.Errorf("after the slot came free: %d %s (busy answers must not count as failures)", f.status, f.respBody)
	}
	if fake.calls() != 2 {
		t.Errorf("the backend was called %d times, want 2", fake.calls())
	}
}

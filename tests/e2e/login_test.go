package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// loginSecret is the shared secret the plugin sends the backend in a
// configured header (authenticate_headers).
const loginSecret = "backend-shared-secret-0123"

// The users of the test login backend. Every password here must stay out
// of the plugin's log and the store (checked by noPasswordLeft).
var loginUsers = map[string]struct{ password, otp, userID, scope string }{
	"alice":     {password: "alice-pass-9f8e7d", userID: "user-alice"},
	"bob":       {password: "bob-pass-1a2b3c", otp: "123456", userID: "user-bob"},              // password + OTP
	"+15550100": {password: "424242", userID: "user-phone-15550100"},                           // OTP-only: phone + code
	"reader":    {password: "reader-pass-5d6e7f", userID: "user-reader", scope: "orders.read"}, // narrowed scope
}

// loginBackend is an operator's login backend over TLS with a CA of its
// own, which the plugin is told to trust with -authenticate-ca-file.
type loginBackend struct {
	srv    *httptest.Server
	caFile string
	mu     sync.Mutex
	bodies []map[string]any // every request body it got
}

func newLoginBackend(t *testing.T) *loginBackend {
	b := &loginBackend{}
	b.srv = httptest.NewTLSServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.srv.Close)
	b.caFile = filepath.Join(t.TempDir(), "login-ca.pem")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.srv.Certificate().Raw})
	if err := os.WriteFile(b.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return b
}

// serve is the backend of the README's example, plus users that make it
// misbehave on purpose.
func (b *loginBackend) serve(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	if r.Method != http.MethodPost || r.Header.Get("X-Login-Secret") != loginSecret || json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "bad request to the login backend", 500)
		return
	}
	b.mu.Lock()
	b.bodies = append(b.bodies, in)
	b.mu.Unlock()
	user, _ := in["username"].(string)
	switch user {
	case "slow":
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
		return
	case "broken":
		http.Error(w, "database down", 500)
		return
	case "garbage":
		io.WriteString(w, "<html>welcome</html>")
		return
	case "anonymous":
		io.WriteString(w, `{"scope":"orders.read"}`)
		return
	}
	u, ok := loginUsers[user]
	if !ok || in["password"] != u.password || (u.otp != "" && in["otp"] != u.otp) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ans := map[string]string{"authenticated_userid": u.userID}
	if u.scope != "" {
		ans["scope"] = u.scope
	}
	json.NewEncoder(w).Encode(ans)
}

func (b *loginBackend) lastBody() map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.bodies) == 0 {
		return nil
	}
	return b.bodies[len(b.bodies)-1]
}

// loginConfig is a plugin config with the standard password grant on.
func loginConfig(url string) map[string]any {
	return map[string]any{
		"provision_key": "pk-accounts-0123456789", "scopes": []string{"orders.read", "orders.write"},
		"authenticate_url": url, "authenticate_timeout": 500,
		"authenticate_headers": map[string]any{"X-Login-Secret": loginSecret},
		"authenticate_params":  []string{"otp"},
	}
}

// TestStandardPasswordGrant: a stock client (golang.org/x/oauth2) gets
// tokens with a username and password checked by the operator's login
// backend over TLS, uses and refreshes them; the OTP flows of the README
// work; a wrong password is invalid_grant; a backend that is down, slow or
// answers nonsense is 503; Kong's provision_key flow still works; no
// password reaches the plugin's log, Kong's log or the store.
func TestStandardPasswordGrant(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			b := newLoginBackend(t)
			e := start(t, db, "-authenticate-ca-file", b.caFile, "-login-failure-floor", "50ms")
			e.consumer(konghost.Consumer{Username: "shop", CustomID: "shop-1"})
			e.service(konghost.ServiceSpec{Name: "accounts", Host: "accounts.test", Config: loginConfig(b.srv.URL + "/login")})
			down := httptest.NewServer(http.NotFoundHandler())
			downURL := "http://" + down.Listener.Addr().String() + "/login"
			down.Close() // nothing listens there any more
			e.service(konghost.ServiceSpec{Name: "down", Host: "down.test", Config: loginConfig(downURL)})
			c := harness.CreateClient(t, db, "shop", "mobile")

			ctx := context.WithValue(testContext(t), oauth2.HTTPClient, e.hc)
			conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Scopes: []string{"orders.read", "orders.write"},
				Endpoint: oauth2.Endpoint{TokenURL: "https://accounts.test/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}

			// RFC 6749 §4.3 as written, through the library.
			tok, err := conf.PasswordCredentialsToken(ctx, "alice", loginUsers["alice"].password)
			if err != nil {
				t.Fatalf("PasswordCredentialsToken: %v", err)
			}
			wantUser(t, e, tok.AccessToken, "user-alice", "orders.read orders.write")
			if got := b.lastBody(); got["client_id"] != c.ID || got["scope"] != "orders.read orders.write" || got["username"] != "alice" {
				t.Errorf("the backend was asked %v", withoutPassword(got))
			}
			// The library refreshes an expired token unmodified.
			tok.Expiry = time.Now().Add(-time.Minute)
			next, err := conf.TokenSource(ctx, tok).Token()
			if err != nil || next.AccessToken == tok.AccessToken {
				t.Fatalf("refresh through golang.org/x/oauth2: %v", err)
			}
			wantUser(t, e, next.AccessToken, "user-alice", "orders.read orders.write")
			wantRefused(t, e.get("https://accounts.test/orders", tok.AccessToken), "", descInvalid)

			// A wrong password is invalid_grant (RFC 6749 §5.2).
			_, err = conf.PasswordCredentialsToken(ctx, "alice", "wrong-guess")
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_grant" {
				t.Errorf("wrong password: %v", err)
			}

			// README flow (a): password and OTP in one request.
			form := loginPost(c, "bob", loginUsers["bob"].password, "orders.read")
			if _, tr := e.postToken("accounts.test", form); tr.Status != 400 || tr.Error != "invalid_grant" {
				t.Errorf("bob without the OTP: %d %s", tr.Status, tr.Error)
			}
			form.Set("otp", "123456")
			_, tr := e.postToken("accounts.test", form)
			if tr.Status != 200 {
				t.Fatalf("password + OTP: %d %s %s", tr.Status, tr.Error, tr.ErrorDescription)
			}
			wantUser(t, e, tr.AccessToken, "user-bob", "orders.read")
			// README flow (b): OTP only, the phone number as username.
			_, tr = e.postToken("accounts.test", loginPost(c, "+15550100", "424242", ""))
			if tr.Status != 200 {
				t.Fatalf("phone + code: %d %s %s", tr.Status, tr.Error, tr.ErrorDescription)
			}
			wantUser(t, e, tr.AccessToken, "user-phone-15550100", "")

			// The backend narrows the scope: the answer says so (RFC 6749 §3.3).
			r, tr := e.postToken("accounts.test", loginPost(c, "reader", loginUsers["reader"].password, "orders.read orders.write"))
			if tr.Status != 200 || r.json(t)["scope"] != "orders.read" {
				t.Fatalf("narrowed: %d %s", tr.Status, r.body)
			}
			wantUser(t, e, tr.AccessToken, "user-reader", "orders.read")

			// A backend that fails is 503 temporarily_unavailable with
			// Retry-After, within authenticate_timeout for a slow one.
			for _, tc := range []struct{ host, user string }{
				{"accounts.test", "slow"}, {"accounts.test", "broken"}, {"accounts.test", "garbage"},
				{"accounts.test", "anonymous"}, {"down.test", "alice"},
			} {
				begin := time.Now()
				r, tr := e.postToken(tc.host, loginPost(c, tc.user, "some-password-0", ""))
				if tr.Status != 503 || tr.Error != "temporarily_unavailable" || r.Header.Get("Retry-After") == "" {
					t.Errorf("%s on %s: %d %s, Retry-After %q", tc.user, tc.host, tr.Status, tr.Error, r.Header.Get("Retry-After"))
				}
				if took := time.Since(begin); took > 3*time.Second {
					t.Errorf("%s on %s answered after %v (authenticate_timeout is 500 ms)", tc.user, tc.host, took)
				}
			}

			// Kong's flow still works beside it.
			pk := e.grant("accounts.test", c, "pk-accounts-0123456789", "user-provisioned", "orders.read")
			wantUser(t, e, pk.AccessToken, "user-provisioned", "orders.read")

			var passwords []string
			for _, u := range loginUsers {
				passwords = append(passwords, u.password)
			}
			passwords = append(passwords, "wrong-guess", "some-password-0")
			noPasswordLeft(t, e, db, passwords, true)
		})
	}
}

// TestStandardPasswordGrantPython: requests-oauthlib's
// LegacyApplicationClient (Debian python3-requests-oauthlib) gets a token
// with username and password, calls the API with it, and refreshes it,
// unmodified.
func TestStandardPasswordGrantPython(t *testing.T) {
	t.Parallel()
	python := pythonWithOAuthlib(t)
	db := harness.SQLiteURL(t)
	b := newLoginBackend(t)
	e := start(t, db, "-authenticate-ca-file", b.caFile)
	e.consumer(konghost.Consumer{Username: "shop"})
	// No route host: the script reaches the front by its address.
	e.service(konghost.ServiceSpec{Name: "accounts", PathPrefix: "/accounts", Config: loginConfig(b.srv.URL + "/login")})
	c := harness.CreateClient(t, db, "shop", "python")
	ca := filepath.Join(t.TempDir(), "front-ca.pem")
	if err := os.WriteFile(ca, e.Front.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := osexec.CommandContext(testContext(t), python, filepath.Join("testdata", "legacy_client.py"))
	cmd.Env = append(os.Environ(),
		"TOKEN_URL="+e.Front.TLSURL+"/accounts/oauth2/token", "API_URL="+e.Front.TLSURL+"/accounts/orders",
		"CLIENT_ID="+c.ID, "CLIENT_SECRET="+c.Secret, "USERNAME=alice", "PASSWORD="+loginUsers["alice"].password,
		"SCOPE=orders.read", "CA_FILE="+ca)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("legacy_client.py: %v\n%s", err, stderr.String())
	}
	type pair struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	var got struct {
		First         pair                `json:"first"`
		SeenFirst     map[string][]string `json:"seen_first"`
		Refreshed     pair                `json:"refreshed"`
		SeenRefreshed map[string][]string `json:"seen_refreshed"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("legacy_client.py printed %q: %v", out, err)
	}
	if got.First.Access == "" || got.Refreshed.Access == "" || got.Refreshed.Access == got.First.Access ||
		got.Refreshed.Refresh == got.First.Refresh {
		t.Errorf("tokens: first %v…, refreshed %v…: want two different pairs", got.First.Access != "", got.Refreshed.Access != "")
	}
	for name, seen := range map[string]map[string][]string{"first": got.SeenFirst, "refreshed": got.SeenRefreshed} {
		if first(seen["x-authenticated-userid"]) != "user-alice" || first(seen["x-authenticated-scope"]) != "orders.read" {
			t.Errorf("the API saw, with the %s token: userid %q scope %q", name, seen["x-authenticated-userid"], seen["x-authenticated-scope"])
		}
	}
	wantRefused(t, e.get("https://accounts.test/accounts/orders", got.First.Access), "", descInvalid)
	noPasswordLeft(t, e, db, []string{loginUsers["alice"].password}, false)
}

// TestStandardPasswordGrantThrottle: through the real plugin, failed
// logins lock (username, address) after -login-throttle-failures without
// asking the backend again, the user still logs in from elsewhere, and
// -login-user-throttle-failures locks the username from every address.
func TestStandardPasswordGrantThrottle(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	b := newLoginBackend(t)
	e := start(t, db, "-authenticate-ca-file", b.caFile, "-login-throttle-failures", "3",
		"-login-user-throttle-failures", "6", "-login-user-throttle-window", "5m", "-login-failure-floor", "100ms")
	e.consumer(konghost.Consumer{Username: "shop"})
	e.service(konghost.ServiceSpec{Name: "accounts", Host: "accounts.test", Config: loginConfig(b.srv.URL + "/login")})
	c := harness.CreateClient(t, db, "shop", "mobile")
	login := func(ip, password string) (int, string, http.Header, time.Duration) {
		t.Helper()
		form := loginPost(c, "alice", password, "")
		begin := time.Now()
		res, err := e.Host.Do(testContext(t), "accounts", &konghost.Request{Method: "POST", Scheme: "https", Host: "accounts.test",
			Path: "/oauth2/token", ClientIP: ip, Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body: []byte(form.Encode())})
		if err != nil || res.Exit == nil {
			t.Fatalf("token request: %v %+v", err, res)
		}
		var m map[string]any
		json.Unmarshal(res.Exit.Body, &m)
		code, _ := m["error"].(string)
		return res.Status, code, res.Exit.Header, time.Since(begin)
	}
	calls := func() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.bodies) }

	for i := 0; i < 3; i++ {
		status, code, _, took := login("192.0.2.1", "guess")
		if status != 400 || code != "invalid_grant" {
			t.Fatalf("failure %d: %d %s", i+1, status, code)
		}
		if took < 100*time.Millisecond {
			t.Errorf("a failed login answered after %v, before -login-failure-floor", took)
		}
	}
	before := calls()
	status, code, h, _ := login("192.0.2.1", loginUsers["alice"].password)
	if status != 429 || code != "slow_down" || h.Get("Retry-After") == "" || calls() != before {
		t.Errorf("locked pair: %d %s Retry-After %q, backend asked %d more times", status, code, h.Get("Retry-After"), calls()-before)
	}
	if status, code, _, _ := login("198.51.100.7", loginUsers["alice"].password); status != 200 {
		t.Errorf("alice from another address: %d %s", status, code)
	}
	for i := 0; i < 3; i++ {
		login(fmt.Sprintf("203.0.113.%d", i+1), "guess")
	}
	if status, code, _, _ := login("198.51.100.7", loginUsers["alice"].password); status != 429 || code != "slow_down" {
		t.Errorf("after %d failures from many addresses: %d %s, want the username locked", 6, status, code)
	}
	noPasswordLeft(t, e, db, []string{loginUsers["alice"].password, "guess"}, false)
}

// loginPost is a stock client's password-grant form (RFC 6749 §4.3.2).
func loginPost(c harness.Client, user, password, scope string) url.Values {
	f := url.Values{"grant_type": {"password"}, "username": {user}, "password": {password},
		"client_id": {c.ID}, "client_secret": {c.Secret}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// wantUser checks that token opens the API as user with scope.
func wantUser(t *testing.T, e *env, token, user, scope string) {
	t.Helper()
	ec := e.get("https://accounts.test/orders", token).echo(t)
	gotUser, _ := ec.Header("x-authenticated-userid")
	gotScope, _ := ec.Header("x-authenticated-scope")
	if gotUser != user || gotScope != scope {
		t.Errorf("upstream saw user %q scope %q, want %q %q", gotUser, gotScope, user, scope)
	}
}

func withoutPassword(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if k != "password" {
			out[k] = v
		}
	}
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// noPasswordLeft: no password is in the plugin's output, Kong's log or
// any table of the store. backendFailed says the plugin logged login
// backend failures, which the check then expects to find.
func noPasswordLeft(t *testing.T, e *env, db string, passwords []string, backendFailed bool) {
	t.Helper()
	output := func() string {
		out := strings.Join(e.Host.Process().Output(), "\n")
		for _, l := range e.Host.Logs() {
			out += "\n" + l.Message
		}
		return out
	}
	// Let the process's output reach the host: until the failure line is
	// there when one is expected (a loaded machine may take longer than any
	// fixed pause), else for a short pause.
	time.Sleep(100 * time.Millisecond)
	out := output()
	for deadline := time.Now().Add(10 * time.Second); backendFailed && !strings.Contains(out, "login backend") && time.Now().Before(deadline); out = output() {
		time.Sleep(20 * time.Millisecond)
	}
	if backendFailed && !strings.Contains(out, "login backend") {
		t.Errorf("the plugin logged no login backend failure, so the log check proves little:\n%s", out)
	}
	dump := dumpAll(t, db)
	if !strings.Contains(dump, "user-alice") {
		t.Fatalf("the store dump lacks a user id it must hold, so it proves nothing")
	}
	for _, p := range passwords {
		if strings.Contains(out, p) {
			t.Errorf("the plugin's or Kong's log holds a password (%q…)", p[:3])
		}
		if strings.Contains(dump, p) || strings.Contains(dump, hex.EncodeToString([]byte(p))) {
			t.Errorf("the store holds a password (%q…)", p[:3])
		}
	}
}

// pythonWithOAuthlib finds a python3 that has requests-oauthlib: the one
// on PATH, else Debian's (.ci/run installs python3-requests-oauthlib).
func pythonWithOAuthlib(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := osexec.LookPath(p)
		if err != nil {
			continue
		}
		if osexec.Command(path, "-c", "import requests_oauthlib").Run() == nil {
			return path
		}
	}
	t.Fatal("no python3 with requests_oauthlib: apt-get install python3-requests-oauthlib (.ci/run does)")
	return ""
}

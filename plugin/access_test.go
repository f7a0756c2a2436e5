package plugin

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

func TestPanicIsRecovered(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	tok := str(v.issue(c), "access_token")
	for _, method := range []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders", "Exit"} {
		t.Run(method, func(t *testing.T) {
			v.use(t)
			f := v.kong()
			f.path, f.panicOn = "/api", method
			f.headers["authorization"] = []string{"Bearer " + tok}
			if method == "Exit" {
				f.headers["authorization"] = []string{"Bearer invalid"} // answered with Exit
			}
			c.Access(f) // must not panic
			if method != "Exit" {
				if f.status != 500 || str(f.json(), "message") != "An unexpected error occurred" {
					t.Errorf("got %d %s", f.status, f.respBody)
				}
			} else if n := strings.Count(strings.Join(f.calls, " "), "Exit"); n != 1 {
				t.Errorf("Exit called %d times", n)
			}
			expectProxied(t, v.proxy(c, tok)) // the next request works
		})
	}
	logs := v.logs()
	if !strings.Contains(logs, "exploded") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic and stack not logged: %q", logs)
	}
	if strings.Contains(logs, tok) {
		t.Error("the token reached the log")
	}
}

// blockingStore answers every call only when its context is done, like a
// database that stopped responding.
type blockingStore struct{ TokenStore }

func (blockingStore) Client(ctx context.Context, id string) (store.Client, error) {
	<-ctx.Done()
	return store.Client{}, ctx.Err()
}
func (blockingStore) TokenByAccess(ctx context.Context, d store.Digest) (store.Token, error) {
	<-ctx.Done()
	return store.Token{}, ctx.Err()
}

// failingCreate refuses to store tokens.
type failingCreate struct{ TokenStore }

func (failingCreate) CreateToken(ctx context.Context, t store.Token) error {
	return context.DeadlineExceeded
}

func TestStoreFailureIs503(t *testing.T) {
	v := newEnvWith(t, func(s TokenStore) TokenStore { return blockingStore{s} })
	c := v.config(`{"realm":"r"}`)

	done := make(chan *fakeKong)
	go func() {
		f := v.tokenReq(passwordForm("state", "s"))
		c.Access(f)
		done <- f
	}()
	var f *fakeKong
	select {
	case f = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("token request hangs on a blocked store")
	}
	f.expectError(503, "temporarily_unavailable", "The authorization server is temporarily unavailable")
	if f.json()["state"] != "s" || f.respHeader("Retry-After") != "1" || f.respHeader("Cache-Control") != "no-store" {
		t.Errorf("body %s headers %v", f.respBody, f.respHeaders)
	}

	f = v.proxy(c, "sometoken")
	f.expectError(503, "temporarily_unavailable", "The authorization server is temporarily unavailable")
	if got := f.respHeader("WWW-Authenticate"); got != `Bearer realm="r"` {
		t.Errorf("WWW-Authenticate = %q", got)
	}

	// A token that could not be stored is never handed out.
	w := newEnvWith(t, func(s TokenStore) TokenStore { return failingCreate{s} })
	f = w.tokenReq(passwordForm())
	w.config("").Access(f)
	f.expectError(503, "temporarily_unavailable", "The authorization server is temporarily unavailable")
	if _, ok := f.json()["access_token"]; ok {
		t.Error("access_token in a 503")
	}
}

func TestPDKCallCounts(t *testing.T) {
	v := newEnv(t)
	svc := v.config("")
	hide := v.config(`{"hide_credentials":true}`)
	route := v.config(`{"service_id":null}`)
	anon := v.config(`{"anonymous":"` + testConsumer.ID + `"}`)
	accept := v.config(`{"accept_http_if_already_terminated":true}`)
	invalid := v.config(`{"provision_key":null}`)
	tok := str(v.issue(svc), "access_token")
	warm := v.proxy(svc, tok) // fill the consumer cache
	expectProxied(t, warm)
	invalid.Access(v.kong()) // first request logs the config error

	type req struct {
		conf  *Config
		setup func(f *fakeKong)
	}
	bearer := func(f *fakeKong) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer " + tok} }
	form := func(f *fakeKong) {
		f.method, f.path = "POST", "/oauth2/token"
		f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
		f.body = []byte(passwordForm().Encode())
	}
	for _, tc := range []struct {
		name  string
		r     req
		calls []string
	}{
		{"invalid config", req{invalid, func(f *fakeKong) {}}, []string{"Exit"}},
		{"bearer in header", req{svc, bearer}, []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in header, hide_credentials", req{hide, bearer}, []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"consumer not cached", req{svc, func(f *fakeKong) { bearer(f); v.e.consumers.c.Flush() }},
			[]string{"Path", "Header", "LoadConsumer", "Authenticate", "SetUpstreamHeaders"}},
		{"plugin on a route", req{route, bearer}, []string{"Path", "Header", "ServiceID", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in query", req{svc, func(f *fakeKong) { f.path, f.query = "/api", "access_token="+tok }},
			[]string{"Path", "Header", "Method", "RawQuery", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in query, hide_credentials", req{hide, func(f *fakeKong) { f.path, f.query = "/api", "access_token="+tok }},
			[]string{"Path", "Header", "Method", "RawQuery", "Authenticate", "SetUpstreamHeaders", "SetUpstreamRawQuery"}},
		{"bearer in form body", req{svc, func(f *fakeKong) {
			f.method, f.path = "POST", "/api"
			f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
			f.body = []byte("access_token=" + tok)
		}}, []string{"Path", "Header", "Method", "RawQuery", "Header", "RawBody", "Authenticate", "SetUpstreamHeaders"}},
		{"invalid token", req{svc, func(f *fakeKong) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer x"} }},
			[]string{"Path", "Header", "Exit"}},
		{"no token", req{svc, func(f *fakeKong) { f.path = "/api" }}, []string{"Path", "Header", "Method", "RawQuery", "Exit"}},
		{"anonymous, other plugin authenticated", req{anon, func(f *fakeKong) { f.path, f.hasCredential = "/api", true }},
			[]string{"Path", "HasCredential", "SetUpstreamHeaders"}},
		{"anonymous, valid token", req{anon, bearer}, []string{"Path", "HasCredential", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"anonymous, bad token", req{anon, func(f *fakeKong) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer x"} }},
			[]string{"Path", "HasCredential", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"token endpoint, GET", req{svc, func(f *fakeKong) { f.path = "/oauth2/token" }}, []string{"Path", "Method", "Exit"}},
		{"token endpoint, HTTPS", req{svc, form}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "Exit"}},
		{"token endpoint, terminated TLS", req{accept, func(f *fakeKong) {
			form(f)
			f.scheme, f.trustedIP = "http", true
			f.headers["x-forwarded-proto"] = []string{"https"}
		}}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "ClientIP", "IsTrustedIP", "Exit"}},
		{"token endpoint, route plugin", req{route, form}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "ServiceID", "Exit"}},
		{"token endpoint, query only", req{svc, func(f *fakeKong) {
			f.method, f.path, f.query = "POST", "/oauth2/token", passwordForm().Encode()
		}}, []string{"Path", "Method", "Headers", "RawQuery", "Scheme", "Exit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.kong()
			tc.r.setup(f)
			tc.r.conf.Access(f)
			if !slices.Equal(f.calls, tc.calls) {
				t.Errorf("calls %v (%d), want %v (%d)", f.calls, len(f.calls), tc.calls, len(tc.calls))
			}
		})
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	v := newEnv(t)
	v.client("ghostly", testSecret, "ghost-consumer", "confidential")
	c := v.config("")
	m := v.issue(c)
	v.refresh(c, str(m, "refresh_token"))
	v.refresh(c, str(m, "refresh_token")) // replay: logged
	g := v.issue(c, "client_id", "ghostly")
	v.proxy(c, str(g, "access_token")) // missing consumer: logged
	f := v.tokenReq(url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {"wrong-" + testSecret}})
	c.Access(f)
	logs := v.logs()
	if logs == "" {
		t.Fatal("nothing logged")
	}
	for _, s := range []string{str(m, "access_token"), str(m, "refresh_token"), str(g, "access_token"), testSecret, testProvisionKey} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains a secret: %q", logs)
		}
	}
}

package plugin

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestPanicIsRecovered: a panic while the engine reads the request is a
// 500 decision, logged with its stack, and the next request works.
func TestPanicIsRecovered(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	tok := str(v.issue(c), "access_token")
	for _, method := range []string{"Path", "Header", "LoadConsumer"} {
		t.Run(method, func(t *testing.T) {
			v.use(t)
			v.e.consumers.flush() // so that LoadConsumer is called
			f := v.kong()
			f.path, f.panicOn = "/api", method
			f.headers["authorization"] = []string{"Bearer " + tok}
			access(c, f) // must not panic
			if f.status != 500 || str(f.json(), "message") != "An unexpected error occurred" || f.upstream != nil {
				t.Errorf("got %d %s, upstream %v", f.status, f.respBody, f.upstream)
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
type blockingStore struct{ Store }

func (blockingStore) Client(ctx context.Context, id string) (store.Client, error) {
	<-ctx.Done()
	return store.Client{}, ctx.Err()
}
func (blockingStore) TokenByAccess(ctx context.Context, d store.Digest) (store.Token, error) {
	<-ctx.Done()
	return store.Token{}, ctx.Err()
}

// failingCreate refuses to store tokens.
type failingCreate struct{ Store }

func (failingCreate) CreateToken(ctx context.Context, t store.Token) error {
	return context.DeadlineExceeded
}

func TestStoreFailureIs503(t *testing.T) {
	v := newEnvWith(t, func(s Store) Store { return blockingStore{s} })
	c := v.config(`{"realm":"r"}`)

	done := make(chan *fakeKong)
	go func() {
		f := v.tokenReq(passwordForm("state", "s"))
		access(c, f)
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
	w := newEnvWith(t, func(s Store) Store { return failingCreate{s} })
	f = w.tokenReq(passwordForm())
	access(w.config(""), f)
	f.expectError(503, "temporarily_unavailable", "The authorization server is temporarily unavailable")
	if _, ok := f.json()["access_token"]; ok {
		t.Error("access_token in a 503")
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
	access(c, f)
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

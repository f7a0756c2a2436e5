package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestTokensSurviveAPluginCrash: Kong respawns a plugin server that died;
// every token issued before the crash must still work afterwards, since
// users cannot be asked to log in again because a process restarted.
func TestTokensSurviveAPluginCrash(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db)
			e.consumer(konghost.Consumer{Username: "bob"})
			const pk = "pk-crash-0123456789"
			for _, name := range []string{"a", "b"} {
				e.service(konghost.ServiceSpec{Name: name, Host: name + ".test", Config: map[string]any{"provision_key": pk}})
			}
			e.service(konghost.ServiceSpec{Name: "g", Host: "g.test", Config: map[string]any{"provision_key": pk, "global_credentials": true}})
			c1 := harness.CreateClient(t, db, "bob", "web")
			c2 := harness.CreateClient(t, db, "bob", "mobile", "--public")

			type issued struct {
				host   string
				client harness.Client
				tok    harness.TokenResponse
			}
			var all []issued
			for _, host := range []string{"a.test", "b.test", "g.test"} {
				for i, c := range []harness.Client{c1, c2} {
					tok := e.grant(host, c, pk, fmt.Sprintf("user-%d", i), "")
					all = append(all, issued{host, c, tok})
				}
			}
			for _, is := range all {
				if r := e.get("https://"+is.host+"/x", is.tok.AccessToken); r.StatusCode != 200 {
					t.Fatalf("before the crash: %s: %d", is.host, r.StatusCode)
				}
			}

			p := e.Host.Process()
			gen, err := p.Kill(syscall.SIGKILL)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.WaitReady(testContext(t), gen); err != nil {
				t.Fatalf("no respawn: %v", err)
			}

			// The first request meets the dead process's instance: Kong
			// resets and retries on the new one.
			retried := 0
			for i, is := range all {
				r, n := e.getReady("https://"+is.host+"/x", is.tok.AccessToken)
				if r.StatusCode != 200 {
					t.Errorf("token %d on %s after the respawn: %d %s", i, is.host, r.StatusCode, r.body)
				}
				retried += n
			}
			if retried == 0 {
				t.Error("no request was retried: the crash did not reach the host")
			}
			if got := len(p.Exits()); got != 1 {
				t.Errorf("%d process exits, want 1", got)
			}

			// Refresh still works, and rotation still kills the old token.
			old := all[0]
			next := e.refresh(old.host, old.client, old.tok.RefreshToken)
			wantRefused(t, e.get("https://"+old.host+"/x", old.tok.AccessToken), "", descInvalid)
			if r := e.get("https://"+old.host+"/x", next.AccessToken); r.StatusCode != 200 {
				t.Errorf("refreshed token after the respawn: %d %s", r.StatusCode, r.body)
			}
		})
	}
}

// getReady is get, but waits out the 503 "temporarily_unavailable" a
// freshly started plugin answers while it opens its store (at most a few
// seconds; Retry-After says when to come back). It also returns the
// host's reset-and-retry count over every attempt.
func (e *env) getReady(rawURL, token string) (reply, int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	retries := 0
	for {
		r := e.get(rawURL, token)
		retries += e.result(r).Retries
		if r.StatusCode != 503 || time.Now().After(deadline) {
			return r, retries
		}
		if r.Header.Get("Retry-After") == "" {
			e.t.Errorf("503 without Retry-After: %s", r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

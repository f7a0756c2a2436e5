package ha

import (
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestListenerSurvivesRestart: PostgreSQL restarts under a serve node.
// The LISTEN session is reported down (change_listener_up 0) and up again
// once the server is back, without a restart of the node, and a
// revocation by the admin CLI is then honoured within a second, although
// the node reads the change feed only every 30 s.
func TestListenerSurvivesRestart(t *testing.T) {
	t.Parallel() // after the failover tests, whose windows are timed alone
	pg := newPrimary(t)
	client := harness.CreateClient(t, pg.URL(), "bob", "web")
	n := startServe(t, pg.URL(), client, nodeFlags...)
	waitListening(t, n, 15*time.Second)
	st, tok, _, err := n.issue(t.Context(), "u")
	if err != nil || st != 200 {
		t.Fatalf("issue: %d %v", st, err)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	url := n.metrics(t)
	if !waitFor(10*time.Second, func() bool {
		_, m := harness.Scrape(t, url)
		return m["oauth2_password_change_listener_up"] == 0
	}) {
		t.Fatal("change_listener_up still 1 with PostgreSQL stopped")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("listening again %v after PostgreSQL was back", waitListening(t, n, 15*time.Second).Round(time.Millisecond))

	if st, err := n.validate(t.Context(), tok); err != nil || st != 200 {
		t.Fatalf("token before the revocation: %d %v", st, err)
	}
	harness.CLI(t, pg.URL(), "tokens", "revoke", "--access-token", tok)
	revoked := time.Now()
	if !waitFor(time.Second, func() bool {
		st, err := n.validate(t.Context(), tok)
		return err == nil && st == 401
	}) {
		t.Fatal("a revocation after the restart is not honoured within 1s")
	}
	t.Logf("revocation after the restart honoured within %v", time.Since(revoked).Round(time.Millisecond))
}

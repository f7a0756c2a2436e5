package ha

import (
	"context"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestPgAutoFailover: a real failover manager. pg_auto_failover (a monitor
// and two nodes, replicating synchronously) switches the primary with
// `pg_autoctl perform failover` while 8 clients issue and validate through
// serve on the URL `pg_autoctl show uri` gives. The old primary is
// demoted to a secondary, not stopped: the store must leave it. Every
// token answered 200 is on the new primary, nothing but 200 and 503 is
// answered, and the LISTEN session is back on the new primary.
func TestPgAutoFailover(t *testing.T) {
	t.Parallel() // after the failover tests, whose windows are timed alone
	start := time.Now()
	t.Cleanup(func() { t.Logf("wall time %v", time.Since(start).Round(10*time.Millisecond)) })
	f := pgtest.StartFormation(t)
	t.Logf("formation up after %v", time.Since(start).Round(100*time.Millisecond))
	dbURL := f.URL()
	client := harness.CreateClient(t, dbURL, "bob", "web")
	n := startServe(t, dbURL, client, nodeFlags...)
	waitListening(t, n, 15*time.Second)

	var l load
	ctx, stopLoad := context.WithCancel(t.Context())
	wg := l.run(ctx, n)
	defer func() { stopLoad(); wg.Wait() }()
	if !waitFor(20*time.Second, func() bool { return l.okCount() >= 50 }) {
		t.Fatalf("only %d tokens issued before the failover", l.okCount())
	}
	took, err := f.PerformFailover()
	if err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	if !waitFor(30*time.Second, func() bool { return !l.firstOKAfter(done).IsZero() }) {
		t.Fatal("no token issued within 30s of the failover")
	}
	target := l.okCount() + 50
	waitFor(10*time.Second, func() bool { return l.okCount() >= target })
	stopLoad()
	wg.Wait()
	for _, b := range l.bad {
		t.Errorf("answer other than 200 or 503 temporarily_unavailable: %s", b)
	}
	lost, total := l.lost(t, dbURL)
	t.Logf("pg_auto_failover: %d tokens answered 200, %d lost; %d × 503; pg_autoctl perform failover took %v",
		total, lost, l.unavailable, took.Round(time.Millisecond))
	if lost != 0 {
		t.Errorf("%d of %d tokens answered 200 are not on the new primary", lost, total)
	}
	t.Logf("change_listener_up 1 again %v after the check began", waitListening(t, n, 15*time.Second).Round(time.Millisecond))
}

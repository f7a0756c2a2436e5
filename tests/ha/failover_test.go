package ha

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// Process flags of every node under test: the poll of the change feed is
// slowed to 30 s, so that a revocation honoured within a second was
// honoured by the LISTEN session, not by the poll.
var nodeFlags = []string{"-cache-sync-interval", "30s", "-cache-stale-if-error", "60s", "-store-timeout", "5s"}

// TestFailoverServe: serve mode on a primary and a synchronous standby,
// the comma-form multi-host URL with target_session_attrs=read-write;
// while 8 clients issue and validate, the primary stops as by a crash
// and the standby is promoted. Every token answered 200 before, during
// and after the switch is on the new primary (0 lost); nothing but 200
// and 503 temporarily_unavailable is answered (no 500, no 401 for a token
// just issued); the unavailable window is at most the promotion's time +
// 2 s. A revocation made right after the switch is honoured by all three
// nodes within a second, and revocations after it stay ≤ 1 s at p99.
func TestFailoverServe(t *testing.T) {
	failover(t, "serve", true)
}

// TestFailoverKong: the same switch under the plugin in Kong mode,
// through its real socket.
func TestFailoverKong(t *testing.T) {
	failover(t, "kong", true)
}

// TestFailoverAsync: the same switch with an asynchronous standby, which
// may lack the last commits the primary acknowledged. The test counts
// them and reports the figure; it fails only on an answer other than 200
// and 503, or when the loss is not what asynchronous replication allows
// (the tokens lost are the last ones before the crash).
func TestFailoverAsync(t *testing.T) {
	failover(t, "serve", false)
}

func failover(t *testing.T, mode string, synchronous bool) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("wall time %v", time.Since(start).Round(10*time.Millisecond)) })
	primary := newPrimary(t)
	standby := primary.StartStandby(t, pgtest.StandbyOptions{Synchronous: synchronous})
	dbURL := pgtest.MultiHostURL(primary.URL(), primary, standby)
	client := harness.CreateClient(t, dbURL, "bob", "web")

	var nodes []node
	switch mode {
	case "serve":
		count := 3
		if !synchronous {
			count = 1
		}
		for range count {
			nodes = append(nodes, startServe(t, dbURL, client, nodeFlags...))
		}
	case "kong":
		nodes = append(nodes, startKong(t, dbURL, client, nodeFlags...))
	}
	for _, n := range nodes {
		waitListening(t, n, 15*time.Second)
	}
	n := nodes[0]

	// A token every node has cached: revoked during the switch.
	ctx := t.Context()
	st, revokedDuring, _, err := n.issue(ctx, "revoked-during-the-switch")
	if err != nil || st != 200 {
		t.Fatalf("issue: %d %v", st, err)
	}
	for i, m := range nodes {
		if st, err := m.validate(ctx, revokedDuring); err != nil || st != 200 {
			t.Fatalf("node %d: %d %v", i, st, err)
		}
	}

	var l load
	lctx, stopLoad := context.WithCancel(ctx)
	wg := l.run(lctx, n)
	defer func() { stopLoad(); wg.Wait() }()
	if !waitFor(20*time.Second, func() bool { return l.okCount() >= 50 }) {
		t.Fatalf("only %d tokens issued before the failover", l.okCount())
	}

	stopAt := time.Now()
	if err := primary.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	promoteTook, err := standby.Promote()
	if err != nil {
		t.Fatal(err)
	}
	// Revoked by an admin at once, while the nodes' connections and LISTEN
	// sessions are still finding the new primary.
	if _, errOut, code := harness.RunCLI(t, dbURL, "tokens", "revoke", "--access-token", revokedDuring); code != 0 {
		t.Fatalf("tokens revoke during the switch: exit %d: %s", code, errOut)
	}
	revokedAt := time.Now()
	for i, m := range nodes {
		if !waitFor(time.Second-time.Since(revokedAt), func() bool {
			st, err := m.validate(ctx, revokedDuring)
			return err == nil && st == 401
		}) {
			st, err := m.validate(ctx, revokedDuring)
			t.Errorf("node %d: a token revoked during the switch still answers %d %v a second later", i, st, err)
		}
	}
	t.Logf("revocation during the switch honoured by %d node(s) within %v", len(nodes), time.Since(revokedAt).Round(time.Millisecond))

	if !waitFor(30*time.Second, func() bool { return !l.firstOKAfter(stopped).IsZero() }) {
		t.Fatal("no token issued within 30s of the failover")
	}
	back := l.firstOKAfter(stopped)
	window := back.Sub(stopAt)
	// Keep going a moment on the new primary.
	target := l.okCount() + 50
	waitFor(10*time.Second, func() bool { return l.okCount() >= target })
	stopLoad()
	wg.Wait()

	for _, b := range l.bad {
		t.Errorf("answer other than 200 or 503 temporarily_unavailable: %s", b)
		if strings.Contains(b, "transport") {
			break
		}
	}
	lost, total := l.lost(t, standby.URL())
	kind := "synchronous"
	if !synchronous {
		kind = "asynchronous"
	}
	t.Logf("%s standby, %s mode: %d tokens answered 200, %d lost; %d × 503; promotion took %v; unavailable for %v (primary stopped → first token issued on the new primary)",
		kind, mode, total, lost, l.unavailable, promoteTook.Round(time.Millisecond), window.Round(time.Millisecond))
	if synchronous && lost != 0 {
		t.Errorf("%d of %d tokens answered 200 are not on the promoted synchronous standby", lost, total)
	}
	if goal := promoteTook + 2*time.Second; window > goal {
		t.Errorf("unavailable for %v, more than the promotion's %v + 2s", window, promoteTook)
	}

	// LISTEN is back on the new primary: every node says so, and a
	// revocation reaches all of them within a second (p99).
	for i, m := range nodes {
		t.Logf("node %d: change_listener_up 1 again %v after the check began", i, waitListening(t, m, 10*time.Second).Round(time.Millisecond))
	}
	if len(nodes) > 1 {
		revocationP99(t, nodes, dbURL, 10)
	}
}

// revocationP99 revokes rounds tokens with the admin CLI and measures how
// long each takes to be refused by every node: ≤ 1 s at p99.
func revocationP99(t *testing.T, nodes []node, dbURL string, rounds int) {
	t.Helper()
	probers := make([]harness.Prober, len(nodes))
	for i, n := range nodes {
		probers[i] = n.validate
	}
	var lags []time.Duration
	for r := range rounds {
		st, tok, _, err := nodes[r%len(nodes)].issue(t.Context(), fmt.Sprintf("lag-%d", r))
		if err != nil || st != 200 {
			t.Fatalf("issue: %d %v", st, err)
		}
		for _, n := range nodes {
			if st, err := n.validate(t.Context(), tok); err != nil || st != 200 {
				t.Fatalf("fresh token answered %d %v", st, err)
			}
		}
		ls, err := harness.RevocationLag(t.Context(), probers, tok, func(ctx context.Context) error {
			if _, errOut, code := harness.RunCLI(t, dbURL, "tokens", "revoke", "--access-token", tok); code != 0 {
				return fmt.Errorf("exit %d: %s", code, errOut)
			}
			return nil
		}, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		lags = append(lags, ls...)
	}
	p99 := harness.Quantile(lags, 0.99)
	t.Logf("revocation after the switch across %d nodes: p50 %v, p99 %v (%d samples)", len(nodes),
		harness.Quantile(lags, 0.5).Round(time.Millisecond), p99.Round(time.Millisecond), len(lags))
	if p99 > time.Second {
		t.Errorf("revocation p99 %v across %d nodes after the switch, want ≤ 1s", p99, len(nodes))
	}
}

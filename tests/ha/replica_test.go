package ha

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

const (
	replicaHit      = `oauth2_password_replica_reads_total{kind="token",result="hit"}`
	replicaFallback = `oauth2_password_replica_reads_total{kind="token",result="fallback"}`
)

// TestReadReplicaLag: a replica that applies every commit 2 s late
// (recovery_min_apply_delay). A token issued on the primary by one node
// validates at once through another node configured with
// -database-read-url, which looks it up on the replica, does not find it
// and asks the primary (Kong's plugin answered 401 there, Kong #9115);
// once the replica has caught up, a token is read from the replica alone.
// The metrics count both.
func TestReadReplicaLag(t *testing.T) {
	t.Parallel() // after the failover tests, whose windows are timed alone
	primary := newPrimary(t)
	replica := primary.StartStandby(t, pgtest.StandbyOptions{ApplyDelay: 2 * time.Second})
	client := harness.CreateClient(t, primary.URL(), "bob", "web")
	issuer := startServe(t, primary.URL(), client, nodeFlags...)
	reader := startServe(t, primary.URL(), client, append([]string{"-database-read-url", replica.URL()}, nodeFlags...)...)
	_, before := harness.Scrape(t, reader.metrics(t))

	const fresh = 5
	for i := range fresh {
		st, tok, _, err := issuer.issue(t.Context(), fmt.Sprintf("fresh-%d", i))
		if err != nil || st != 200 {
			t.Fatalf("issue: %d %v", st, err)
		}
		if st, err := reader.validate(t.Context(), tok); err != nil || st != 200 {
			t.Fatalf("a token issued on the primary a moment ago answered %d %v through the replica node, want 200", st, err)
		}
	}
	_, after := harness.Scrape(t, reader.metrics(t))
	if got := after[replicaFallback] - before[replicaFallback]; got < fresh {
		t.Errorf("%s moved by %v, want at least %d (each fresh token asked again of the primary)", replicaFallback, got, fresh)
	}

	// Once the replica has the token, it answers alone.
	st, tok, _, err := issuer.issue(t.Context(), "settled")
	if err != nil || st != 200 {
		t.Fatalf("issue: %d %v", st, err)
	}
	db, err := sql.Open("postgres", replica.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := store.DigestOf(tok)
	start := time.Now()
	if !waitFor(15*time.Second, func() bool {
		var n int
		return db.QueryRow(`SELECT count(*) FROM tokens WHERE access_digest = $1`, d[:]).Scan(&n) == nil && n == 1
	}) {
		t.Fatal("the replica never received the token")
	}
	t.Logf("the replica applied the token %v after it was issued (recovery_min_apply_delay 2s)", time.Since(start).Round(time.Millisecond))
	_, before = harness.Scrape(t, reader.metrics(t))
	if st, err := reader.validate(t.Context(), tok); err != nil || st != 200 {
		t.Fatalf("settled token answered %d %v", st, err)
	}
	_, after = harness.Scrape(t, reader.metrics(t))
	if after[replicaHit]-before[replicaHit] != 1 || after[replicaFallback] != before[replicaFallback] {
		t.Errorf("settled token: replica hits +%v, fallbacks +%v; want +1 and +0",
			after[replicaHit]-before[replicaHit], after[replicaFallback]-before[replicaFallback])
	}
	// Revoked on the primary, the settled token stays refused through the
	// replica node while the replica still shows it live (for its 2 s
	// apply delay): the replica is not asked until it has replayed the
	// revocation, so the cache is not refilled with the old row.
	if _, errOut, code := harness.RunCLI(t, primary.URL(), "tokens", "revoke", "--access-token", tok); code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, errOut)
	}
	revokedAt := time.Now()
	if !waitFor(5*time.Second, func() bool { st, err := reader.validate(t.Context(), tok); return err == nil && st == 401 }) {
		t.Fatal("the revoked token still validates through the replica node")
	}
	for time.Since(revokedAt) < 4*time.Second {
		if st, err := reader.validate(t.Context(), tok); err != nil || st != 401 {
			t.Fatalf("%v after its revocation the token answered %d %v through the replica node, want 401",
				time.Since(revokedAt).Round(time.Millisecond), st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An unknown token is refused, after asking both.
	if st, err := reader.validate(t.Context(), "no-such-token-0123456789abcdef"); err != nil || st != 401 {
		t.Errorf("unknown token answered %d %v, want 401", st, err)
	}
}

// TestReadReplicaDownAtStart: a node whose read replica does not answer
// when it starts still serves from the primary: tokens are issued and
// validate, and /readyz says ready (the node used to retry opening the
// store, answering 503 to everything, until the replica came back).
func TestReadReplicaDownAtStart(t *testing.T) {
	t.Parallel()
	primary := newPrimary(t)
	client := harness.CreateClient(t, primary.URL(), "bob", "web")
	down := "postgres://oauth@" + harness.FreeAddr(t) + "/oauth?sslmode=disable&connect_timeout=2"
	n := startServe(t, primary.URL(), client, append([]string{"-database-read-url", down}, nodeFlags...)...)
	var tok string
	if !waitFor(10*time.Second, func() bool {
		st, got, _, err := n.issue(t.Context(), "u")
		tok = got
		return err == nil && st == 200
	}) {
		t.Fatal("no token issued with the read replica down")
	}
	if st, err := n.validate(t.Context(), tok); err != nil || st != 200 {
		t.Errorf("validation with the read replica down: %d %v, want 200", st, err)
	}
	resp, err := n.s.Client.Get(n.s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz with the read replica down: %d, want 200", resp.StatusCode)
	}
}

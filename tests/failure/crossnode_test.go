package failure

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// crossNodeBound is the README's bound: a revocation acknowledged on one
// node is refused on every node within it, at p99.
const crossNodeBound = time.Second

// cluster is three plugin processes (three Kong nodes) on one PostgreSQL
// database. Each polls the change feed only every 30 s, so that only the
// change notifications can meet the bound.
func cluster(t *testing.T, db string) []*stack {
	t.Helper()
	conf := map[string]any{"provision_key": provisionKey, "global_credentials": true}
	var nodes []*stack
	for range 3 {
		n := newStackConfig(t, db, conf, "-cache-sync-interval", "30s", "-cache-stale-if-error", "60s")
		n.WaitStore(t, "api")
		nodes = append(nodes, n)
	}
	// One client for all: newStackConfig made one per node.
	for _, n := range nodes[1:] {
		n.client = nodes[0].client
	}
	return nodes
}

// probe validates a token on one node through the Kong-side host.
func (s *stack) probe(ctx context.Context, token string) (int, error) {
	res, err := s.Host.Do(ctx, "api", &konghost.Request{Host: "api.test", Path: "/orders",
		Header: map[string][]string{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return 0, err
	}
	return res.Status, nil
}

func probers(nodes []*stack) []harness.Prober {
	var ps []harness.Prober
	for _, n := range nodes {
		ps = append(ps, n.probe)
	}
	return ps
}

// cachedEverywhere validates token on every node (so each has it cached).
func cachedEverywhere(t *testing.T, nodes []*stack, token string) {
	t.Helper()
	for i, n := range nodes {
		if st, err := n.probe(t.Context(), token); err != nil || st != 200 {
			t.Fatalf("node %d: fresh token answered %d %v", i, st, err)
		}
	}
}

// TestCrossNodeRevocation: revocations made through one node or the admin
// CLI — one access token, a token family (a replayed refresh token), every
// token of a user, a token revoked at the RFC 7009 endpoint — are refused on all three nodes within crossNodeBound
// at p99 of the time from the acknowledgment to each node's first 401.
// A deleted client's grants are refused with invalid_client on every node
// within the bound too.
func TestCrossNodeRevocation(t *testing.T) {
	wallTime(t)
	const perKind = 5
	db := pg.NewDatabase(t)
	nodes := cluster(t, db)
	ps := probers(nodes)
	var lags []time.Duration
	measure := func(kind, token string, revoke func(context.Context) error) {
		t.Helper()
		cachedEverywhere(t, nodes, token)
		l, err := harness.RevocationLag(t.Context(), ps, token, revoke, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		lags = append(lags, l...)
	}
	cli := func(args ...string) func(context.Context) error {
		return func(context.Context) error {
			if _, errOut, code := harness.RunCLI(t, db, args...); code != 0 {
				return fmt.Errorf("oauth2-password %v: exit %d: %s", args, code, errOut)
			}
			return nil
		}
	}
	for i := range perKind {
		tr := nodes[i%3].mustIssue(fmt.Sprintf("cli-%d", i))
		measure("CLI access-token revocation", tr.AccessToken, cli("tokens", "revoke", "--access-token", tr.AccessToken))

		// A replayed refresh token revokes its family, on the node that
		// saw the replay.
		first := nodes[0].mustIssue(fmt.Sprintf("family-%d", i))
		next, _, err := nodes[0].post(nodes[0].refreshForm(first.RefreshToken))
		if err != nil || next.Status != 200 {
			t.Fatalf("refresh: %+v %v", next, err)
		}
		replayOn := nodes[i%3]
		measure("family revocation", next.AccessToken, func(context.Context) error {
			tr, _, err := replayOn.post(replayOn.refreshForm(first.RefreshToken))
			if err != nil || tr.Status != 400 {
				return fmt.Errorf("replayed refresh token answered %d %s %v, want 400", tr.Status, tr.Error, err)
			}
			return nil
		})

		user := fmt.Sprintf("user-%d", i)
		tr = nodes[(i+1)%3].mustIssue(user)
		measure("CLI user revocation", tr.AccessToken, cli("tokens", "revoke", "--user", user))

		// RFC 7009 on one node's revocation endpoint.
		tr = nodes[i%3].mustIssue(fmt.Sprintf("rfc7009-%d", i))
		revokeOn := nodes[(i+2)%3]
		measure("RFC 7009 revocation", tr.AccessToken, func(context.Context) error {
			resp, err := revokeOn.http.PostForm("https://api.test/oauth2/revoke", url.Values{"token": {tr.AccessToken},
				"client_id": {revokeOn.client.ID}, "client_secret": {revokeOn.client.Secret}})
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("RFC 7009 revocation answered %d", resp.StatusCode)
			}
			return nil
		})
	}
	p50, p99 := harness.Quantile(lags, 0.5), harness.Quantile(lags, 0.99)
	t.Logf("revocation → first 401, %d samples (3 nodes): p50 %v, p99 %v, max %v", len(lags), p50, p99, harness.Quantile(lags, 1))
	if p99 > crossNodeBound {
		t.Errorf("p99 %v from revocation to refusal on every node, want ≤ %v", p99, crossNodeBound)
	}

	// A deleted client: a grant for it is invalid_client on every node
	// within the bound (each node had the client cached).
	gone := harness.CreateClient(t, db, "bob", "deleted")
	form := func() url.Values {
		return url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
			"authenticated_userid": {"u"}, "client_id": {gone.ID}, "client_secret": {gone.Secret}}
	}
	for i, n := range nodes {
		if tr, _, err := n.post(form()); err != nil || tr.Status != 200 {
			t.Fatalf("node %d: grant for the client before deletion: %+v %v", i, tr, err)
		}
	}
	harness.CLI(t, db, "clients", "delete", gone.ID)
	deleted := time.Now()
	for i, n := range nodes {
		if err := within(crossNodeBound, func() error {
			tr, _, err := n.post(form())
			if err != nil {
				return err
			}
			// Until the node hears of the deletion it still has the client
			// cached: the grant then fails on the foreign key, which means
			// the client is gone, never that the store is down.
			if tr.Status == 503 {
				t.Errorf("node %d: a grant for a deleted client answered 503 %s", i, tr.Error)
			}
			// 400 with credentials in the body, as Kong answers.
			if tr.Status != 400 || tr.Error != "invalid_client" {
				return fmt.Errorf("node %d: grant for a deleted client answered %d %s", i, tr.Status, tr.Error)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	t.Logf("deleted client refused on every node %v after the CLI exited", time.Since(deleted).Round(time.Millisecond))
}

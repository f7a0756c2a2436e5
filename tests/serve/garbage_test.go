package serve

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store/kongimport/kongtest"
	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestMadeUpBearerTokensAreCheapOnPostgres: 3,000 made-up bearer tokens
// from one address, through the real binary on PostgreSQL, are all 401
// and cost PostgreSQL at most 300 transactions (pg_stat_database, every
// transaction of the database during the flood, the nodes' background
// work included). Afterwards, from that same address, a token issued by
// another process on the same database validates on first use here; a
// token imported from Kong (no check value: it is looked up within the
// address budget) validates from another address.
func TestMadeUpBearerTokensAreCheapOnPostgres(t *testing.T) {
	pg, err := pgtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	db := pg.URL()

	// Kong's side: a token as Kong 3.9 issued it, imported with the CLI.
	svcID := kongtest.UUID()
	k := kongtest.New(t, pg.NewDatabase(t))
	consumer := kongtest.UUID()
	k.Consumer(consumer, "alice")
	k.Service(svcID, "orders")
	cred := kongtest.Credential{ID: kongtest.UUID(), ConsumerID: consumer, Name: "web", ClientID: "legacy-web", Secret: "legacy-secret-0123456789"}
	k.Credential(cred)
	imported := kongtest.Token{ID: kongtest.UUID(), CredentialID: cred.ID, ServiceID: svcID, Access: kongtest.RandomString(),
		AuthenticatedUserID: "user-k", Scope: "", CreatedAt: time.Now().UTC().Truncate(time.Second), ExpiresIn: 7200}
	k.Token(imported)
	harness.CLI(t, db, "import-kong", "--kong-database-url", k.URL)

	app := harness.CreateClient(t, db, "bob", "web")
	config := harness.ServeConfig("  " + svcID + ":\n    provision_key: \"" + provisionKey + "\"")
	issuer := harness.StartServeTLS(t, db, config)
	node := harness.StartServe(t, db, config)
	fresh := grant(t, issuer, svcID, app, "user-7", "")

	stats, err := sql.Open("postgres", db)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	transactions := func() int64 {
		t.Helper()
		var n int64
		if err := stats.QueryRow(`SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := transactions()

	const flood, workers = 3000, 8
	var next, not401 atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := &http.Client{Timeout: 10 * time.Second}
			for next.Add(1) <= flood {
				req, _ := http.NewRequest("GET", node.URL+"/services/"+svcID+"/auth", nil)
				tok, _ := plugin.RandomString()
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := c.Do(req)
				if err != nil {
					not401.Add(1)
					continue
				}
				res.Body.Close()
				if res.StatusCode != 401 {
					not401.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := not401.Load(); n != 0 {
		t.Errorf("%d of %d made-up tokens were not answered 401", n, flood)
	}

	// From the flooding address: the token issued on the other node.
	if a := get(t, node, "/services/"+svcID+"/auth", "Authorization", "Bearer "+fresh.Access); a.status != 200 {
		t.Errorf("a token issued on another node, first use here after the flood: %d %s", a.status, a.body)
	}
	// From another address: the token imported from Kong.
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", node.URL+"/services/"+svcID+"/auth", nil)
	req.Header.Set("Authorization", "Bearer "+imported.Access)
	if a := do(t, other, req); a.status != 200 || a.header.Get("X-Credential-Identifier") != cred.ClientID {
		t.Errorf("the token imported from Kong: %d %v %s", a.status, a.header, a.body)
	}

	// A process's statistics reach pg_stat_database at the latest when
	// its sessions end: stop both nodes before counting.
	for _, s := range []*harness.Serve{node, issuer} {
		if err := s.Stop(t); err != nil {
			t.Fatal(err)
		}
	}
	used := transactions() - before
	t.Logf("%d made-up bearer tokens: %d PostgreSQL transactions during the flood (both nodes, background work included)", flood, used)
	if used > flood/10 {
		t.Errorf("%d made-up bearer tokens cost PostgreSQL %d transactions, want at most %d", flood, used, flood/10)
	}
}

package failure

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestThroughPgbouncer: the plugin and the admin CLI reach PostgreSQL
// through a real pgbouncer in transaction pooling with three server
// connections, with exactly the URL the README gives (no setting added),
// while 16 clients issue, validate, refresh, replay and revoke at once.
// Every answer is the expected one: no 503, no lib/pq error from a
// statement whose round trips pgbouncer sent to two server connections.
// The LISTEN session goes to PostgreSQL directly (-listen-database-url),
// so a CLI revocation is refused within a second; without that flag the
// plugin says once that it falls back to the change-feed poll.
func TestThroughPgbouncer(t *testing.T) {
	wallTime(t)
	const (
		clients = 16
		rounds  = 6
	)
	bouncer := pg.StartBouncer(t, 3)
	direct := pg.NewDatabase(t)
	via := bouncer.URL(direct)
	s := newStack(t, via, "-listen-database-url", direct, "-store-timeout", "20s",
		"-cache-sync-interval", "30s", "-cache-stale-if-error", "60s")
	s.WaitStore(t, "api")
	ready := len(s.Host.Process().Output()) // the probes' 503s are before

	errs := make(chan error, clients)
	var revokeMu sync.Mutex // one CLI at a time: each is a process
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			errs <- func() error {
				for r := range rounds {
					user := fmt.Sprintf("user-%d-%d", i, r)
					tr, nx, err := s.grantAndRotate(user)
					if err != nil {
						return fmt.Errorf("client %d: %w", i, err)
					}
					switch r % 3 { // else the pair stays valid
					case 0: // replay: the whole family is revoked
						rp, _, err := s.post(s.refreshForm(tr.RefreshToken))
						if err != nil || rp.Status != 400 {
							return fmt.Errorf("client %d: replayed refresh token answered %d %s %v, want 400", i, rp.Status, rp.Error, err)
						}
						if st, err := s.validate(nx.AccessToken); err != nil || st != 401 {
							return fmt.Errorf("client %d: token of a replayed family answered %d %v, want 401", i, st, err)
						}
					case 1: // revoked by the admin CLI, through pgbouncer too
						revokeMu.Lock()
						_, errOut, code := harness.RunCLI(t, via, "tokens", "revoke", "--access-token", nx.AccessToken)
						revokeMu.Unlock()
						if code != 0 {
							return fmt.Errorf("client %d: tokens revoke: exit %d: %s", i, code, errOut)
						}
						if err := within(time.Second, func() error {
							if st, err := s.validate(nx.AccessToken); err != nil || st != 401 {
								return fmt.Errorf("revoked token answered %d %v, want 401", st, err)
							}
							return nil
						}); err != nil {
							return fmt.Errorf("client %d: CLI revocation: %w", i, err)
						}
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	out := strings.Join(s.Host.Process().Output()[ready:], "\n")
	for _, bad := range []string{"prepared statement", "bind message", "token store:", "receives no notifications"} {
		if strings.Contains(out, bad) {
			t.Errorf("plugin log mentions %q:\n%s", bad, out)
		}
	}

	// Without -listen-database-url the LISTEN goes through pgbouncer and
	// hears nothing: said once, and the poll carries on.
	fallback := newStack(t, via, "-cache-sync-interval", "500ms")
	fallback.WaitStore(t, "api") // a fresh process answers 503 until its store is open
	fallback.mustIssue("fallback-user")
	if err := within(20*time.Second, func() error {
		if out := strings.Join(fallback.Host.Process().Output(), "\n"); !strings.Contains(out, "receives no notifications") || !strings.Contains(out, "-listen-database-url") {
			return fmt.Errorf("no fall-back line in the plugin log:\n%s", out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tr := fallback.mustIssue("fallback-user-2")
	fallback.mustValidate(tr.AccessToken, 200)
	harness.CLI(t, via, "tokens", "revoke", "--access-token", tr.AccessToken)
	if err := within(5*time.Second, func() error {
		if st, err := fallback.validate(tr.AccessToken); err != nil || st != 401 {
			return fmt.Errorf("revoked token answered %d %v, want 401 (poll every 500ms)", st, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

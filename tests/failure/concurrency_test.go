package failure

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentClients: 50 clients at once through the real socket, each
// obtaining, using and refreshing tokens for a bounded time, against
// PostgreSQL. Every answer is the right one, every token issued is
// distinct, and the plugin (built with -race by the harness) reports no
// data race, in its output or in its exit status. Then two refreshes of
// one refresh token race, for several tokens: exactly one wins each time.
func TestConcurrentClients(t *testing.T) {
	wallTime(t)
	const (
		clients = 50
		runFor  = 3 * time.Second
	)
	// A generous store timeout: 50 clients on a 2-core machine with the
	// race detector are slow, and a 503 here would be a test artefact.
	s := newStack(t, pg.NewDatabase(t), "-store-timeout", "20s")

	var (
		mu     sync.Mutex
		seen   = map[string]string{} // token → what it was issued as
		dups   []string
		counts = map[string]int{}
	)
	record := func(kind, tok string) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := seen[tok]; ok {
			dups = append(dups, kind+" token equal to an earlier "+prev+" token")
		}
		seen[tok] = kind
		counts[kind]++
	}
	deadline := time.Now().Add(runFor)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				user := fmt.Sprintf("user-%d", i)
				for time.Now().Before(deadline) {
					tr, nx, err := s.grantAndRotate(user)
					if err != nil {
						return fmt.Errorf("client %d: %w", i, err)
					}
					record("access", tr.AccessToken)
					record("refresh", tr.RefreshToken)
					record("access", nx.AccessToken)
					record("refresh", nx.RefreshToken)
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, d := range dups {
		t.Errorf("duplicate: %s", d)
	}
	t.Logf("%d clients for %v: %d access and %d refresh tokens, all distinct", clients, runFor, counts["access"], counts["refresh"])
	if counts["access"] < clients {
		t.Errorf("only %d tokens issued by %d clients", counts["access"], clients)
	}

	// Two refreshes of one refresh token, released together.
	for i := range 8 {
		tr := s.mustIssue(fmt.Sprintf("race-%d", i))
		start := make(chan struct{})
		type answer struct {
			status int
			code   string
			err    error
		}
		answers := make(chan answer, 2)
		for range 2 {
			go func() {
				<-start
				nx, _, err := s.post(s.refreshForm(tr.RefreshToken))
				answers <- answer{nx.Status, nx.Error, err}
			}()
		}
		close(start)
		a, b := <-answers, <-answers
		if a.err != nil || b.err != nil {
			t.Fatalf("refresh race %d: %v %v", i, a.err, b.err)
		}
		wins := 0
		for _, x := range []answer{a, b} {
			switch {
			case x.status == 200:
				wins++
			case x.status != 400 || x.code != "invalid_request":
				t.Errorf("refresh race %d: loser answered %d %q, want 400 invalid_request", i, x.status, x.code)
			}
		}
		if wins != 1 {
			t.Errorf("refresh race %d: %d refreshes of one refresh token succeeded (%d, %d), want exactly 1", i, wins, a.status, b.status)
		}
	}

	// Stop the plugin now and read its verdict: the race detector prints
	// "WARNING: DATA RACE" and turns exit status 0 into 66.
	s.Front.Close()
	s.Host.Close()
	out := strings.Join(s.Host.Process().Output(), "\n")
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("the plugin reported a data race:\n%s", out)
	}
	exits := s.Host.Process().Exits()
	if len(exits) != 1 || !strings.HasSuffix(exits[0], "<nil>") {
		t.Errorf("plugin exits %v: want one clean exit (status 66 means a data race)", exits)
	}
}

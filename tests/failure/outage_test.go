package failure

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestPostgresOutage: PostgreSQL stops while the plugin serves, then comes
// back.
//   - Tokens already cached keep validating until -cache-stale-if-error
//     after the last successful sync, and are answered 503 after it.
//   - Uncached tokens and the token endpoint answer 503
//     temporarily_unavailable within -store-timeout, never hang, and never
//     answer 200 with a token that was not stored.
//   - When PostgreSQL is back, service resumes by itself, in the same
//     process.
func TestPostgresOutage(t *testing.T) {
	wallTime(t)
	const (
		stale        = 5 * time.Second
		syncEvery    = 250 * time.Millisecond
		storeTimeout = 1 * time.Second
		margin       = 1500 * time.Millisecond // scheduling slack of a -race binary on a busy machine
	)
	db := pg.NewDatabase(t)
	// A token issued by another node is in no cache here. Each test host
	// names its services with new ids, so the tokens are global ones.
	conf := map[string]any{"provision_key": provisionKey, "global_credentials": true}
	other := newStackConfig(t, db, conf)
	uncached := other.mustIssue("uncached-user")
	other.Front.Close()
	other.Host.Close()

	s := newStackConfig(t, db, conf,
		"-cache-stale-if-error", stale.String(), "-cache-sync-interval", syncEvery.String(),
		"-store-timeout", storeTimeout.String())
	cached := s.mustIssue("cached-user")
	s.mustValidate(cached.AccessToken, 200) // in the cache (if not already)
	gen := s.Host.Process().Generation()

	var answered200 []string // tokens issued during the outage, if any
	// fast asserts one request is answered within the store timeout.
	fast := func(what string, f func() (int, error)) int {
		t.Helper()
		start := time.Now()
		status, err := f()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if el := time.Since(start); el > storeTimeout+margin {
			t.Errorf("%s took %v, more than -store-timeout %v + %v", what, el, storeTimeout, margin)
		}
		return status
	}
	issueDuringOutage := func() {
		t.Helper()
		status := fast("password grant", func() (int, error) {
			tr, h, err := s.post(s.passwordForm("outage-user"))
			if err != nil {
				return 0, err
			}
			switch {
			case tr.Status == 200:
				answered200 = append(answered200, tr.AccessToken)
			case tr.Status != 503 || tr.Error != "temporarily_unavailable" || h.Get("Retry-After") == "":
				return 0, fmt.Errorf("password grant answered %d %q (Retry-After %q), want 503 temporarily_unavailable", tr.Status, tr.Error, h.Get("Retry-After"))
			}
			return tr.Status, nil
		})
		_ = status
		fast("refresh grant", func() (int, error) {
			tr, _, err := s.post(s.refreshForm(cached.RefreshToken))
			if err != nil {
				return 0, err
			}
			if tr.Status != 503 || tr.Error != "temporarily_unavailable" {
				return 0, fmt.Errorf("refresh grant answered %d %q, want 503 temporarily_unavailable", tr.Status, tr.Error)
			}
			return tr.Status, nil
		})
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = pg.Start()
		}
	})

	// Inside the staleness bound: the cached token validates, the rest is
	// 503, fast. The last successful sync started at most syncEvery before
	// the stop, so the cached token is good until stopped+stale-syncEvery;
	// checks stop well before that.
	for time.Since(stopped) < stale-syncEvery-margin {
		if st := fast("cached token", func() (int, error) { return s.validate(cached.AccessToken) }); st != 200 {
			t.Fatalf("%v into the outage, a cached token was answered %d, want 200 (bound %v)", time.Since(stopped), st, stale)
		}
		if st := fast("uncached token", func() (int, error) { return s.validate(uncached.AccessToken) }); st != 503 {
			t.Fatalf("uncached token during the outage: %d, want 503", st)
		}
		issueDuringOutage()
		time.Sleep(250 * time.Millisecond)
	}

	// Past the bound: the cache is no longer trusted.
	time.Sleep(time.Until(stopped.Add(stale + margin)))
	if st := fast("cached token past the bound", func() (int, error) { return s.validate(cached.AccessToken) }); st != 503 {
		t.Fatalf("%v into the outage (bound %v), a cached token was answered %d, want 503", time.Since(stopped), stale, st)
	}
	issueDuringOutage()

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	// Service resumes on its own.
	var fresh string
	if err := within(30*time.Second, func() error {
		tr, _, err := s.post(s.passwordForm("after-user"))
		if err != nil {
			return err
		}
		if tr.Status != 200 {
			return fmt.Errorf("password grant after recovery: %d %s", tr.Status, tr.Error)
		}
		fresh = tr.AccessToken
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("token endpoint back %v after PostgreSQL", time.Since(back).Round(time.Millisecond))
	if err := within(30*time.Second, func() error {
		if st, err := s.validate(cached.AccessToken); err != nil || st != 200 {
			return fmt.Errorf("cached token after recovery: %d %v", st, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.mustValidate(uncached.AccessToken, 200)
	s.mustValidate(fresh, 200)
	for _, tok := range answered200 {
		s.mustValidate(tok, 200) // a 200 during the outage was really stored
	}
	t.Logf("%d tokens answered 200 during the outage", len(answered200))
	tr, _, err := s.post(s.refreshForm(cached.RefreshToken))
	if err != nil || tr.Status != 200 {
		t.Fatalf("refresh after recovery: %+v %v", tr, err)
	}
	noCrash(t, s, gen)
}

// TestPostgresRestartUnderLoad: PostgreSQL is restarted (stopped like a
// crash, started again at once) while eight clients keep asking for
// tokens. No answer is a 500; every token answered 200, before, during or
// after the restart, still validates afterwards; and the token endpoint
// answers 200 again to every request sent from 5 s after PostgreSQL
// accepts connections.
func TestPostgresRestartUnderLoad(t *testing.T) {
	wallTime(t)
	const (
		clients  = 8
		recovery = 5 * time.Second
	)
	s := newStack(t, pg.NewDatabase(t), "-store-timeout", "2s")
	s.WaitStore(t, "api")
	s.mustIssue("warm-up")
	gen := s.Host.Process().Generation()

	var (
		mu       sync.Mutex
		issued   []string
		statuses = map[int]int{}
		lastBad  time.Time // when the last request that was not a 200 was sent
		back     time.Time // PostgreSQL accepts connections again
		stop     = make(chan struct{})
	)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				tr, _, err := s.post(s.passwordForm(fmt.Sprintf("load-%d-%d", i, n)))
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("client %d: %v", i, err)
				case tr.Status == 200:
					issued = append(issued, tr.AccessToken)
				case tr.Status == 503 && tr.Error == "temporarily_unavailable":
					lastBad = sent
				default:
					lastBad = sent
					t.Errorf("client %d: password grant answered %d %s %s", i, tr.Status, tr.Error, tr.ErrorDescription)
				}
				if err == nil {
					statuses[tr.Status]++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	time.Sleep(time.Second)
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	back = time.Now()
	mu.Unlock()
	time.Sleep(recovery + 2*time.Second)
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers: %v; last non-200 sent %v after PostgreSQL was back", statuses, lastBad.Sub(back).Round(time.Millisecond))
	if !lastBad.IsZero() && lastBad.Sub(back) > recovery {
		t.Errorf("a request sent %v after PostgreSQL accepted connections was not answered 200 (bound %v)", lastBad.Sub(back).Round(time.Millisecond), recovery)
	}
	for _, tok := range issued {
		if st, err := s.validate(tok); err != nil || st != 200 {
			t.Fatalf("a token answered 200 around the restart now answers %d %v", st, err)
		}
	}
	t.Logf("%d tokens answered 200, all still valid", len(issued))
	noCrash(t, s, gen)
}

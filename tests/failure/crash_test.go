package failure

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestSIGKILLUnderLoad: the plugin process is killed with SIGKILL while
// several clients obtain tokens, and Kong respawns it. Every token that
// was answered 200 validates afterwards: a token is answered only once
// its row is committed.
func TestSIGKILLUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(*testing.T) string
	}{
		{"postgres", func(t *testing.T) string { return pg.NewDatabase(t) }},
		{"embedded", func(t *testing.T) string { return harness.SQLiteURL(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wallTime(t)
			s := newStack(t, tc.db(t))
			p := s.Host.Process()

			const workers = 4
			var (
				mu     sync.Mutex
				issued []string
				before int // issued before the kill
				other  int // answers other than 200
			)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						tr, _, err := s.post(s.passwordForm("load-user"))
						mu.Lock()
						ok := err == nil && tr.Status == 200
						if ok {
							issued = append(issued, tr.AccessToken)
						} else {
							other++
						}
						mu.Unlock()
						if !ok {
							time.Sleep(10 * time.Millisecond) // the plugin is down: do not spin
						}
					}
				}()
			}
			stopLoad := func() {
				close(stop)
				wg.Wait()
			}

			time.Sleep(600 * time.Millisecond)
			mu.Lock()
			before = len(issued)
			mu.Unlock()
			gen, err := p.Kill(syscall.SIGKILL)
			if err != nil {
				stopLoad()
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			err = p.WaitReady(ctx, gen)
			cancel()
			if err != nil {
				stopLoad()
				t.Fatal(err)
			}
			mu.Lock()
			atRespawn := len(issued)
			mu.Unlock()
			time.Sleep(600 * time.Millisecond)
			stopLoad()

			if before == 0 || len(issued) <= atRespawn {
				t.Fatalf("load did not run on both sides of the kill: %d tokens before, %d at respawn, %d in all", before, atRespawn, len(issued))
			}
			if g := p.Generation(); g != gen+1 {
				t.Errorf("generation %d after the kill of %d", g, gen)
			}
			if ex := p.Exits(); len(ex) == 0 || !strings.Contains(ex[0], "killed") {
				t.Errorf("exits %v: want the first generation killed", ex)
			}
			// Validate them all, workers at a time.
			next := make(chan int)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						st, err := s.validate(issued[i])
						if err != nil || st != 200 {
							t.Errorf("token %d of %d (answered 200; %d were before the kill) now validates with %d %v", i+1, len(issued), before, st, err)
						}
					}
				}()
			}
			for i := range issued {
				next <- i
			}
			close(next)
			wg.Wait()
			t.Logf("%d tokens answered 200 (%d before the kill), all validate; %d other answers", len(issued), before, other)
		})
	}
}

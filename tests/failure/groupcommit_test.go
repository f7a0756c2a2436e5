package failure

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestGroupCommitSIGKILLRightAfterAnswers: eight clients obtain tokens at
// once, so their rows share batches (one statement, one commit), and the
// plugin process is killed with SIGKILL the moment the 20th token is
// answered, with other batches still under way. Every token answered 200
// validates after the respawn: a batch answers its requests only once it
// has committed.
func TestGroupCommitSIGKILLRightAfterAnswers(t *testing.T) {
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
			const workers, killAt = 8, 20
			var (
				mu     sync.Mutex
				issued []string
				wg     sync.WaitGroup
			)
			killNow := make(chan struct{})
			stop := make(chan struct{})
			for range workers {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						tr, _, err := s.post(s.passwordForm("burst-user"))
						if err != nil || tr.Status != 200 {
							time.Sleep(10 * time.Millisecond) // the plugin is down: do not spin
							continue
						}
						mu.Lock()
						issued = append(issued, tr.AccessToken)
						if len(issued) == killAt {
							close(killNow)
						}
						mu.Unlock()
					}
				})
			}
			<-killNow
			gen, err := p.Kill(syscall.SIGKILL)
			mu.Lock()
			atKill := len(issued)
			mu.Unlock()
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := p.WaitReady(ctx, gen); err != nil {
				t.Fatal(err)
			}
			for i, tok := range issued {
				if st, err := s.validate(tok); err != nil || st != 200 {
					t.Errorf("token %d of %d (answered 200, %d before the kill) validates with %d %v", i+1, len(issued), atKill, st, err)
				}
			}
			t.Logf("%d tokens answered 200 (%d when the kill was sent), all validate", len(issued), atKill)
		})
	}
}

package ha

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// workers is how many clients issue and validate at once.
const workers = 8

// load is what the workers saw.
type load struct {
	mu          sync.Mutex
	issued      []string    // access tokens answered 200
	okStarts    []time.Time // start of each request answered 200 (issue)
	okEnds      []time.Time
	unavailable int      // 503 temporarily_unavailable (issue or validation)
	bad         []string // anything else: a 500, a wrong 401, a transport error
}

// run makes workers issue a token, validate it at once, and start again,
// until ctx is done.
func (l *load) run(ctx context.Context, n node) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				start := time.Now()
				st, tok, code, err := n.issue(ctx, fmt.Sprintf("user-%d-%d", w, i))
				end := time.Now()
				if ctx.Err() != nil {
					return
				}
				switch {
				case err != nil:
					l.fail("issue: %v", err)
				case st == 200:
					l.mu.Lock()
					l.issued = append(l.issued, tok)
					l.okStarts, l.okEnds = append(l.okStarts, start), append(l.okEnds, end)
					l.mu.Unlock()
					vs, err := n.validate(ctx, tok)
					switch {
					case ctx.Err() != nil:
						return
					case err != nil:
						l.fail("validate: %v", err)
					case vs == 503:
						l.unavail()
					case vs != 200:
						l.fail("a token just answered 200 validated with %d", vs)
					}
				case st == 503 && code == "temporarily_unavailable":
					l.unavail()
				default:
					l.fail("issue answered %d %s", st, code)
				}
			}
		})
	}
	return &wg
}

func (l *load) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, fmt.Sprintf(format, args...))
}

// unavail counts a 503 and lets the client pause as a real one would.
func (l *load) unavail() {
	l.mu.Lock()
	l.unavailable++
	l.mu.Unlock()
	time.Sleep(10 * time.Millisecond)
}

// okCount is how many tokens were issued so far.
func (l *load) okCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.issued)
}

// firstOKAfter is the end of the first successful issue that started
// after t (zero if none yet).
func (l *load) firstOKAfter(t time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for i, s := range l.okStarts {
		if s.After(t) && (first.IsZero() || l.okEnds[i].Before(first)) {
			first = l.okEnds[i]
		}
	}
	return first
}

// lost counts the issued tokens that the database at url does not hold,
// read without any cache.
func (l *load) lost(t *testing.T, url string) (lost, total int) {
	t.Helper()
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tok := range l.issued {
		if _, err := s.TokenByAccess(t.Context(), store.DigestOf(tok)); err != nil {
			lost++
		}
	}
	return lost, len(l.issued)
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

package plugin

import (
	"context"
	"log/slog"
)

// Bounded slow work. Two steps of a token request cost far more than the
// rest: a client secret kept as a slow hash (argon2id: 19 MiB and tens of
// milliseconds of a core; Kong's PBKDF2: 10,000 rounds), and a call to
// the login backend. Throttling bounds how many of them one key can cause
// (throttle.go); these bounds hold for the whole process, whatever the
// number of keys: at most the slow-hash concurrency (package clientsecret,
// -slow-hash-concurrency) hashes and LoginConcurrency backend calls run at
// once. A request past the bound waits for a slot at most SlowWait (less
// when its own context ends first) and is then answered 503
// temporarily_unavailable with Retry-After (RFC 6749 §5.2): the waiters
// hold a goroutine each, never a hash's memory.

// msgBusy is the log line of a request that found no slot.
const msgBusy = "no slot for slow work within the wait; answered 503"

// slowCtx bounds the wait for a slot: SlowWait, or the request's own end.
func (r *request) slowCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.e.opt.SlowWait)
}

// acquireLogin takes a login-backend slot; false when none came free
// within the wait. A true answer is paired with releaseLogin.
func (r *request) acquireLogin() bool {
	ctx, cancel := r.slowCtx()
	defer cancel()
	select {
	case r.e.loginSlots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *request) releaseLogin() { <-r.e.loginSlots }

// exitBusy answers 503 temporarily_unavailable, Retry-After: 1.
func (r *request) exitBusy(what string, state any) {
	r.log(slog.LevelDebug, msgBusy, slog.String("what", what))
	r.d.Outcome = OutcomeBusy
	r.exitTokenError(ErrTemporarilyUnavailable, state)
}

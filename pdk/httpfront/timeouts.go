package httpfront

import "time"

// The HTTP server timeouts serve's listener runs with unless its
// -read-timeout, -write-timeout and -idle-timeout flags say otherwise.
// A token request is at most -max-body-bytes (64 KiB by default) of form:
// a client that cannot send it within ReadTimeout is trickling.
// WriteTimeout also bounds the handler (store and login-backend calls have
// their own, shorter deadlines). Idle keep-alive connections are closed
// after IdleTimeout. They live here, not in the command, so that the
// benchmarks' forward-auth floor runs net/http with the same deadlines:
// net/http arms them on every request, which is measurable at
// concurrency 1.
const (
	ReadTimeout  = 10 * time.Second
	WriteTimeout = 30 * time.Second
	IdleTimeout  = 60 * time.Second
)

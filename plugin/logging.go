package plugin

import (
	"context"
	"log/slog"
)

// Log lines. Messages are fixed strings (what happened); the details
// (the failed store operation, the error) are attributes, so that a log
// pipeline can count and alert on a message. No line may carry a token,
// a client secret, a password or a provision key.
//
// Lines about one request are written when the request ends, so that
// each carries its client_id (when the request named one) and its
// outcome: the request struct collects them, and nothing is collected on
// a request that logs nothing (the hot path allocates nothing for logs).

// Messages of the engine's log lines.
const (
	msgStoreFailed        = "token store failed"
	msgRequestFailed      = "request failed"
	msgPanic              = "recovered from panic"
	msgInvalidConfig      = "invalid plugin configuration"
	msgUnknownConsumer    = "client's consumer unknown to the gateway; its tokens are refused"
	msgRefreshReplayed    = "used refresh token presented again; token family revoked"
	msgNoAnonymous        = "anonymous consumer is configured but does not exist"
	msgLoginBackendFailed = "login backend failed"
	maxLoggedClientID     = 128 // a client_id is what the client sent: bounded in the log
	truncatedIDEllipsis   = "…"
)

// logLine is a line about the current request, written when it ends.
type logLine struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// log records a line about the current request.
func (r *request) log(level slog.Level, msg string, attrs ...slog.Attr) {
	r.logs = append(r.logs, logLine{level, msg, attrs})
}

// logStoreFailed records a failed store call: op says which.
func (r *request) logStoreFailed(op string, err error) {
	r.log(slog.LevelError, msgStoreFailed, slog.String("op", op), slog.String("err", err.Error()))
}

// flushLogs writes the request's lines with its client_id and outcome.
func (r *request) flushLogs() {
	for _, l := range r.logs {
		attrs := append(l.attrs, slog.String("client_id", loggedClientID(r.clientID)), slog.String("outcome", r.d.Outcome))
		r.e.opt.Log.LogAttrs(context.Background(), l.level, l.msg, attrs...)
	}
	r.logs = nil
}

// loggedClientID bounds a client_id for the log: it is whatever the
// client sent.
func loggedClientID(id string) string {
	if len(id) <= maxLoggedClientID {
		return id
	}
	return id[:maxLoggedClientID] + truncatedIDEllipsis
}

// Logger is the engine's process log (stderr in the binary, which Kong
// copies into its own log). Never give it a token, secret, password or
// provision key.
func (c *Config) Logger() *slog.Logger { return c.eng().opt.Log }

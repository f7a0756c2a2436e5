package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// NotifyChannel is the PostgreSQL LISTEN/NOTIFY channel on which every
// change-feed write is announced, in the transaction that writes it: the
// server delivers the notification when, and only if, it commits.
//
// The payload says what to evict: "flush" (everything cached), or the hex
// access digests of the tokens that stopped working, separated by spaces.
// A payload starting with "probe " is a listener testing its own session
// and is ignored by everyone else.
const NotifyChannel = "oauth2_password_changes"

// maxNotifyPayload keeps a payload under PostgreSQL's 8000-byte limit; a
// family revocation naming more tokens than fit is announced as "flush".
const maxNotifyPayload = 7900

const flushPayload = "flush"

// notifyPayload is the payload announcing a change-feed write (see
// addChanges: a nil digest means "flush everything").
func notifyPayload(digests []*Digest) string {
	var b strings.Builder
	for _, d := range digests {
		if d == nil || b.Len()+1+2*len(d) > maxNotifyPayload {
			return flushPayload
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(hex.EncodeToString(d[:]))
	}
	return b.String()
}

// notifier is a store whose writes are announced on NotifyChannel
// (Postgres).
type notifier interface {
	// listenURL is the URL the store was opened with.
	listenURL() string
	// notify sends a payload on NotifyChannel, outside any transaction.
	notify(ctx context.Context, payload string) error
	// heard is told of each change notification the cache applied; true
	// asks the cache to read the change feed at once (a store that reads
	// a replica does not trust it until then: withReplica).
	heard() bool
}

// How long the listener waits for its own probe before concluding that
// its session does not receive notifications.
const probeTimeout = 5 * time.Second

// Backoff between two LISTEN sessions: from listenRetryMin doubling up to
// listenRetryMax. pq.Listener reconnects a lost connection on its own (100
// ms doubling to 500 ms); this backoff is for a session that connected but
// could not LISTEN or did not hear its probe.
const (
	listenRetryMin = 250 * time.Millisecond
	listenRetryMax = 30 * time.Second
)

// Listener states (Cached.ListenerUp, the change_listener_up gauge).
const (
	listenerDown int32 = iota // connecting, reconnecting or retrying
	listenerUp                // LISTEN open and its probe heard
	listenerOff               // switched off: pgbouncer in transaction pooling
)

// listen keeps a LISTEN session on NotifyChannel open and evicts what each
// notification names, until ctx is done. After every (re)connection it
// reads the change feed at once: notifications sent while the session was
// down are lost, the feed is not. The poll of Start covers every gap.
//
// It never gives up: a failed connection, a refused LISTEN (a hot standby
// refuses it; after a failover the URL's target_session_attrs leads to
// the new primary) or a probe that does not come back are retried with
// backoff for the life of the process, logged once per change of state.
// The one exception is a session that hears nothing through a connection
// pooler that keeps no session (pgbouncer in transaction pooling),
// positively detected (see behindPooler): LISTEN cannot work there, so it
// says so once and leaves invalidation to the poll.
func (c *Cached) listen(ctx context.Context, n notifier) {
	url := c.o.ListenURL
	if url == "" {
		url = n.listenURL()
	}
	if nu, err := NormalizePostgresURL(url); err == nil {
		url = nu
	}
	st := &listenerLog{c: c, url: url}
	wait := listenRetryMin
	for {
		heard, err := c.listenSession(ctx, n, url, st)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errSilent) && behindPooler(ctx, url) {
			c.listenState.Store(listenerOff)
			c.o.Log.Warn(msgNotifySilent, "url", redactURL(url), "poll", c.o.SyncInterval.String(), "hint", "pgbouncer in transaction pooling: give a direct PostgreSQL URL with -listen-database-url")
			return
		}
		st.down(err)
		if heard {
			wait = listenRetryMin // it worked for a while: start over
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenRetryMax)
	}
}

// errSilent: the session is open but its own probe did not come back.
var errSilent = errors.New("the LISTEN session receives no notifications (its probe did not come back)")

// listenSession runs one pq.Listener until it is beyond repair (LISTEN
// refused, probe unheard) or ctx is done; heard reports whether a probe
// came back at least once.
func (c *Cached) listenSession(ctx context.Context, n notifier, url string, st *listenerLog) (heard bool, _ error) {
	// Reconnect every 100 ms doubling to 500 ms: after a failover the new
	// primary is found within half a second of accepting connections, so
	// that a revocation made during the switch is honoured within a
	// second; a refused connection on loopback or a LAN costs little.
	l := pq.NewListener(url, 100*time.Millisecond, 500*time.Millisecond, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			st.down(err)
		}
	})
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	if err := l.Listen(NotifyChannel); err != nil {
		return false, err
	}
	// Changes committed between the last sync and the LISTEN were
	// announced to nobody: read them from the feed now.
	if err := c.syncTimeout(ctx); err != nil && ctx.Err() == nil {
		c.o.Log.Warn(msgNotifyFailed, "err", err)
	}
	probe := "probe " + randomHex()
	probed := false
	var probeSent time.Time
	retry := time.NewTimer(0) // sends the probe, then bounds its wait
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return heard, ctx.Err()
		case <-retry.C:
			if probed {
				continue
			}
			if !probeSent.IsZero() && time.Since(probeSent) >= probeTimeout {
				return heard, errSilent
			}
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			err := n.notify(pctx, probe)
			cancel()
			if err != nil {
				retry.Reset(time.Second) // the store is down: try again soon
				continue
			}
			if probeSent.IsZero() {
				probeSent = time.Now()
			}
			retry.Reset(max(probeTimeout-time.Since(probeSent), 0))
		case m, ok := <-l.Notify:
			if !ok {
				return heard, net.ErrClosed
			}
			if m == nil { // reconnected: what was sent meanwhile is lost
				if err := c.syncTimeout(ctx); err != nil && ctx.Err() == nil {
					c.o.Log.Warn(msgNotifyFailed, "err", err)
				}
				// Hear the probe again before saying it works (the
				// new session may be on another server).
				probed, probeSent = false, time.Time{}
				retry.Reset(0)
				continue
			}
			if m.Extra == probe {
				if !probed {
					probed, heard = true, true
					st.up()
				}
				continue
			}
			c.applyNotification(m.Extra)
			if !strings.HasPrefix(m.Extra, "probe ") && n.heard() {
				c.syncSoon()
			}
		}
	}
}

// listenerLog logs the listener's state changes, once each: lost (with
// the first error), back. It is called from pq.Listener's goroutine too.
type listenerLog struct {
	c    *Cached
	url  string
	mu   sync.Mutex
	lost bool
}

func (s *listenerLog) down(err error) {
	s.c.listenState.Store(listenerDown)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost || err == nil {
		return
	}
	s.lost = true
	args := []any{"err", redactErr(err, s.url), "poll", s.c.o.SyncInterval.String()}
	if errors.Is(err, errSilent) {
		args = append(args, "hint", "is the URL another database, or a pooler? give a direct PostgreSQL URL with -listen-database-url")
	}
	s.c.o.Log.Warn(msgNotifyLost, args...)
}

func (s *listenerLog) up() {
	s.c.listenState.Store(listenerUp)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost {
		s.lost = false
		s.c.o.Log.Info(msgNotifyBack)
	}
}

// behindPooler reports positively that url leads to PostgreSQL through a
// proxy: the server says it listens on a port the URL does not name
// (pgbouncer listens on its own port, 6432 by default, and connects to
// PostgreSQL's). Called only once a session heard nothing of its own
// probe, it tells a pooler that keeps no session (LISTEN can never work
// there) from a server that is merely down or failing over (LISTEN will
// work again). A unix-socket URL is never "behind a pooler": retrying
// costs a connection every listenRetryMax.
func behindPooler(ctx context.Context, url string) bool {
	connector, err := PostgresConnector(url)
	if err != nil {
		return false
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var port sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT inet_server_port()`).Scan(&port); err != nil || !port.Valid {
		return false
	}
	cfg, err := pq.NewConfig(url)
	if err != nil {
		return false
	}
	ports := []uint16{cfg.Port}
	for _, m := range cfg.Multi {
		ports = append(ports, m.Port)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		return false
	}
	return !slices.Contains(ports, uint16(port.Int64))
}

// ListenerUp reports whether the LISTEN session is open and has heard its
// own probe (false on SQLite, while reconnecting, and once switched off).
func (c *Cached) ListenerUp() bool { return c.listenState.Load() == listenerUp }

// applyNotification evicts what a payload names.
func (c *Cached) applyNotification(payload string) {
	if strings.HasPrefix(payload, "probe ") {
		return
	}
	if payload == flushPayload {
		c.flush()
		return
	}
	for f := range strings.FieldsSeq(payload) {
		var d Digest
		if len(f) != hex.EncodedLen(len(d)) {
			c.flush() // not ours to understand: drop everything, safely
			return
		}
		if _, err := hex.Decode(d[:], []byte(f)); err != nil {
			c.flush() // not ours to understand: drop everything, safely
			return
		}
		c.evict(d)
	}
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// redactErr is err's text with the password of url, if it appears, hidden.
func redactErr(err error, url string) string {
	msg := err.Error()
	if p := urlPassword(url); p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// Log messages of the change notifications.
const (
	msgNotifyLost   = "change notifications lost; reconnecting, the change feed is still read"
	msgNotifyBack   = "change notifications listening again"
	msgNotifyFailed = "change notification failed"
	msgNotifySilent = "the LISTEN session receives no notifications through a connection pooler; listening switched off, revocations made elsewhere wait for the change feed"
)

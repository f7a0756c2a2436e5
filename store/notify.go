package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
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
}

// How long the listener waits for its own probe before concluding that
// its session does not receive notifications.
const probeTimeout = 5 * time.Second

// listen keeps a LISTEN session on NotifyChannel open and evicts what each
// notification names, until ctx is done. After a reconnection it reads the
// change feed at once: notifications sent while the session was down are
// lost, the feed is not. The poll of Start stays as the safety net.
//
// LISTEN needs a session of its own on the server. Through pgbouncer in
// transaction pooling it silently receives nothing; so the listener first
// sends itself a probe and, if the probe does not come back, says so once
// and leaves invalidation to the poll.
func (c *Cached) listen(ctx context.Context, n notifier) {
	url := c.o.ListenURL
	if url == "" {
		url = n.listenURL()
	}
	var failing bool // log one line per outage, not one per attempt
	l := pq.NewListener(url, 100*time.Millisecond, 2*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed:
			if !failing {
				c.o.Log.Warn(msgNotifyLost, "err", redactErr(err, url), "poll", c.o.SyncInterval.String())
			}
			failing = true
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			failing = false
		}
	})
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	if err := l.Listen(NotifyChannel); err != nil {
		if ctx.Err() == nil {
			c.o.Log.Warn(msgNotifyUnavailable, "channel", NotifyChannel, "err", redactErr(err, url), "poll", c.o.SyncInterval.String())
		}
		return
	}
	// Changes committed between Start's first sync and the LISTEN were
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
			return
		case <-retry.C:
			if probed {
				continue
			}
			if !probeSent.IsZero() && time.Since(probeSent) >= probeTimeout {
				c.o.Log.Warn(msgNotifySilent, "url", redactURL(url), "poll", c.o.SyncInterval.String(), "hint", "pgbouncer in transaction pooling? give a direct PostgreSQL URL with -listen-database-url")
				return
			}
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			err := n.notify(pctx, probe)
			cancel()
			if err != nil {
				retry.Reset(probeTimeout) // the store is down: try later
				continue
			}
			probeSent = time.Now()
			retry.Reset(probeTimeout)
		case m, ok := <-l.Notify:
			if !ok {
				return
			}
			if m == nil { // reconnected: what was sent meanwhile is lost
				if err := c.syncTimeout(ctx); err != nil && ctx.Err() == nil {
					c.o.Log.Warn(msgNotifyFailed, "err", err)
				}
				continue
			}
			if m.Extra == probe {
				probed = true
				continue
			}
			c.applyNotification(m.Extra)
		}
	}
}

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
	msgNotifyLost        = "change notifications lost; reconnecting, the change feed is still read"
	msgNotifyUnavailable = "change notifications unavailable; relying on the change feed"
	msgNotifyFailed      = "change notification failed"
	msgNotifySilent      = "the LISTEN session receives no notifications; revocations made elsewhere wait for the change feed"
)

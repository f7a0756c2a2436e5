package main

import (
	"flag"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
)

// Defaults of serve's connection flags: the timeouts are
// httpfront's (it says why). Idle keep-alive connections are also closed
// sooner when the connection limit is reached.
const (
	defaultReadTimeout    = httpfront.ReadTimeout
	defaultWriteTimeout   = httpfront.WriteTimeout
	defaultIdleTimeout    = httpfront.IdleTimeout
	defaultMaxConnections = 4096
)

// connLimits are the HTTP listener's timeouts and connection bound.
type connLimits struct {
	readTimeout    time.Duration
	writeTimeout   time.Duration
	idleTimeout    time.Duration
	maxConnections int
}

func (l *connLimits) register(fs *flag.FlagSet) {
	fs.DurationVar(&l.readTimeout, "read-timeout", defaultReadTimeout, "HTTP: the longest a request (headers and body) may take to arrive; a trickling body is cut off")
	fs.DurationVar(&l.writeTimeout, "write-timeout", defaultWriteTimeout, "HTTP: the longest from the end of a request's headers to the end of its answer")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", defaultIdleTimeout, "HTTP: idle keep-alive connections are closed after this long")
	fs.IntVar(&l.maxConnections, "max-connections", defaultMaxConnections, "HTTP: open connections at most; at the bound idle keep-alive connections are closed and new ones wait to be accepted")
}

func (l *connLimits) check() error {
	if l.readTimeout <= 0 || l.writeTimeout <= 0 || l.idleTimeout <= 0 || l.maxConnections <= 0 {
		return usagef("serve: -read-timeout, -write-timeout, -idle-timeout and -max-connections must be more than 0")
	}
	return nil
}

// answerWithin is how long the client endpoints may work on a request:
// the write timeout less a margin (a tenth, at most a second) to write
// the answer in. A slower login backend or store is answered 503 then;
// at the write timeout net/http would close the connection unanswered.
func (l *connLimits) answerWithin() time.Duration {
	return l.writeTimeout - min(l.writeTimeout/10, time.Second)
}

// apply sets the timeouts on srv and returns ln bounded to maxConnections.
func (l *connLimits) apply(srv *http.Server, ln net.Listener) net.Listener {
	srv.ReadTimeout = l.readTimeout
	srv.WriteTimeout = l.writeTimeout
	srv.IdleTimeout = l.idleTimeout
	if srv.ReadHeaderTimeout == 0 || srv.ReadHeaderTimeout > l.readTimeout {
		srv.ReadHeaderTimeout = l.readTimeout
	}
	// HTTP/1.1 only, also under TLS: net/http counts an HTTP/2
	// connection as active for its whole life, so the bound could not
	// close idle ones to make room, and a client holding idle HTTP/2
	// connections kept everyone out until -idle-timeout. The proxies in
	// front speak HTTP/1.1 to an auth service; gRPC has its own listener.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	return newLimitListener(ln, l.maxConnections, srv)
}

// limitListener accepts at most cap(slots) connections at a time. While
// the bound is reached it closes the server's idle keep-alive connections
// every closeIdleEvery, so that idle connections never keep a new client
// out for long; the new connection waits in the kernel's accept queue
// meanwhile. http.Server has no "close idle connections" call of its own:
// SetKeepAlivesEnabled(false) does it, and turning keep-alive straight
// back on leaves only the answers finishing at that instant without it.
type limitListener struct {
	net.Listener
	slots chan struct{}
	srv   *http.Server
	done  chan struct{}
	once  sync.Once
}

// closeIdleEvery is how often idle connections are closed while the bound
// is reached.
const closeIdleEvery = 50 * time.Millisecond

func newLimitListener(ln net.Listener, n int, srv *http.Server) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), srv: srv, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// acquire takes a slot, closing idle connections while there is none.
func (l *limitListener) acquire() error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTicker(closeIdleEvery)
	defer t.Stop()
	for {
		// No lock of ours is held here: closing a connection calls
		// limitedConn.Close, under the server's own lock.
		l.srv.SetKeepAlivesEnabled(false)
		l.srv.SetKeepAlivesEnabled(true)
		select {
		case l.slots <- struct{}{}:
			return nil
		case <-l.done:
			return net.ErrClosed
		case <-t.C:
		}
	}
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	l      *limitListener
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		<-c.l.slots
	}
	return err
}

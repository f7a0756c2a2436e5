package main

import (
	"flag"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of serve's connection flags. A token request is at most
// -max-body-bytes (64 KiB by default) of form: a client that cannot send
// it within ReadTimeout is trickling. WriteTimeout also bounds the
// handler (store and login-backend calls have their own, shorter
// deadlines). Idle keep-alive connections are closed after IdleTimeout,
// and sooner when the connection limit is reached.
const (
	defaultReadTimeout    = 10 * time.Second
	defaultWriteTimeout   = 30 * time.Second
	defaultIdleTimeout    = 60 * time.Second
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

// apply sets the timeouts on srv and returns ln bounded to maxConnections.
func (l *connLimits) apply(srv *http.Server, ln net.Listener) net.Listener {
	srv.ReadTimeout = l.readTimeout
	srv.WriteTimeout = l.writeTimeout
	srv.IdleTimeout = l.idleTimeout
	if srv.ReadHeaderTimeout == 0 || srv.ReadHeaderTimeout > l.readTimeout {
		srv.ReadHeaderTimeout = l.readTimeout
	}
	return newLimitListener(ln, l.maxConnections, srv)
}

// limitListener accepts at most cap(slots) connections at a time. When
// the bound is reached it closes the server's idle keep-alive connections
// (http.Server.SetKeepAlivesEnabled(false) does that, and makes every
// connection close after its current answer) until a quarter of the slots
// are free again, so that idle connections never keep a new client out;
// a new connection then waits in the kernel's accept queue for a slot.
type limitListener struct {
	net.Listener
	slots chan struct{}
	srv   *http.Server
	mu    sync.Mutex
	full  bool
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int, srv *http.Server) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), srv: srv, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.setFull(true)
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

// setFull turns keep-alive off at the bound and back on once a quarter of
// the slots are free.
func (l *limitListener) setFull(full bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full == full {
		return
	}
	l.full = full
	l.srv.SetKeepAlivesEnabled(!full)
}

func (l *limitListener) release() {
	<-l.slots
	if len(l.slots) <= cap(l.slots)*3/4 {
		l.mu.Lock()
		full := l.full
		l.mu.Unlock()
		if full {
			l.setFull(false)
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
		c.l.release()
	}
	return err
}

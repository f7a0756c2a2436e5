package konghost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// maxFrame bounds a frame the host will read; a plugin that sends more is
// broken, and allocating its claimed length would hide that.
const maxFrame = 64 << 20

// writeFrame writes a uint32 little-endian length and the payload. Kong packs
// the length as a native unsigned int, little-endian on its platforms, and
// go-pdk uses binary.LittleEndian (reference §3.3). Zero-length frames are
// legal: "no value" and "end of event".
func writeFrame(w io.Writer, payload []byte) error {
	buf := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > maxFrame {
		return nil, fmt.Errorf("konghost: frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Pool is the per-worker cosocket keepalive pool Kong's Rpc:call uses
// (§3.3): every RPC takes an idle connection or dials a new one, and gives
// it back only after a clean RpcReturn. nginx closes idle pooled connections
// whose peer hung up; get reproduces that with a non-blocking peek, so a
// respawned plugin is not fed connections to the dead one.
type Pool struct {
	path string
	max  int // lua_socket_pool_size, 256 by default

	mu     sync.Mutex
	idle   []*net.UnixConn
	closed bool
	dials  int
}

// NewPool returns an empty pool of connections to the socket at path.
func NewPool(path string) *Pool { return &Pool{path: path, max: 256} }

// Get takes an idle live connection or dials a new one.
func (p *Pool) Get() (*net.UnixConn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, net.ErrClosed
		}
		n := len(p.idle)
		if n == 0 {
			p.dials++
			p.mu.Unlock()
			c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: p.path, Net: "unix"})
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if alive(c) {
			return c, nil
		}
		c.Close()
	}
}

// Put gives a connection back after a clean exchange.
func (p *Pool) Put(c *net.UnixConn) {
	_ = c.SetDeadline(time.Time{})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle) >= p.max {
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
}

// Close closes the idle connections; Get fails from then on.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.idle {
		c.Close()
	}
	p.idle = nil
}

// alive peeks without blocking: EOF or an error means the peer is gone;
// EAGAIN means an idle, healthy connection. Unread data on an idle
// connection would be a protocol error, so it counts as dead too.
func alive(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	var buf [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN)
		return true
	})
	return ok
}

// connClosed reports whether err means the plugin closed the connection,
// which Kong sees as the error text "closed" and answers with reset and
// retry (§3.9). go-pdk closes the connection on every error of its own, e.g.
// "no plugin instance N" (§3.5). A failed connect is not "closed" to Kong
// ("connection refused", "no such file or directory"): 500, no retry.
func connClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

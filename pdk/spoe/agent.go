package spoe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/negasus/haproxy-spoe-go/frame"
	"github.com/negasus/haproxy-spoe-go/payload/kv"
	spop "github.com/negasus/haproxy-spoe-go/request"
	"github.com/negasus/haproxy-spoe-go/worker"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// Agent is the SPOE agent over the engine: every oauth2-check message is
// a bearer validation on the service it names.
type Agent struct {
	Services  map[string]*plugin.Config // by SERVICE name
	Consumers plugin.Consumers
	Trusted   Trusted
	Log       *slog.Logger // nil: slog.Default()

	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]struct{}
	closed   bool
	inFlight sync.WaitGroup // messages being answered
	work     chan *job      // to the workers; nil until Serve
	stopWork chan struct{}
}

// job is one NOTIFY frame handed to a worker, and the signal that it was
// answered. Jobs are recycled: this runs on every request.
type job struct {
	req  *spop.Request
	done chan struct{}
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

// Serve accepts HAProxy's connections on ln until Shutdown. HAProxy keeps
// them open and sends many requests on each (pipelined); the library
// answers every NOTIFY frame on a goroutine of its own.
func (a *Agent) Serve(ln net.Listener) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	a.ln, a.conns = ln, map[net.Conn]struct{}{}
	a.work, a.stopWork = make(chan *job), make(chan struct{})
	a.mu.Unlock()
	// The library answers each NOTIFY frame on a goroutine of its own,
	// whose stack the engine's calls would grow, and copy, every time:
	// checks run on a few long-lived workers instead (one per CPU, as
	// serve's gRPC front does); when all are busy, on the library's
	// goroutine.
	for range runtime.NumCPU() {
		go a.worker(a.work, a.stopWork)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			a.mu.Lock()
			closed := a.closed
			a.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		if !a.track(c) {
			c.Close()
			continue
		}
		go a.handleConn(c)
	}
}

func (a *Agent) track(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.conns[c] = struct{}{}
	return true
}

// handleConn runs the library's connection loop. Its frame parsing
// trusts lengths it reads (a malformed frame can make it index out of
// range): frames are bounded by limitFrames, and a panic ends this
// connection only, never the process. HAProxy opens a new one.
func (a *Agent) handleConn(c net.Conn) {
	defer func() {
		if v := recover(); v != nil {
			a.log().Error("SPOE connection dropped: malformed frame", "peer", c.RemoteAddr().String(), "panic", fmt.Sprint(v))
		}
		c.Close()
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
	}()
	worker.Handle(limitFrames(c, maxFrameSize), a.handle, libraryLog{a.log(), a.shuttingDown})
}

// Shutdown stops accepting, lets the messages being answered finish
// until ctx ends, then closes every connection: HAProxy's next message
// fails, and its rules deny (fail closed) until an agent answers again.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	if a.ln != nil {
		a.ln.Close()
		close(a.stopWork)
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.inFlight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.mu.Lock()
	for c := range a.conns {
		// SPOP's way out (SPOE.txt §3.2.5): HAProxy drops a connection
		// the agent disconnected. One closed without it looks idle to
		// HAProxy, which would send the next message on it and wait
		// for its processing timeout.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(agentDisconnect)
		c.Close()
	}
	a.mu.Unlock()
	return err
}

// agentDisconnect is the AGENT-DISCONNECT frame of a normal shutdown.
var agentDisconnect = func() []byte {
	f := frame.AcquireFrame()
	defer frame.ReleaseFrame(f)
	f.Type = frame.TypeAgentDisconnect
	f.KV.Add("status-code", uint32(0))
	f.KV.Add("message", "the agent is shutting down")
	var b bytes.Buffer
	if _, err := f.Encode(&b); err != nil {
		panic(err) // a constant frame
	}
	return b.Bytes()
}()

// handle answers one NOTIFY frame: each oauth2-check message in it (HAProxy
// sends one) gets its variables; other messages are ignored.
func (a *Agent) handle(req *spop.Request) {
	a.inFlight.Add(1)
	defer a.inFlight.Done()
	if a.work != nil {
		j := jobs.Get().(*job)
		j.req = req
		select {
		case a.work <- j: // a worker was waiting
			<-j.done
			j.req = nil
			jobs.Put(j)
			return
		default:
			j.req = nil
			jobs.Put(j)
		}
	}
	a.answer(req)
}

// worker answers jobs until stop is closed.
func (a *Agent) worker(work <-chan *job, stop <-chan struct{}) {
	for {
		select {
		case j := <-work:
			a.answer(j.req)
			j.done <- struct{}{}
		case <-stop:
			return
		}
	}
}

// answer sets the variables of every oauth2-check message of a frame.
func (a *Agent) answer(req *spop.Request) {
	for _, m := range *req.Messages {
		if m.Name == MessageName {
			a.check(m.KV.Data(), req)
		}
	}
}

// check validates one message. A message naming no service, or one we do
// not serve, is denied with 500 and a body that says which.
func (a *Agent) check(args []kv.Item, req *spop.Request) {
	start := time.Now()
	q := newRequest(args, a.Trusted)
	c, known := a.Services[q.service]
	switch {
	case q.service == "":
		fail(`no service: the oauth2-check message must carry service=… (spoe.conf)`, req)
		return
	case !known:
		fail("unknown service "+q.service+" in the oauth2-check message's service arg", req)
		return
	}
	d := c.Authorize(context.Background(), q, a.Consumers)
	setDecision(&d, &req.Actions)
	c.Observe(plugin.FrontSPOE, &d, start)
	d.Release()
}

// fail denies with 500 and Kong's {"message": …} body.
func fail(msg string, req *spop.Request) {
	r := plugin.JSONResponse(500, map[string]string{"message": msg})
	setAnswer(&r, &req.Actions)
}

func (a *Agent) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

func (a *Agent) shuttingDown() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// libraryLog is the library's logger on the process log. Once Shutdown
// has closed the connections, the library's complaints about them say
// nothing.
type libraryLog struct {
	l      *slog.Logger
	closed func() bool
}

func (l libraryLog) Errorf(format string, args ...any) {
	if l.closed() {
		return
	}
	l.l.Warn("SPOE connection: " + fmt.Sprintf(format, args...))
}

package konghost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process runs the plugin binary the way Kong's start_cmd does (reference
// §3.2): "<bin> -kong-prefix DIR [args]", stdout and stderr merged, each
// line logged as "[name:pid] line", and a respawn when it dies, at most once
// per second, until Close. Exit status 127 (command not found) stops the
// respawning, as in Kong.
type Process struct {
	bin, dir, name, socket string
	args, env              []string
	tee                    func(string)

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	cmd      *exec.Cmd
	gen      int // generation of the current process, 1 for the first
	readyGen int // highest generation whose socket accepted a connection
	exits    []string
	lines    []string
	closed   bool
	done     chan struct{} // closed when the supervisor returns
}

// ProcessOptions configures StartProcess.
type ProcessOptions struct {
	Bin  string   // plugin binary; its basename is the plugin name (§2.3)
	Dir  string   // the -kong-prefix directory; must be short (§7.5)
	Args []string // extra arguments after -kong-prefix DIR
	Env  []string // added to the test's environment
	// Socket is the socket the process listens on; default
	// <Dir>/<basename of Bin>.socket (go-pdk's embedded server).
	Socket string
	// Tee, if set, receives every output line too (e.g. t.Log).
	Tee func(string)
}

// StartProcess starts the plugin and waits until its socket accepts.
func StartProcess(ctx context.Context, o ProcessOptions) (*Process, error) {
	name := filepath.Base(o.Bin)
	p := &Process{
		bin: o.Bin, dir: o.Dir, name: name,
		socket: o.Socket,
		args:   o.Args, env: o.Env, tee: o.Tee,
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if p.socket == "" {
		p.socket = filepath.Join(o.Dir, name+".socket")
	}
	// Go refuses Unix socket paths of 108 bytes or more (§7.5).
	if len(p.socket) > 107 {
		return nil, fmt.Errorf("konghost: socket path %q is %d bytes, over 107", p.socket, len(p.socket))
	}
	go p.supervise()
	if err := p.WaitReady(ctx, 0); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Socket is the path Kong connects to (ProcessOptions.Socket).
func (p *Process) Socket() string { return p.socket }

// Generation is the number of the current process (1, 2, … per respawn).
func (p *Process) Generation() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// PID of the current process, 0 between a death and the respawn.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends sig to the current process (for crash tests) and returns its
// generation, to pass to WaitReady.
func (p *Process) Kill(sig os.Signal) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return p.gen, errors.New("konghost: no running plugin process")
	}
	return p.gen, p.cmd.Process.Signal(sig)
}

// WaitReady waits until a process of a generation after gen accepts
// connections on the socket.
func (p *Process) WaitReady(ctx context.Context, gen int) error {
	for {
		p.mu.Lock()
		ready, closed, ch := p.readyGen, p.closed, p.changed
		exits := strings.Join(p.exits, "; ")
		p.mu.Unlock()
		if ready > gen {
			return nil
		}
		if closed {
			return fmt.Errorf("konghost: plugin process stopped (%s)", exits)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("konghost: waiting for %s: %w (exits: %s)", p.socket, ctx.Err(), exits)
		}
	}
}

// Output returns every line the plugin processes printed so far, each
// "[name:pid] line" as in Kong's log.
func (p *Process) Output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Exits describes how each process generation ended.
func (p *Process) Exits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.exits...)
}

// Close stops respawning, sends SIGTERM (Kong's exit_worker, §3.2) and
// waits for the process, killing it after 5 s.
func (p *Process) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
		p.notifyLocked()
	}
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.mu.Lock()
		if p.cmd != nil && p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
		p.mu.Unlock()
		<-p.done
	}
	return nil
}

func (p *Process) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// supervise is Kong's spawn loop (process.lua@3.9.3 L136-182): spawn, wait,
// and respawn no sooner than one second after the previous spawn.
func (p *Process) supervise() {
	defer close(p.done)
	for {
		next := time.Now().Add(time.Second)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.gen++
		gen := p.gen
		lw := &lineWriter{p: p}
		cmd := exec.Command(p.bin, append([]string{"-kong-prefix", p.dir}, p.args...)...)
		cmd.Env = append(os.Environ(), p.env...)
		cmd.Stdout, cmd.Stderr = lw, lw // one pipe, like merge_stderr=true
		cmd.WaitDelay = 2 * time.Second
		err := cmd.Start()
		if err == nil {
			p.cmd = cmd
			lw.pid = cmd.Process.Pid
		}
		p.notifyLocked()
		p.mu.Unlock()

		status := 0
		if err != nil {
			status = 127
		} else {
			stop := make(chan struct{})
			go p.probe(gen, stop)
			err = cmd.Wait()
			close(stop)
			lw.flush()
			if cmd.ProcessState != nil {
				status = cmd.ProcessState.ExitCode()
			}
		}
		p.mu.Lock()
		p.cmd = nil
		p.exits = append(p.exits, fmt.Sprintf("generation %d: %v", gen, err))
		stopping := p.closed || status == 127
		if status == 127 {
			p.closed = true
		}
		p.notifyLocked()
		p.mu.Unlock()
		if stopping {
			return
		}
		time.Sleep(time.Until(next))
	}
}

// probe polls the socket until it accepts. A stale socket file left by a
// killed process refuses connections until the new process replaces it.
func (p *Process) probe(gen int, stop <-chan struct{}) {
	for {
		c, err := net.DialTimeout("unix", p.socket, time.Second)
		if err == nil {
			c.Close()
			p.mu.Lock()
			if gen > p.readyGen {
				p.readyGen = gen
			}
			p.notifyLocked()
			p.mu.Unlock()
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// lineWriter turns the merged output into lines. exec.Cmd calls Write from
// one goroutine at a time because Stdout and Stderr are the same writer.
type lineWriter struct {
	p   *Process
	pid int
	buf bytes.Buffer
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	for {
		i := bytes.IndexByte(w.buf.Bytes(), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf.Next(i + 1))
		w.emit(strings.TrimRight(line, "\r\n"))
	}
}

func (w *lineWriter) flush() {
	if w.buf.Len() > 0 {
		w.emit(w.buf.String())
		w.buf.Reset()
	}
}

func (w *lineWriter) emit(line string) {
	w.p.mu.Lock()
	line = fmt.Sprintf("[%s:%d] %s", w.p.name, w.pid, line) // pid is set under mu
	w.p.lines = append(w.p.lines, line)
	tee := w.p.tee
	w.p.mu.Unlock()
	if tee != nil {
		tee(line)
	}
}

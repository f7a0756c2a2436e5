package harness

import (
	"bytes"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a process's output from its two streams.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Process is a process a test started with RunProcess.
type Process struct {
	out  lockedBuffer
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

// Output is what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Exited is closed when the process has exited; Err then says how.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err is how the process exited; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// RunProcess starts cmd (a proxy, an upstream: anything the test needs
// running for its length) with its output collected, and stops it with
// SIGTERM when the test ends; a process that outlives SIGTERM by 10 s is
// killed and fails the test. If the test failed, the output is logged, and
// after it what logs returns (a log file of the process; nil: nothing).
func RunProcess(t testing.TB, name string, cmd *exec.Cmd, logs func() string) *Process {
	t.Helper()
	p := &Process{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not stop within 10s of SIGTERM", name)
		}
		if t.Failed() {
			extra := ""
			if logs != nil {
				extra = logs()
			}
			t.Logf("%s output:\n%s\n%s", name, p.Output(), extra)
		}
	})
	return p
}

package pgtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bouncer is a pgbouncer (the Debian package) in front of a Server, in
// transaction pooling, on a loopback port of its own: every transaction
// (every statement outside one) may run on a different server connection.
type Bouncer struct {
	port int
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	once sync.Once
}

// StartBouncer starts pgbouncer with at most poolSize server connections
// per database, and stops it when the test ends. A small pool makes
// clients share server connections, which is what breaks a driver that
// spreads one statement over several round trips.
func (s *Server) StartBouncer(t testing.TB, poolSize int) *Bouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/pgbouncer"); err2 == nil {
			bin = "/usr/sbin/pgbouncer"
		} else {
			t.Fatal("pgtest: pgbouncer not found: install it (apt-get install pgbouncer)")
		}
	}
	admin, err := url.Parse(s.admin)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	b := &Bouncer{dir: dir, done: make(chan struct{})}
	t.Cleanup(func() { b.Close(); os.RemoveAll(dir) })
	runAs := ""
	if os.Geteuid() == 0 { // pgbouncer refuses to run as root
		runAs = "postgres"
		u, err := user.Lookup(runAs)
		if err != nil {
			t.Fatalf("pgtest: running pgbouncer as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if b.port, err = freePort(); err != nil {
			t.Fatal(err)
		}
		pgUser := admin.User.Username()
		if pgUser == "" {
			pgUser = "postgres"
		}
		pw, _ := admin.User.Password()
		login := "user=" + pgUser
		if pw != "" {
			login += " password=" + pw
		}
		conf := strings.Join([]string{
			"[databases]",
			fmt.Sprintf("* = host=%s port=%s %s", admin.Hostname(), portOf(admin), login),
			"[pgbouncer]",
			"listen_addr = 127.0.0.1",
			fmt.Sprintf("listen_port = %d", b.port),
			"unix_socket_dir =",
			"auth_type = any",
			"pool_mode = transaction",
			fmt.Sprintf("default_pool_size = %d", poolSize),
			"min_pool_size = 0",
			"max_client_conn = 500",
			// lib/pq sends it at startup; pgbouncer would refuse the login.
			"ignore_startup_parameters = extra_float_digits",
			"server_reset_query =",
			"logfile = " + filepath.Join(dir, "pgbouncer.log"),
			"pidfile = " + filepath.Join(dir, "pgbouncer.pid"),
			"",
		}, "\n")
		ini := filepath.Join(dir, "pgbouncer.ini")
		if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if runAs != "" {
			b.cmd = exec.Command("runuser", "-u", runAs, "--", bin, ini)
		} else {
			b.cmd = exec.Command(bin, ini)
		}
		out, _ := os.Create(filepath.Join(dir, "stdout"))
		b.cmd.Stdout, b.cmd.Stderr = out, out
		if err := b.cmd.Start(); err != nil {
			t.Fatalf("pgtest: start pgbouncer: %v", err)
		}
		b.done = make(chan struct{})
		go func() { b.cmd.Wait(); out.Close(); close(b.done) }()
		if err := b.waitReady(10 * time.Second); err == nil {
			return b
		} else if !b.exited() {
			t.Fatalf("pgtest: pgbouncer: %v\n%s", err, b.logTail())
		}
		// Exited: perhaps the port was taken meanwhile; try another.
	}
	t.Fatalf("pgtest: pgbouncer did not start:\n%s", b.logTail())
	return nil
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}

func (b *Bouncer) exited() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

func (b *Bouncer) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", b.port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if b.exited() {
			return errors.New("pgbouncer exited")
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *Bouncer) logTail() string {
	var out []string
	for _, f := range []string{"stdout", "pgbouncer.log"} {
		if data, err := os.ReadFile(filepath.Join(b.dir, f)); err == nil {
			out = append(out, tail(string(data), 2000))
		}
	}
	return strings.Join(out, "\n")
}

// URL is dbURL (a database of the Server) reached through the bouncer.
func (b *Bouncer) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return dbURL
	}
	u.Host = fmt.Sprintf("127.0.0.1:%d", b.port)
	return u.String()
}

// Close stops pgbouncer.
func (b *Bouncer) Close() {
	b.once.Do(func() {
		if b.cmd == nil || b.cmd.Process == nil {
			return
		}
		// SIGTERM: immediate shutdown. Sent to pgbouncer itself (its pid
		// file), not to runuser, which might not pass it on.
		target := b.cmd.Process
		if data, err := os.ReadFile(filepath.Join(b.dir, "pgbouncer.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					target = p
				}
			}
		}
		_ = target.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			_ = target.Kill()
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
}

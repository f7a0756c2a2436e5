package pgtest

import (
	"context"
	"fmt"
	"io/fs"
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

	"github.com/oauth2-password/oauth2-password/tests/freeport"
)

// Formation is a pg_auto_failover formation (Debian packages
// postgresql-15-auto-failover and pg-auto-failover-cli): a monitor and two
// PostgreSQL nodes, each under its own `pg_autoctl run`, on loopback ports
// of their own. pg_autoctl refuses root, so as root it runs as the
// postgres user, like Server.
type Formation struct {
	dir   string
	runAs string
	bin   string // PostgreSQL's bin directory, first in PATH
	ports [3]int // monitor, node 1, node 2
	mu    sync.Mutex
	procs []*exec.Cmd
}

// StartFormation starts the monitor and two nodes and waits until one is
// primary and the other a streaming secondary. Everything is stopped and
// deleted when the test ends.
func StartFormation(t testing.TB) *Formation {
	t.Helper()
	if _, err := exec.LookPath("pg_autoctl"); err != nil {
		t.Fatal("pgtest: pg_autoctl not found: install pg-auto-failover-cli and postgresql-15-auto-failover")
	}
	bin, err := findBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "pgaf-")
	if err != nil {
		t.Fatal(err)
	}
	f := &Formation{dir: dir, bin: bin}
	t.Cleanup(f.close)
	if os.Geteuid() == 0 {
		u, err := userLookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a postgres user to run pg_autoctl: %v", err)
		}
		if err := os.Chown(dir, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
		f.runAs = "postgres"
	}
	// pg_autoctl makes its configuration, state and pid directories
	// (XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR + "/pg_autoctl" +
	// PGDATA) on first use, with a check-then-mkdir of each parent: the
	// node starting and the "show" polling it, run at the same time, race
	// and the loser exits with "File exists". They are all made here first,
	// inside the formation's directory.
	for _, base := range []string{"cfg", "data", "run"} {
		for _, name := range []string{"monitor", "n1", "n2"} {
			d := filepath.Join(dir, base, "pg_autoctl", f.pgdata(name))
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if f.runAs != "" {
			if err := chownTree(filepath.Join(dir, base), f.runAs); err != nil {
				t.Fatal(err)
			}
		}
	}
	// pg_autoctl binds these seconds later, after initdb: ports claimed
	// until the test ends (freeport), not merely free now.
	for i := range f.ports {
		port, release, err := freeport.Claim()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(release)
		f.ports[i] = port
	}
	f.start(t, "monitor", "create", "monitor", "--pgdata", f.pgdata("monitor"), "--pgport", strconv.Itoa(f.ports[0]),
		"--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--run")
	if err := f.waitFor(2*time.Minute, func(out string) bool { return strings.Contains(out, "| postgres://") }, "show", "uri", "--pgdata", f.pgdata("monitor")); err != nil {
		t.Fatalf("pgtest: the pg_auto_failover monitor did not start: %v", err)
	}
	monitor := fmt.Sprintf("postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable", f.ports[0])
	for i, name := range []string{"n1", "n2"} {
		f.start(t, name, "create", "postgres", "--pgdata", f.pgdata(name), "--pgport", strconv.Itoa(f.ports[i+1]),
			"--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--monitor", monitor, "--run")
		if i == 0 { // the first node registers as primary before the second
			if err := f.waitFor(2*time.Minute, func(out string) bool { return strings.Contains(out, "single |") || strings.Contains(out, "primary |") }, "show", "state", "--pgdata", f.pgdata("monitor")); err != nil {
				t.Fatalf("pgtest: the first pg_auto_failover node did not start: %v", err)
			}
		}
	}
	if err := f.waitFor(3*time.Minute, func(out string) bool {
		return strings.Contains(out, "secondary |           secondary") && strings.Contains(out, "primary |             primary")
	}, "show", "state", "--pgdata", f.pgdata("monitor")); err != nil {
		t.Fatalf("pgtest: the pg_auto_failover pair did not form: %v", err)
	}
	return f
}

func (f *Formation) pgdata(name string) string { return filepath.Join(f.dir, name) }

// URL is the formation's multi-host URL (what `pg_autoctl show uri
// --formation default` prints, with the postgres user and no TLS), in
// the comma form.
func (f *Formation) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?target_session_attrs=read-write&sslmode=disable", f.ports[1], f.ports[2])
}

// PerformFailover runs `pg_autoctl perform failover`, which returns once
// the secondary is the new primary; it returns how long that took.
func (f *Formation) PerformFailover() (time.Duration, error) {
	start := time.Now()
	out, err := f.autoctl(context.Background(), "perform", "failover", "--wait", "170", "--pgdata", f.pgdata("monitor"))
	if err != nil {
		return 0, fmt.Errorf("pg_autoctl perform failover: %v\n%s", err, tail(out, 2000))
	}
	return time.Since(start), nil
}

// command is pg_autoctl with args, as the postgres user when we are root,
// with its configuration and sockets inside the formation's directory.
func (f *Formation) command(ctx context.Context, args ...string) *exec.Cmd {
	env := []string{"HOME=" + f.dir, "XDG_CONFIG_HOME=" + filepath.Join(f.dir, "cfg"), "XDG_DATA_HOME=" + filepath.Join(f.dir, "data"),
		"XDG_RUNTIME_DIR=" + filepath.Join(f.dir, "run"),
		"PATH=" + f.bin + ":/usr/bin:/bin", "PG_REGRESS_SOCK_DIR=" + f.dir, "PGHOST=" + f.dir}
	all := append([]string{"-u", f.runAs, "--", "env"}, env...)
	all = append(all, append([]string{"pg_autoctl"}, args...)...)
	var cmd *exec.Cmd
	if f.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", all...)
	} else {
		cmd = exec.CommandContext(ctx, "env", append(env, append([]string{"pg_autoctl"}, args...)...)...)
	}
	cmd.Dir = f.dir
	return cmd
}

func (f *Formation) autoctl(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := f.command(ctx, args...).CombinedOutput()
	return string(out), err
}

// start runs a long-lived `pg_autoctl … --run` with its output in
// dir/name.log, in a process group of its own so that close can stop it
// and its children.
func (f *Formation) start(t testing.TB, name string, args ...string) {
	t.Helper()
	log, err := os.Create(filepath.Join(f.dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := f.command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("pgtest: pg_autoctl %s: %v", strings.Join(args, " "), err)
	}
	f.mu.Lock()
	f.procs = append(f.procs, cmd)
	f.mu.Unlock()
}

// waitFor runs pg_autoctl args every 500 ms until ok accepts its output.
func (f *Formation) waitFor(d time.Duration, ok func(string) bool, args ...string) error {
	deadline := time.Now().Add(d)
	var out string
	for {
		out, _ = f.autoctl(context.Background(), args...)
		if ok(out) {
			return nil
		}
		if time.Now().After(deadline) {
			logs := ""
			for _, n := range []string{"monitor", "n1", "n2"} {
				b, _ := os.ReadFile(filepath.Join(f.dir, n+".log"))
				logs += "\n" + n + ".log:\n" + tail(string(b), 1500)
			}
			return fmt.Errorf("not within %v; last output:\n%s%s", d, out, logs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// close stops the nodes and the monitor (SIGTERM to each pg_autoctl
// process group: pg_autoctl stops its PostgreSQL with it), then deletes
// the files.
func (f *Formation) close() {
	f.mu.Lock()
	procs := f.procs
	f.procs = nil
	f.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- { // nodes first, the monitor last
		p := procs[i]
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	os.RemoveAll(f.dir)
}

// chownTree gives every file under root to user.
func chownTree(root, user string) error {
	u, err := userLookup(user)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, u.uid, u.gid)
	})
}

type ids struct{ uid, gid int }

func userLookup(name string) (ids, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return ids{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return ids{uid, gid}, nil
}

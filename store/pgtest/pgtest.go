// Package pgtest gives tests a PostgreSQL server: the one named by
// OAUTH2_PASSWORD_TEST_DATABASE_URL, or else a throwaway server started from
// the installed PostgreSQL binaries, private to the test binary (its own
// temporary directory, unix socket and free TCP port, so several test
// packages can run at once).
//
// Typical use:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { pgtest.Main(m, &pg) }
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq" // "postgres" driver

	"github.com/oauth2-password/oauth2-password/tests/freeport"
)

// EnvURL names the environment variable with the URL of an existing server
// to use instead of starting one. The role must be allowed to CREATE
// DATABASE: each Server works in databases of its own, dropped at the end.
const EnvURL = "OAUTH2_PASSWORD_TEST_DATABASE_URL"

// ErrNotFound is returned by New when there is neither EnvURL nor a
// PostgreSQL installation.
var ErrNotFound = errors.New("PostgreSQL not found: install it (apt-get install postgresql) or set " + EnvURL)

// Server is a PostgreSQL server for tests.
type Server struct {
	admin string // URL of the maintenance database
	url   string // URL of the database created for the caller by New

	// Throwaway server only (bin == "" for an external one).
	bin   string // directory of initdb and pg_ctl
	dir   string // temporary directory: data/, log, unix socket
	port  int
	runAs string // "postgres" when we are root (PostgreSQL refuses root)
	// durable: start with fsync and full_page_writes on (SetDurable).
	durable bool
	// settings are extra -c NAME=VALUE of this server (replicas).
	settings []string
	mu       sync.Mutex
	closed   bool
}

// Main runs the tests of m with a Server in *srv and exits. If no server
// can be had it prints one line and exits with status 1: a database test
// never skips.
func Main(m *testing.M, srv **Server) {
	s, err := New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*srv = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// New returns a Server with one fresh database (URL). Close it when done.
func New() (*Server, error) {
	if env := os.Getenv(EnvURL); env != "" {
		s := &Server{admin: env}
		name, err := s.createDatabase(context.Background())
		if err != nil {
			return nil, err
		}
		s.url = s.dbURL(name)
		return s, nil
	}
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if err := s.initdb(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startFreshPort(); err != nil {
		s.Close()
		return nil, err
	}
	name, err := s.createDatabase(context.Background())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.url = s.dbURL(name)
	return s, nil
}

// URL is the URL of the database New created for the caller.
func (s *Server) URL() string { return s.url }

// AdminURL is the URL of the server's maintenance database.
func (s *Server) AdminURL() string { return s.admin }

// NewDatabase creates an empty database for one test and drops it when the
// test ends; it returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name, err := s.createDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.dropDatabase(context.Background(), name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s.dbURL(name)
}

// Stop stops the throwaway server at once (like a crash: pg_ctl stop -m
// immediate), keeping its data; Start brings it back on the same port.
func (s *Server) Stop() error {
	if s.bin == "" {
		return errors.New("pgtest: cannot stop a server given by " + EnvURL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pgctl("stop", "-m", "immediate", "-w", "-t", "60")
}

// Start starts the throwaway server again after Stop.
func (s *Server) Start() error {
	if s.bin == "" {
		return errors.New("pgtest: cannot start a server given by " + EnvURL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start()
}

// SetDurable chooses, for the next Start, between the test default (fsync
// and full_page_writes off) and PostgreSQL's durable default (both on),
// e.g. for a benchmark of commit costs: Stop, SetDurable(true), Start.
func (s *Server) SetDurable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durable = on
}

// Close stops the throwaway server and deletes its files, or drops the
// database created in an external server.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.bin == "" {
		if s.url != "" {
			u, _ := url.Parse(s.url)
			_ = s.dropDatabase(context.Background(), strings.TrimPrefix(u.Path, "/"))
		}
		return
	}
	if s.port != 0 {
		_ = s.pgctl("stop", "-m", "immediate", "-w", "-t", "60")
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// findBin finds the directory of pg_ctl: the newest
// /usr/lib/postgresql/*/bin, else $PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[i])), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dirs[j])), 64)
		return vi > vj
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNotFound
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// initdb creates the cluster in a new temporary directory.
func (s *Server) initdb() error {
	// The unix socket path (dir/.s.PGSQL.NNNNN) must stay under ~100 bytes.
	base := os.TempDir()
	if len(base) > 60 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgtest: running as root needs a postgres user to run PostgreSQL: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		s.runAs = "postgres"
	}
	return s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// startFreshPort starts the server on a free port, retrying with another
// port if a concurrent process took the one picked.
func (s *Server) startFreshPort() error {
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			return err
		}
		if err = s.start(); err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	s.port = 0
	return err
}

// freePort is a port for a server started here (PostgreSQL, pgbouncer).
// It stays claimed until the test process exits, so that a server stopped
// and started again (Stop, Start) finds its port free, and no other test
// process is handed it meanwhile (freeport says why a port bound to 0 and
// closed again is not enough).
func freePort() (int, error) {
	port, _, err := freeport.Claim()
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	return port, nil
}

// start runs pg_ctl start and waits until the server accepts connections.
// Durability is traded for speed (fsync off): committed data is in the OS
// page cache, so it survives Stop (a server crash) but not an OS crash,
// which is all a test needs. synchronous_commit stays on: with it off, Stop
// would lose the last commits, and a restart test would see them vanish.
func (s *Server) start() error {
	sync := "off"
	if s.durable {
		sync = "on"
	}
	opts := strings.Join([]string{
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=" + sync,
		"-c", "full_page_writes=" + sync,
		"-c", "max_connections=300",
	}, " ")
	for _, kv := range s.settings {
		opts += " -c " + kv
	}
	if err := s.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(s.dir, "log"), "-o", opts); err != nil {
		return err
	}
	s.admin = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	// pg_ctl -w waits on the pid file; also wait until a query works.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: server did not become ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) ping() error {
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func (s *Server) pgctl(args ...string) error {
	return s.run("pg_ctl", append([]string{"-D", s.data()}, args...)...)
}

// run runs one PostgreSQL program (as the postgres user when we are root),
// with its output in a file rather than a pipe: pg_ctl's server child
// would otherwise hold the pipe open.
func (s *Server) run(prog string, args ...string) error {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if s.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	out, err := os.CreateTemp("", "pgtest-out-")
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = s.dir
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		msg := strings.TrimSpace(string(b))
		if log, _ := os.ReadFile(filepath.Join(s.dir, "log")); len(log) > 0 {
			msg += "\nserver log:\n" + tail(string(log), 2000)
		}
		return fmt.Errorf("pgtest: %s %s: %v\n%s", prog, strings.Join(args, " "), err, msg)
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// createDatabase creates an empty database with a random name.
func (s *Server) createDatabase(ctx context.Context) (string, error) {
	b := make([]byte, 8)
	rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer db.Close()
	// FILE_COPY (PostgreSQL 15+) copies the small template's files instead
	// of writing them all to the WAL: several times faster, which matters
	// for a database per test.
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name+` STRATEGY = FILE_COPY`); err != nil {
		if _, err2 := db.ExecContext(ctx, `CREATE DATABASE `+name); err2 != nil {
			return "", fmt.Errorf("pgtest: create database: %w", err2)
		}
	}
	return name, nil
}

func (s *Server) dropDatabase(ctx context.Context, name string) error {
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return err
	}
	defer db.Close()
	// WITH (FORCE) (PostgreSQL 13+) ends sessions a test left open.
	if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		if _, err2 := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err2 != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
	}
	return nil
}

// dbURL is the admin URL pointing at database name.
func (s *Server) dbURL(name string) string {
	u, err := url.Parse(s.admin)
	if err != nil {
		return s.admin
	}
	u.Path = "/" + name
	return u.String()
}

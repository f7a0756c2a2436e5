package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StandbyOptions configure StartStandby.
type StandbyOptions struct {
	// Synchronous makes the primary wait, at every commit, until the
	// standby has the commit's WAL (synchronous_standby_names): a
	// promoted synchronous standby has every acknowledged commit.
	Synchronous bool
	// ApplyDelay is recovery_min_apply_delay: the standby applies each
	// commit this long after the primary made it (a lagging replica).
	ApplyDelay time.Duration
}

// StartStandby starts a streaming-replication standby of the throwaway
// server s: pg_basebackup with -R (standby.signal and primary_conninfo),
// on a port of its own, a hot standby that answers reads. It is stopped
// and deleted when the test ends. The standby's URL() names the same
// database as s.URL().
func (s *Server) StartStandby(t testing.TB, o StandbyOptions) *Server {
	t.Helper()
	if s.bin == "" {
		t.Fatal("pgtest: a standby needs a throwaway primary, not one given by " + EnvURL)
	}
	st, err := s.standby(o)
	if st != nil {
		t.Cleanup(st.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (s *Server) standby(o StandbyOptions) (*Server, error) {
	// The primary's pg_hba.conf from initdb -A trust already admits
	// replication connections from 127.0.0.1; wal_level is replica.
	st := &Server{bin: s.bin, runAs: s.runAs}
	base := os.TempDir()
	if len(base) > 60 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgtest-standby-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	st.dir = dir
	if st.runAs != "" {
		u, err := user.Lookup(st.runAs)
		if err != nil {
			return st, fmt.Errorf("pgtest: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return st, fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := st.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres",
		"-D", st.data(), "-R", "-X", "stream", "-c", "fast", "--no-sync"); err != nil {
		return st, err
	}
	if o.ApplyDelay > 0 {
		st.settings = append(st.settings, fmt.Sprintf("recovery_min_apply_delay=%dms", o.ApplyDelay.Milliseconds()))
	}
	// A standby's sessions are read-only; each server of the pair logs
	// to its own file in its own directory.
	if err := st.startFreshPort(); err != nil {
		return st, err
	}
	st.url = st.dbURL(strings.TrimPrefix(mustPath(s.url), "/"))
	if o.Synchronous {
		// Set after the base backup, so that the standby does not copy
		// it: promoted, it has no standby of its own to wait for.
		if err := s.Exec(`ALTER SYSTEM SET synchronous_standby_names = '*'`, `SELECT pg_reload_conf()`); err != nil {
			return st, err
		}
		// Wait until the primary counts it as synchronous: before that,
		// commits are acknowledged without it.
		if err := s.waitSync(); err != nil {
			return st, err
		}
	}
	return st, nil
}

func mustPath(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Path
}

// waitSync waits until a standby streams from s in sync state.
func (s *Server) waitSync() error {
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' AND state = 'streaming'`).Scan(&n)
		if err == nil && n > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: the standby did not become synchronous within 30s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exec runs statements on the maintenance database.
func (s *Server) Exec(stmts ...string) error {
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("pgtest: %s: %w", q, err)
		}
	}
	return nil
}

// Promote turns the standby s into a primary (pg_ctl promote) and waits
// until it accepts writes; it returns how long that took.
func (s *Server) Promote() (time.Duration, error) {
	if s.bin == "" {
		return 0, errors.New("pgtest: cannot promote a server given by " + EnvURL)
	}
	start := time.Now()
	s.mu.Lock()
	err := s.pgctl("promote", "-w", "-t", "60")
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("postgres", s.admin)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	for {
		var standby bool
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.QueryRowContext(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby)
		cancel()
		if err == nil && !standby {
			return time.Since(start), nil
		}
		if time.Since(start) > 60*time.Second {
			return 0, fmt.Errorf("pgtest: still in recovery 60s after pg_ctl promote (%v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Port is the server's TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// Dir is the server's directory (its log is Dir()/log).
func (s *Server) Dir() string { return filepath.Clean(s.dir) }

// MultiHostURL is the URL of database (a URL of one of the servers) on
// every server in servers, in the comma form users write, tried in order
// for a primary: target_session_attrs=read-write.
func MultiHostURL(database string, servers ...*Server) string {
	u, err := url.Parse(database)
	if err != nil {
		return database
	}
	hosts := make([]string, len(servers))
	for i, s := range servers {
		hosts[i] = "127.0.0.1:" + strconv.Itoa(s.port)
	}
	q := u.Query()
	q.Set("target_session_attrs", "read-write")
	return fmt.Sprintf("%s://%s@%s%s?%s", u.Scheme, u.User.String(), strings.Join(hosts, ","), u.Path, q.Encode())
}

package store

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is where the embedded SQLite store lives when no database URL
// is given: Kong's default prefix.
const DefaultPath = "/usr/local/kong/oauth2-password.db"

// DefaultPathFor is the SQLite file inside a Kong prefix.
func DefaultPathFor(kongPrefix string) string {
	return strings.TrimRight(kongPrefix, "/") + "/oauth2-password.db"
}

// Open opens and migrates the store named by databaseURL:
//
//	postgres://… or postgresql://…   PostgreSQL
//	sqlite:PATH, sqlite://PATH, file:PATH   SQLite file at PATH
//	""                                 SQLite file at DefaultPath
func Open(ctx context.Context, databaseURL string) (Store, error) {
	if err := CheckURL(databaseURL); err != nil {
		return nil, err
	}
	var s Store
	if IsPostgresURL(databaseURL) {
		p, err := OpenPostgres(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		s = p
	} else {
		path, _ := SQLitePath(databaseURL)
		// SQLite creates the file but not its directory, and then says
		// only "unable to open database file (14)".
		if dir := filepath.Dir(path); !isDir(dir) {
			return nil, fmt.Errorf("store: embedded store %s: directory %s does not exist (create it, or name another file with -database-url sqlite:PATH)", path, dir)
		}
		l, err := OpenSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		s = l
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// CheckURL reports whether Open knows the scheme of databaseURL, without
// opening anything: a mistake in the URL is a usage error at start, not a
// store that keeps failing to open. The error never shows a password.
func CheckURL(databaseURL string) error {
	if IsPostgresURL(databaseURL) {
		_, err := NormalizePostgresURL(databaseURL)
		return err
	}
	if _, ok := SQLitePath(databaseURL); !ok {
		return fmt.Errorf("store: unsupported database URL %s: want postgres://…, postgresql://…, sqlite:PATH or file:PATH", redactURL(databaseURL))
	}
	return nil
}

// IsPostgresURL reports whether u names a PostgreSQL database.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// SQLitePath is the file an embedded-store URL names (DefaultPath for "");
// ok is false for any other URL.
func SQLitePath(u string) (path string, ok bool) {
	if u == "" {
		return DefaultPath, true
	}
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if p, ok := strings.CutPrefix(u, prefix); ok {
			return p, p != ""
		}
	}
	return "", false
}

// urlPassword is the password a URL carries, in its user part or its
// query; "" if none.
func urlPassword(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	if p, ok := parsed.User.Password(); ok && p != "" {
		return p
	}
	return parsed.Query().Get("password")
}

// redactURL returns u fit for an error message: the password of a URL is
// replaced by "xxxxx"; a string that does not parse as a URL is reduced to
// its scheme, since it may hold a password in some other form.
func redactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" {
		scheme, _, ok := strings.Cut(u, ":")
		if !ok || strings.ContainsAny(scheme, "/@ ") {
			return "(unparsable URL)"
		}
		return fmt.Sprintf("%q (unparsable URL)", scheme+":…")
	}
	if parsed.Opaque != "" {
		// scheme:opaque has no user part to redact: show the scheme only.
		return fmt.Sprintf("%q", parsed.Scheme+":…")
	}
	if _, has := parsed.User.Password(); has {
		parsed.User = url.UserPassword(parsed.User.Username(), "xxxxx")
	}
	// A password can also ride in the query (?password=…).
	if q := parsed.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		parsed.RawQuery = q.Encode()
	}
	// url.Parse lower-cases the scheme; the message shows it as written,
	// since a wrong spelling may be the mistake it reports.
	out := parsed.String()
	if n := len(parsed.Scheme); len(u) >= n && strings.EqualFold(u[:n], out[:n]) {
		out = u[:n] + out[n:]
	}
	return fmt.Sprintf("%q", out)
}

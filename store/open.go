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
	for pair := range strings.SplitSeq(parsed.RawQuery, "&") {
		if _, _, v, ok := passwordIn(pair); ok && v != "" {
			if un, err := url.QueryUnescape(v); err == nil {
				return un
			}
			return v
		}
	}
	return ""
}

// passwordIn finds a password in pair, one '&'-separated part of a raw
// query: before is what precedes its key (parts split off by ';'), key
// its key, value the rest of pair. url.ParseQuery drops a pair it cannot
// decode (a bad escape, a ';'), and with it a password the URL still
// shows; the value runs to the next '&', a ';' in it included.
func passwordIn(pair string) (before, key, value string, ok bool) {
	off := 0
	for seg := range strings.SplitSeq(pair, ";") {
		k, _, _ := strings.Cut(seg, "=")
		if isPasswordKey(k) {
			_, value, _ = strings.Cut(pair[off:], "=")
			return pair[:off], k, value, true
		}
		off += len(seg) + 1
	}
	return "", "", "", false
}

// isPasswordKey reports whether a raw query key names a password
// (password, sslpassword, in any case or escaping).
func isPasswordKey(k string) bool {
	if un, err := url.QueryUnescape(k); err == nil {
		k = un
	}
	return strings.Contains(strings.ToLower(k), "password")
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
	if parsed.Opaque != "" || parsed.User == nil && strings.Contains(parsed.Path, "@") {
		// scheme:opaque has no user part to redact, and a user part in
		// the path (postgres:/u:p@h/db, postgres:///u:p@h/db: a slash
		// missing or one too many) is no user part to url.Parse: show
		// the scheme only.
		return fmt.Sprintf("%q", parsed.Scheme+":…")
	}
	if _, has := parsed.User.Password(); has {
		parsed.User = url.UserPassword(parsed.User.Username(), "xxxxx")
	}
	// A password can also ride in the query (?password=…), in pairs
	// url.ParseQuery would drop.
	if parsed.RawQuery != "" {
		pairs := strings.Split(parsed.RawQuery, "&")
		for i, pair := range pairs {
			if before, k, _, ok := passwordIn(pair); ok {
				pairs[i] = before + k + "=xxxxx"
			}
		}
		parsed.RawQuery = strings.Join(pairs, "&")
	}
	parsed.Fragment, parsed.RawFragment = "", "" // nothing lib/pq reads; it may be a password's tail
	// url.Parse lower-cases the scheme; the message shows it as written,
	// since a wrong spelling may be the mistake it reports.
	out := parsed.String()
	if n := len(parsed.Scheme); len(u) >= n && strings.EqualFold(u[:n], out[:n]) {
		out = u[:n] + out[n:]
	}
	return fmt.Sprintf("%q", out)
}

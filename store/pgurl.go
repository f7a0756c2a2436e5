package store

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// NormalizePostgresURL rewrites the multi-host URL that libpq, psql and
// every failover manager's documentation write (postgres://u@a:5432,b:5433/db)
// into the form lib/pq parses: the hosts and ports in the query
// (postgres://u@/db?host=a,b&port=5432,5433). lib/pq takes the first form
// as hosts named "a:5432" and "b:5433" on the default port, which fails
// only when connecting, with a DNS error. Any other URL is returned
// unchanged. A host list it cannot rewrite safely is an error whose text
// shows the working form; the error never shows a password.
func NormalizePostgresURL(u string) (string, error) {
	return normalizePostgresURL(u, true)
}

// normalizePostgresURL is NormalizePostgresURL; writer adds
// target_session_attrs=read-write to a host list that names none (the
// store's own URL), a read-replica URL keeps lib/pq's default.
func normalizePostgresURL(u string, writer bool) (string, error) {
	if !IsPostgresURL(u) {
		return u, nil
	}
	// url.Parse refuses most host lists (it reads everything after the
	// last colon as the port), so the authority is cut out by hand.
	scheme, rest, _ := strings.Cut(u, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	at := strings.LastIndex(authority, "@")
	userinfo, hostlist := authority[:at+1], authority[at+1:]
	if !strings.Contains(hostlist, ",") {
		if !writer {
			return u, nil
		}
		return writerDefault(u), nil
	}
	parsed, err := url.Parse(scheme + "://" + userinfo + tail)
	if err != nil {
		return "", fmt.Errorf("store: invalid PostgreSQL URL %s; the working form is %s", redactURL(scheme+"://"+userinfo+tail), workingForm(scheme, "/DATABASE"))
	}
	form := workingForm(scheme, parsed.EscapedPath())
	q := parsed.Query()
	if q.Has("host") || q.Has("port") || q.Has("hostaddr") {
		return "", fmt.Errorf("store: PostgreSQL URL %s names hosts both before the path and in host=/port=: give them once, e.g. %s", redactURL(parsed.String()), form)
	}
	var hosts, ports []string
	for hp := range strings.SplitSeq(hostlist, ",") {
		host, port, err := splitHostPort(hp)
		if err != nil {
			return "", fmt.Errorf("store: PostgreSQL URL %s: host %q: %v; the working form is %s", redactURL(parsed.String()), hp, err, form)
		}
		hosts, ports = append(hosts, host), append(ports, port)
	}
	q.Set("host", strings.Join(hosts, ","))
	q.Set("port", strings.Join(ports, ","))
	parsed.RawQuery = q.Encode()
	if !writer {
		return parsed.String(), nil
	}
	return writerDefault(parsed.String()), nil
}

// writerDefault adds target_session_attrs=read-write to a URL with several
// hosts that does not say which it wants. lib/pq's default, "any", takes
// the first host that answers, which after a failover may be the old
// primary come back as a standby: every write would then fail with
// SQLSTATE 25006, and the migrations and the purge with it. The store
// writes, so it wants the primary; a URL that names another
// target_session_attrs keeps it.
func writerDefault(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := parsed.Query()
	if !strings.Contains(q.Get("host"), ",") || q.Has("target_session_attrs") {
		return u
	}
	q.Set("target_session_attrs", "read-write")
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// splitHostPort splits one entry of a host list: "a", "a:5433", "[::1]",
// "[::1]:5433". A missing port is PostgreSQL's default, 5432, as libpq
// takes it.
func splitHostPort(hp string) (host, port string, err error) {
	if hp == "" {
		return "", "", fmt.Errorf("empty host")
	}
	if !strings.Contains(hp, ":") || (strings.HasPrefix(hp, "[") && strings.HasSuffix(hp, "]")) {
		return strings.Trim(hp, "[]"), "5432", nil
	}
	host, port, err = net.SplitHostPort(hp)
	if err != nil {
		return "", "", err
	}
	if host == "" || port == "" {
		return "", "", fmt.Errorf("want HOST or HOST:PORT")
	}
	for _, r := range port {
		if r < '0' || r > '9' {
			return "", "", fmt.Errorf("port %q is not a number", port)
		}
	}
	return host, port, nil
}

// workingForm is the query form of a host list with placeholders, for an
// error message: no user, no password.
func workingForm(scheme, path string) string {
	if path == "" {
		path = "/DATABASE"
	}
	return fmt.Sprintf("%s://USER:PASSWORD@%s?host=HOST1,HOST2&port=PORT1,PORT2&target_session_attrs=read-write", scheme, path)
}

package e2e

import (
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestKongModeFlagErrors: a start_cmd with a mistake fails at once with
// exit status 2 and one line naming the flag, instead of a plugin that
// starts but silently misbehaves (e.g. a cache that never caches).
func TestKongModeFlagErrors(t *testing.T) {
	t.Parallel()
	prefix := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-cache-sync-interval", "2m"}, "-cache-sync-interval"},
		{[]string{"-cache-sync-interval", "0s"}, "-cache-sync-interval"},
		{[]string{"-cache-max-ttl", "1h"}, "-cache-max-ttl"},
		{[]string{"-cache-max-entries", "0"}, "-cache-max-entries"},
		{[]string{"-store-timeout", "0s"}, "-store-timeout"},
		{[]string{"-purge-batch", "0"}, "-purge-batch"},
		{[]string{"-max-body-bytes", "0"}, "-max-body-bytes"},
		{[]string{"-throttle-window", "0s"}, "-throttle-window"},
		{[]string{"-throttle-failures", "-1"}, "-throttle-failures"},
		{[]string{"-login-failure-floor", "-1s"}, "-login-failure-floor"},
		{[]string{"-login-user-throttle-window", "0s"}, "-login-user-throttle-window"},
		{[]string{"-authenticate-ca-file", "/nonexistent/ca.pem"}, "authenticate CA file"},
		{[]string{"-database-url", "a", "-database-url-file", "b"}, "mutually exclusive"},
		{[]string{"-database-url", "mysql://u:hunter2@db/x"}, "unsupported database URL"},
		{[]string{"-database-url-file", "/nonexistent/db-url"}, "database URL file"},
		{[]string{"-database-url", "sqlite:/tmp/x.db", "-listen-database-url", "postgres://db/x"}, "-listen-database-url"},
		{[]string{"-database-url", "postgres://db/x", "-listen-database-url", "sqlite:/tmp/x.db"}, "-listen-database-url"},
		{[]string{"-metrics", "127.0.0.1:99999"}, "-metrics"},
		{[]string{"-metrics", "127.0.0.1"}, "-metrics"},
		{[]string{"migrate"}, "admin commands come first"},
		{[]string{"-kong-prefix", "/tmp/" + strings.Repeat("p", 100)}, "shorter -kong-prefix"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"-kong-prefix", prefix}, tc.args...)
			out, errOut, code := harness.RunCLI(t, "", args...)
			msg := string(errOut)
			if code != 2 || !strings.Contains(msg, tc.want) || strings.Count(msg, "\n") != 1 || len(out) != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and one line naming %q", code, out, msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("stderr echoes the database password: %q", msg)
			}
		})
	}
}

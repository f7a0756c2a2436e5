package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResolveDatabaseURL: flags beat the environment, the file gives its
// first line, and mistakes are errors rather than a silent default store.
func TestResolveDatabaseURL(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "postgres://u:p@db/x\nignored second line\n")
	empty := write("empty", "")
	blank := write("blank", "  \nsecond")

	tests := []struct {
		name    string
		flags   dbFlags
		env     string
		want    string
		wantErr string
	}{
		{"nothing: embedded default", dbFlags{}, "", "", ""},
		{"environment fallback", dbFlags{}, "postgres://env/db", "postgres://env/db", ""},
		{"flag beats environment", dbFlags{url: "sqlite:/tmp/a.db"}, "postgres://env/db", "sqlite:/tmp/a.db", ""},
		{"file beats environment", dbFlags{file: good}, "postgres://env/db", "postgres://u:p@db/x", ""},
		{"both flags", dbFlags{url: "x", file: good}, "", "", "mutually exclusive"},
		{"missing file", dbFlags{file: filepath.Join(dir, "nope")}, "", "", "no such file"},
		{"empty file", dbFlags{file: empty}, "", "", "is empty"},
		{"blank first line", dbFlags{file: blank}, "", "", "first line is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envDatabaseURL, tc.env)
			got, err := tc.flags.resolve()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolve() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("resolve() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestCLIUsageErrors: every malformed command line is exit status 2 with one
// line on stderr, before any store is opened.
func TestCLIUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"clients"}, "needs a subcommand"},
		{[]string{"clients", "frob"}, `unknown command "clients frob"`},
		{[]string{"clients", "create", "--name", "web"}, "--consumer is required"},
		{[]string{"clients", "create", "--consumer", "bob"}, "--name is required"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--public", "--client-secret", "0123456789012345678901"}, "cannot be used with --public"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--client-secret", ""}, "1 to 255 printable characters"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--client-secret", strings.Repeat("x", 256)}, "1 to 255 printable characters"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--client-secret", "tab\tin it"}, "1 to 255 printable characters"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--client-id", "a b"}, "without spaces"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--redirect-uri", "nohost"}, "cannot parse"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--redirect-uri", "https://x/#f"}, "fragment not allowed"},
		{[]string{"clients", "create", "--bogus"}, "flag provided but not defined"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w", "--client-id", "a\xffb"}, "--client-id must be printable"},
		{[]string{"clients", "create", "--consumer", "evil\r\nX-Consumer-ID: admin", "--name", "w"}, "--consumer must be printable"},
		{[]string{"clients", "create", "--consumer", "bob", "--name", "w\x00"}, "--name must be printable"},
		{[]string{"clients", "delete"}, "usage: clients delete CLIENT_ID"},
		{[]string{"clients", "list", "extra"}, "takes no arguments"},
		{[]string{"tokens", "revoke"}, "exactly one of"},
		{[]string{"tokens", "revoke", "--client", "a", "--user", "b"}, "exactly one of"},
		{[]string{"migrate", "now"}, "takes no arguments"},
		{[]string{"migrate", "-database-url", "a", "-database-url-file", "b"}, "mutually exclusive"},
		// A store URL no store takes is a usage error, as in serve and Kong
		// mode, and the password stays hidden.
		{[]string{"clients", "list", "-database-url", "mysql://u:hunter2@h/d"}, `unsupported database URL "mysql://u:xxxxx@h/d"`},
		{[]string{"migrate", "-database-url", "sqlite:"}, "unsupported database URL"},
		{[]string{"import-kong", "--kong-database-url", "Postgres://kong:hunter2@h/kong", "--dry-run"}, "wants a postgres:// or postgresql:// URL"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut strings.Builder
			code := runCLI(tc.args, strings.NewReader(""), &out, &errOut)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			msg := errOut.String()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q, want it to contain %q", msg, tc.want)
			}
			// One line says what is wrong; the help of what was being
			// typed may follow it.
			first, help, _ := strings.Cut(strings.TrimSuffix(msg, "\n"), "\n")
			if !strings.HasPrefix(first, "oauth2-password: ") || (help != "" && !strings.HasPrefix(help, "usage: oauth2-password ")) {
				t.Errorf("stderr is not one line, then maybe the usage: %q", msg)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("stderr shows the password: %q", msg)
			}
		})
	}
}

// TestCLIStoreErrorIsExit1: a store that cannot be opened is an ordinary
// failure (status 1), and the password of its URL is not echoed.
func TestCLIStoreErrorIsExit1(t *testing.T) {
	var out, errOut strings.Builder
	code := runCLI([]string{"clients", "list", "-database-url", "postgres://u:hunter2secret@127.0.0.1:1/db?connect_timeout=1"}, strings.NewReader(""), &out, &errOut)
	if code != exitFail {
		t.Fatalf("exit status %d, want %d (stderr %q)", code, exitFail, errOut.String())
	}
	if strings.Contains(errOut.String(), "hunter2secret") {
		t.Errorf("stderr echoes the database password: %q", errOut.String())
	}
	if strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr is not one line: %q", errOut.String())
	}
}

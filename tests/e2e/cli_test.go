package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// randomID is what generated client ids and secrets look like: 32
// characters of [A-Za-z0-9], about 190 bits.
var randomID = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// TestCLIClients: `clients create` prints exactly the contract's object,
// and another process lists the same client, without its secret.
func TestCLIClients(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			tests := []struct {
				name, consumer string
				extra          []string
				want           []string // keys, in any order
				typ            string
			}{
				{"confidential", "bob", nil, []string{"client_id", "client_secret", "consumer", "name", "client_type"}, "confidential"},
				{"public", "bob", []string{"--public"}, []string{"client_id", "consumer", "name", "client_type"}, "public"},
			}
			made := map[string]string{}
			for _, tt := range tests {
				out := harness.CLI(t, db, append([]string{"clients", "create", "--consumer", tt.consumer, "--name", tt.name}, tt.extra...)...)
				if bytes.Count(bytes.TrimSpace(out), []byte("\n")) != 0 {
					t.Errorf("%s: more than one line: %q", tt.name, out)
				}
				var m map[string]any
				if err := json.Unmarshal(out, &m); err != nil {
					t.Fatalf("%s: %q is not one JSON object", tt.name, out)
				}
				if len(m) != len(tt.want) {
					t.Errorf("%s: keys %v, want %v", tt.name, keys(m), tt.want)
				}
				for _, k := range tt.want {
					if _, ok := m[k].(string); !ok {
						t.Errorf("%s: key %q missing or not a string in %s", tt.name, k, out)
					}
				}
				id, _ := m["client_id"].(string)
				if !randomID.MatchString(id) {
					t.Errorf("%s: client_id %q is not 32 random [A-Za-z0-9]", tt.name, id)
				}
				if s, ok := m["client_secret"].(string); ok && (!randomID.MatchString(s) || s == id) {
					t.Errorf("%s: client_secret is not 32 random [A-Za-z0-9]", tt.name)
				}
				if m["consumer"] != tt.consumer || m["name"] != tt.name || m["client_type"] != tt.typ {
					t.Errorf("%s: printed %s", tt.name, out)
				}
				made[id] = tt.typ
			}

			out := harness.CLI(t, db, "clients", "list", "--consumer", "bob")
			var list []map[string]any
			if err := json.Unmarshal(out, &list); err != nil {
				t.Fatalf("clients list printed %q", out)
			}
			if len(list) != len(made) {
				t.Fatalf("clients list: %d clients, want %d: %s", len(list), len(made), out)
			}
			for _, c := range list {
				id, _ := c["client_id"].(string)
				if made[id] == "" || c["client_type"] != made[id] || c["consumer"] != "bob" {
					t.Errorf("listed %v, not one of the created clients", c)
				}
				if _, ok := c["client_secret"]; ok {
					t.Errorf("clients list shows a secret for %s", id)
				}
			}
			if out := harness.CLI(t, db, "clients", "list", "--consumer", "nobody"); strings.TrimSpace(string(out)) != "[]" {
				t.Errorf("clients of an unknown consumer: %q, want []", out)
			}
		})
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestCLIUsageErrors: a mistake on the command line exits 2 with one line
// on stderr and nothing on stdout.
func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	for _, args := range [][]string{
		{"clients", "create", "--name", "web"},
		{"clients", "create", "--consumer", "bob"},
		{"clients", "create", "--consumer", "bob", "--name", "w", "--public", "--client-secret", "0123456789abcdefghijklmnop"},
		{"clients", "create", "--consumer", "bob", "--name", "w", "--no-such-flag"},
		{"clients", "frobnicate"},
		{"clients"},
		{"clients", "delete"},
		{"tokens", "revoke"},
		{"tokens", "revoke", "--client", "a", "--user", "b"},
		// An empty URL is a mistake (an unset shell variable), not the default store.
		{"migrate", "-database-url", ""},
		{"clients", "list", "-database-url-file", ""},
		{"tokens", "revoke", "--user", "u", "-database-url="},
	} {
		stdout, stderr, code := harness.RunCLI(t, db, args...)
		// One line says what is wrong; the help of the command may follow.
		msg, help, _ := strings.Cut(strings.TrimRight(string(stderr), "\n"), "\n")
		if code != 2 || len(stdout) != 0 || !strings.HasPrefix(msg, "oauth2-password: ") || (help != "" && !strings.HasPrefix(help, "usage: ")) {
			t.Errorf("oauth2-password %s: exit %d, stdout %q, stderr %q; want 2, nothing, one line (and the usage)",
				strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// TestCLIRevocation: tokens revoked or deleted with the CLI, from another
// process, are refused by the running plugin within its cache-sync
// interval, and only those tokens.
func TestCLIRevocation(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db, "-cache-sync-interval", syncInterval.String())
			e.consumer(konghost.Consumer{Username: "bob"})
			const pk = "pk-rev-0123456789"
			e.service(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": pk}})
			// The bound the plugin documents, plus time for a loaded CI machine.
			limit := syncInterval + 2*time.Second
			const url = "https://api.test/r"

			tests := []struct {
				name    string
				args    func(victims []harness.TokenResponse, c harness.Client, user string) ([]string, string) // args, stdin
				victims int                                                                                     // tokens of client c and user
				want    int
			}{
				{"access token", func(v []harness.TokenResponse, _ harness.Client, _ string) ([]string, string) {
					return []string{"--access-token", v[0].AccessToken}, ""
				}, 1, 1},
				{"access token from stdin", func(v []harness.TokenResponse, _ harness.Client, _ string) ([]string, string) {
					return []string{"--access-token", "-"}, v[0].AccessToken + "\n"
				}, 1, 1},
				{"refresh token", func(v []harness.TokenResponse, _ harness.Client, _ string) ([]string, string) {
					return []string{"--refresh-token", v[0].RefreshToken}, ""
				}, 1, 1},
				{"client", func(_ []harness.TokenResponse, c harness.Client, _ string) ([]string, string) {
					return []string{"--client", c.ID}, ""
				}, 2, 2},
				{"user", func(_ []harness.TokenResponse, _ harness.Client, user string) ([]string, string) {
					return []string{"--user", user}, ""
				}, 2, 2},
			}
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					c := harness.CreateClient(t, db, "bob", fmt.Sprintf("web-%d", i))
					user := fmt.Sprintf("victim-%d", i)
					var victims []harness.TokenResponse
					for range tt.victims {
						victims = append(victims, e.grant("api.test", c, pk, user, ""))
					}
					// Same client, another user; for --client, another client.
					bc := c
					if tt.name == "client" {
						bc = harness.CreateClient(t, db, "bob", fmt.Sprintf("other-%d", i))
					}
					bystander := e.grant("api.test", bc, pk, "bystander", "")
					for _, v := range append(victims, bystander) {
						if r := e.get(url, v.AccessToken); r.StatusCode != 200 {
							t.Fatalf("before revocation: %d", r.StatusCode)
						}
					}
					args, stdin := tt.args(victims, c, user)
					out := runCLIStdin(t, db, stdin, append([]string{"tokens", "revoke"}, args...)...)
					var got struct{ Revoked *int }
					if err := json.Unmarshal(out, &got); err != nil || got.Revoked == nil || *got.Revoked != tt.want {
						t.Errorf("printed %q, want {\"revoked\":%d}", out, tt.want)
					}
					for _, v := range victims {
						wantRefused(t, e.waitRefused(url, v.AccessToken, limit), "", descInvalid)
					}
					if r := e.get(url, bystander.AccessToken); r.StatusCode != 200 {
						t.Errorf("a token that was not revoked: %d %s", r.StatusCode, r.body)
					}
					if tt.name == "refresh token" {
						_, tr := e.postToken("api.test", refreshForm(c, victims[0].RefreshToken))
						if tr.Status != 400 || tr.Error != "invalid_request" {
							t.Errorf("refresh with a revoked refresh token: %d %s", tr.Status, tr.Error)
						}
					}
				})
			}

			t.Run("clients delete", func(t *testing.T) {
				c := harness.CreateClient(t, db, "bob", "doomed")
				other := harness.CreateClient(t, db, "bob", "survivor")
				tok := e.grant("api.test", c, pk, "u", "")
				keep := e.grant("api.test", other, pk, "u", "")
				if r := e.get(url, tok.AccessToken); r.StatusCode != 200 {
					t.Fatalf("before delete: %d", r.StatusCode)
				}
				harness.CLI(t, db, "clients", "delete", c.ID)
				wantRefused(t, e.waitRefused(url, tok.AccessToken, limit), "", descInvalid)
				if r := e.get(url, keep.AccessToken); r.StatusCode != 200 {
					t.Errorf("another client's token after the delete: %d", r.StatusCode)
				}
				var list []harness.Client
				if err := json.Unmarshal(harness.CLI(t, db, "clients", "list"), &list); err != nil {
					t.Fatal(err)
				}
				for _, l := range list {
					if l.ID == c.ID {
						t.Error("the deleted client is still listed")
					}
				}
				if _, tr := e.postToken("api.test", refreshForm(c, tok.RefreshToken)); tr.Status == 200 {
					t.Error("the deleted client refreshed a token")
				}
			})
		})
	}
}

// runCLIStdin runs an admin command with stdin and wants exit 0.
func runCLIStdin(t *testing.T, db, stdin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append(args, "-database-url", db)...)
	cmd.Env = append(os.Environ(), harness.ChildEnv()...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("oauth2-password %s: %v: %s", args[0], err, e.Bytes())
	}
	return o.Bytes()
}

// TestConcurrentMigrate: every node of a cluster may run `migrate` at
// deploy time; two at once on a fresh database must both succeed.
func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	bin := harness.Binary(t)
	for round := range 3 {
		db := pg.NewDatabase(t)
		var wg sync.WaitGroup
		errs := make([]string, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "migrate", "-database-url", db)
				cmd.Env = append(os.Environ(), harness.ChildEnv()...)
				if out, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Sprintf("%v: %s", err, out)
				}
			}()
		}
		wg.Wait()
		for i, e := range errs {
			if e != "" {
				t.Errorf("round %d, migrate %d: %s", round, i, e)
			}
		}
		// The schema is usable afterwards.
		harness.CreateClient(t, db, "bob", "web")
	}
}

// runEnv runs the binary with args and extra environment, without -race's
// exit delay, and returns stdout, stderr and the exit status.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), args...)
	cmd.Env = append(append(os.Environ(), harness.ChildEnv()...), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestCLIHelpAndVersion: a bare `oauth2-password` is a person, not Kong
// (Kong always passes flags): usage on stderr, exit 2. Every spelling of
// help prints the usage, listing every command, on stdout and exits 0
// without opening a store; a command's help lists its own flags; a group's
// help its subcommands; every spelling of version prints one line.
func TestCLIHelpAndVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "untouched.db")
	env := []string{"OAUTH2_PASSWORD_DATABASE_URL=sqlite:" + db}
	general := []string{"usage: oauth2-password COMMAND", store.DefaultPath,
		"oauth2-password migrate\n", "oauth2-password clients create ", "oauth2-password clients list ",
		"oauth2-password clients delete ", "oauth2-password tokens revoke ", "oauth2-password import-kong ",
		"oauth2-password serve -config FILE"}

	stdout, stderr, code := runEnv(t, env)
	if code != 2 || stdout != "" || !containsAll(stderr, general) {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, stdout, stderr)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, general},
		{[]string{"-help"}, general},
		{[]string{"--help"}, general},
		{[]string{"help"}, general},
		{[]string{"migrate", "-h"}, []string{"usage: oauth2-password migrate\n", "-database-url"}},
		{[]string{"clients", "create", "--help"}, []string{"usage: oauth2-password clients create", "-consumer", "-client-secret", "-public", "-redirect-uri"}},
		{[]string{"help", "clients", "create"}, []string{"usage: oauth2-password clients create", "-client-secret"}},
		{[]string{"import-kong", "--help"}, []string{"usage: oauth2-password import-kong", "-kong-config", "-kong-database-url", "-dry-run"}},
		{[]string{"tokens", "revoke", "-help"}, []string{"usage: oauth2-password tokens revoke", "-access-token", "-user"}},
		{[]string{"clients", "--help"}, []string{"usage: oauth2-password clients SUBCOMMAND", "clients create ", "clients list ", "clients delete "}},
		{[]string{"tokens", "-h"}, []string{"usage: oauth2-password tokens SUBCOMMAND", "tokens revoke "}},
		{[]string{"serve", "-help"}, []string{"usage: oauth2-password serve -config FILE", "-store-start-timeout", "oauth2-password/oauth2-password.db"}},
		{[]string{"help", "serve"}, []string{"usage: oauth2-password serve -config FILE", "-tls-cert"}},
		{[]string{"help", "help"}, general},
		{[]string{"--help", "--help"}, general},
		{[]string{"help", "-h", "clients", "create"}, []string{"usage: oauth2-password clients create", "-client-secret"}},
	} {
		stdout, stderr, code := runEnv(t, env, tc.args...)
		if code != 0 || stderr != "" || !containsAll(stdout, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0 and on stdout %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		stdout, stderr, code := runEnv(t, env, args...)
		if code != 0 || stderr != "" || !regexp.MustCompile(`^oauth2-password \S+\n$`).MatchString(stdout) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want one line `oauth2-password VERSION`", args, code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("help or version touched the store: %v", entries)
	}
}

// TestCLIUsageHelp: a mistake is exit 2, one line saying what, then the
// help of what was being typed (never the Kong plugin server's flags), and
// no store touched.
func TestCLIUsageHelp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"OAUTH2_PASSWORD_DATABASE_URL=sqlite:" + filepath.Join(dir, "untouched.db")}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--bogus"}, []string{"-bogus", "usage: oauth2-password COMMAND"}},
		{[]string{"clients"}, []string{"clients needs a subcommand", "usage: oauth2-password clients SUBCOMMAND"}},
		{[]string{"clients", "bogus"}, []string{`unknown command "clients bogus"`, "clients create "}},
		{[]string{"clients", "list", "--bogus"}, []string{"-bogus", "usage: oauth2-password clients list", "-consumer"}},
		{[]string{"import-kong", "--bogus"}, []string{"-bogus", "usage: oauth2-password import-kong", "-kong-config"}},
		{[]string{"nosuchcommand"}, []string{`unknown command "nosuchcommand"`}},
	} {
		stdout, stderr, code := runEnv(t, env, tc.args...)
		if code != 2 || stdout != "" || !containsAll(stderr, tc.want) || strings.Contains(stderr, "kong-prefix string") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and on stderr %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a usage error touched the store: %v", entries)
	}
}

// TestCLIMissingStoreFile: a command that only reads or removes what is
// stored, pointed at an embedded store file that does not exist (a typo),
// is an error naming the file, and creates nothing.
func TestCLIMissingStoreFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{{"clients", "list"}, {"clients", "delete", "x"}, {"tokens", "revoke", "--user", "u"}} {
		stdout, stderr, code := runEnv(t, nil, append(args, "-database-url", "sqlite:"+typo)...)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "embedded store "+typo+" does not exist") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1 and one line naming %s", args, code, stdout, stderr, typo)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a read-only command created files: %v", entries)
	}
}

// TestCLISecretFromStdin: `clients create --client-secret -` takes the
// secret from stdin; it works at the token endpoint, and is not printed.
func TestCLISecretFromStdin(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	// Spaces are part of a secret; the line's end, "\r\n" too, is not.
	const secret = "  a secret typed into stdin 0123456789  "
	out := runCLIStdin(t, db, secret+"\r\n", "clients", "create", "--consumer", "bob", "--name", "web", "--client-id", "stdin-client", "--client-secret", "-")
	if strings.Contains(string(out), secret) || !strings.Contains(string(out), `"client_id":"stdin-client"`) {
		t.Fatalf("clients create output %s: want the client, without the secret", out)
	}
	_, stderr, code := harness.RunCLI(t, db, "clients", "create", "--consumer", "bob", "--name", "web", "--client-secret", "-")
	if code != 2 || !strings.Contains(string(stderr), "no secret on stdin") {
		t.Errorf("empty stdin: exit %d, stderr %q; want 2 and no secret on stdin", code, stderr)
	}
	const pk = "pk-stdin-0123456789"
	s := harness.StartServeTLS(t, db, harness.ServeConfig("  api:\n    provision_key: \""+pk+"\""))
	form := url.Values{"grant_type": {"password"}, "client_id": {"stdin-client"}, "client_secret": {secret},
		"provision_key": {pk}, "authenticated_userid": {"u1"}}
	resp, err := s.Client.PostForm(s.URL+"/services/api/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("token with the secret read from stdin: %d, want 200", resp.StatusCode)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestCLIUnknownClient: every command that names a client answers an
// unknown client_id the same way: exit 1, one line, nothing on stdout.
func TestCLIUnknownClient(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	harness.CLI(t, db, "migrate")
	var lines []string
	for _, args := range [][]string{{"clients", "delete", "nosuchclient"}, {"tokens", "revoke", "--client", "nosuchclient"}} {
		stdout, stderr, code := harness.RunCLI(t, db, args...)
		msg := strings.TrimRight(string(stderr), "\n")
		if code != 1 || len(stdout) != 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, `"nosuchclient"`) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1, nothing, one line naming the client", args, code, stdout, stderr)
		}
		lines = append(lines, msg)
	}
	if lines[0] != lines[1] {
		t.Errorf("unknown client answered differently: %q vs %q", lines[0], lines[1])
	}
}

// TestCLIStoreFile: with the embedded store every command says on stderr
// which file it used; a file in a missing directory is one line naming the
// directory; with nothing named, every command uses the one documented
// default file.
func TestCLIStoreFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "cli.db")
	for _, tc := range []struct {
		args []string
		env  []string
	}{
		{[]string{"migrate", "-database-url", "sqlite:" + file}, nil},
		{[]string{"clients", "list"}, []string{"OAUTH2_PASSWORD_DATABASE_URL=sqlite:" + file}},
	} {
		_, stderr, code := runEnv(t, tc.env, tc.args...)
		if want := "oauth2-password: embedded store " + file + "\n"; code != 0 || stderr != want {
			t.Errorf("%q: exit %d, stderr %q; want 0 and %q", tc.args, code, stderr, want)
		}
	}

	missing := filepath.Join(dir, "no-such-dir")
	stdout, stderr, code := runEnv(t, nil, "migrate", "-database-url", "sqlite:"+filepath.Join(missing, "x.db"))
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "directory "+missing+" does not exist") {
		t.Errorf("missing directory: exit %d, stdout %q, stderr %q; want 1 and one line naming %s", code, stdout, stderr, missing)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("the missing directory was created")
	}

	// The default file. Only where its directory is absent (a CI machine),
	// so that the test never writes into a real Kong's prefix.
	if _, err := os.Stat(filepath.Dir(store.DefaultPath)); err == nil {
		t.Logf("%s exists: not running commands against the default store", filepath.Dir(store.DefaultPath))
		return
	}
	for _, args := range [][]string{{"migrate"}, {"clients", "list"}, {"tokens", "revoke", "--user", "u"}} {
		_, stderr, code := runEnv(t, nil, args...)
		// migrate names the missing directory; the others, which never
		// create a store, the missing file.
		if code != 1 || !strings.Contains(stderr, "embedded store "+store.DefaultPath) || !strings.Contains(stderr, "does not exist") {
			t.Errorf("%q with no store named: exit %d, stderr %q; want the default file %s named", args, code, stderr, store.DefaultPath)
		}
	}
}

// TestCLIOutputLost: when the new client cannot be written out (a full
// disk, a closed pipe), its generated secret is lost with it: the command
// fails (exit 1, one line) and keeps no client nobody can use, so that it
// can simply run again. help and version report a failed write too.
func TestCLIOutputLost(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	run := func(args ...string) (string, int) {
		cmd := exec.Command(harness.Binary(t), args...)
		cmd.Env = append(os.Environ(), harness.ChildEnv()...)
		var e bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return e.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return e.String(), 0
	}
	if msg, code := run("clients", "create", "--consumer", "bob", "--name", "web", "--client-id", "lost", "-database-url", db); code != 1 || strings.Count(msg, "\n") != 1 {
		t.Errorf("clients create to a full disk: exit %d, stderr %q; want 1 and one line", code, msg)
	}
	if _, stderr, code := harness.RunCLI(t, db, "clients", "get", "lost"); code != 1 || !strings.Contains(string(stderr), "no client") {
		t.Errorf("the client whose output was lost was kept: exit %d, %s", code, stderr)
	}
	for _, args := range [][]string{{"version"}, {"help"}} {
		if msg, code := run(args...); code != 1 {
			t.Errorf("%s to a full disk: exit %d, stderr %q; want 1", args[0], code, msg)
		}
	}
}

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/kongimport/kongtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// importReport is the contract's report of `import-kong`.
type importReport struct {
	Clients  struct{ Imported, Skipped int } `json:"clients"`
	Tokens   struct{ Imported, Skipped int } `json:"tokens"`
	Problems []string                        `json:"problems"`
}

func importKong(t *testing.T, db string, args ...string) importReport {
	t.Helper()
	out := harness.CLI(t, db, append([]string{"import-kong"}, args...)...)
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil || len(raw) != 3 || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("import-kong printed %q, want one JSON object with clients, tokens, problems", out)
	}
	var rep importReport
	if err := json.Unmarshal(out, &rep); err != nil || rep.Problems == nil {
		t.Fatalf("import-kong printed %q: %v", out, err)
	}
	return rep
}

func wantImported(t *testing.T, what string, rep importReport, clients, clientsSkipped, tokens, tokensSkipped int) {
	t.Helper()
	if rep.Clients.Imported != clients || rep.Clients.Skipped != clientsSkipped ||
		rep.Tokens.Imported != tokens || rep.Tokens.Skipped != tokensSkipped || len(rep.Problems) != 0 {
		t.Errorf("%s: %+v, want clients %d/%d skipped, tokens %d/%d skipped, no problems",
			what, rep, clients, clientsSkipped, tokens, tokensSkipped)
	}
}

// TestImportFromKongDatabase is a move from Kong's bundled oauth2 plugin:
// a Kong 3.9 database (Kong's own schema, rows as Kong writes them, one
// secret in plaintext and one hashed with hash_secret) is imported with
// the CLI; then, through the real plugin, the apps keep their secrets,
// their access tokens validate with the same upstream headers and their
// refresh tokens refresh. --dry-run writes nothing and a second import
// changes nothing.
func TestImportFromKongDatabase(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db)
			alice := e.consumer(konghost.Consumer{ID: kongtest.UUID(), Username: "alice", CustomID: "crm-1"})
			const pk = "pk-import-0123456789"
			svc := e.service(konghost.ServiceSpec{Name: "orders", Host: "orders.test", Config: map[string]any{
				"provision_key": pk, "scopes": []string{"orders.read"}}})

			// Kong's side: the same consumer and service, two credentials,
			// a live token for each.
			k := kongtest.New(t, pg.NewDatabase(t))
			k.Consumer(alice.ID, "alice")
			k.Service(svc.ServiceID, "orders")
			plain := kongtest.Credential{ID: kongtest.UUID(), ConsumerID: alice.ID, Name: "web", ClientID: "legacy-web", Secret: "secret123"}
			hashed := kongtest.Credential{ID: kongtest.UUID(), ConsumerID: alice.ID, Name: "ios", ClientID: "legacy-ios", Secret: "tofu-secret", HashSecret: true}
			k.Credential(plain)
			k.Credential(hashed)
			created := time.Now().UTC().Truncate(time.Second).Add(-10 * time.Minute)
			var toks []kongtest.Token
			for _, cred := range []kongtest.Credential{plain, hashed} {
				tok := kongtest.Token{ID: kongtest.UUID(), CredentialID: cred.ID, ServiceID: svc.ServiceID,
					Access: kongtest.RandomString(), Refresh: kongtest.RandomString(), AuthenticatedUserID: "user-" + cred.Name,
					Scope: "orders.read", CreatedAt: created, ExpiresIn: 7200, RefreshTokenTTL: 1209600}
				k.Token(tok)
				toks = append(toks, tok)
			}

			wantImported(t, "--dry-run", importKong(t, db, "--kong-database-url", k.URL, "--dry-run"), 2, 0, 2, 0)
			if out := harness.CLI(t, db, "clients", "list"); strings.TrimSpace(string(out)) != "[]" {
				t.Fatalf("--dry-run wrote clients: %s", out)
			}
			wantImported(t, "import", importKong(t, db, "--kong-database-url", k.URL), 2, 0, 2, 0)
			wantImported(t, "second import", importKong(t, db, "--kong-database-url", k.URL), 0, 2, 0, 2)

			// The apps' secrets work, wrong ones do not.
			for _, cred := range []kongtest.Credential{plain, hashed} {
				c := harness.Client{ID: cred.ClientID, Secret: cred.Secret}
				e.grant("orders.test", c, pk, "user-new", "orders.read")
				if _, tr := e.postToken("orders.test", passwordForm(harness.Client{ID: c.ID, Secret: c.Secret + "x"}, pk, "u", "")); tr.Error != "invalid_client" {
					t.Errorf("%s with a wrong secret: %d %s", c.ID, tr.Status, tr.Error)
				}
			}
			// The tokens apps hold validate as Kong validated them.
			for i, cred := range []kongtest.Credential{plain, hashed} {
				ec := e.get("https://orders.test/orders/1", toks[i].Access).echo(t)
				for h, want := range map[string]string{"x-consumer-id": alice.ID, "x-consumer-username": "alice",
					"x-consumer-custom-id": "crm-1", "x-credential-identifier": cred.ClientID,
					"x-authenticated-userid": "user-" + cred.Name, "x-authenticated-scope": "orders.read"} {
					if got, _ := ec.Header(h); got != want {
						t.Errorf("%s's imported token: upstream %s = %q, want %q", cred.ClientID, h, got, want)
					}
				}
			}
			// An imported refresh token refreshes; the old pair then dies.
			c := harness.Client{ID: plain.ClientID, Secret: plain.Secret}
			next := e.refresh("orders.test", c, toks[0].Refresh)
			if r := e.get("https://orders.test/orders/1", next.AccessToken); r.StatusCode != 200 {
				t.Errorf("refreshed token: %d", r.StatusCode)
			}
			wantRefused(t, e.get("https://orders.test/orders/1", toks[0].Access), "", descInvalid)
			// Importing again after the refresh brings nothing back.
			wantImported(t, "import after a refresh", importKong(t, db, "--kong-database-url", k.URL), 0, 2, 0, 2)
			wantRefused(t, e.get("https://orders.test/orders/1", toks[0].Access), "", descInvalid)

			dump := dumpAll(t, db)
			if !strings.Contains(dump, "legacy-ios") {
				t.Fatalf("the dump lacks the imported clients, so it proves nothing")
			}
			for _, s := range []string{plain.Secret, hashed.Secret, toks[0].Access, toks[0].Refresh, toks[1].Access, toks[1].Refresh} {
				if strings.Contains(dump, s) {
					t.Errorf("the store holds a plaintext secret or token %q…", s[:4])
				}
			}
		})
	}
}

// TestImportFromKongConfig: the oauth2_credentials of a kong.yml's
// consumers, one secret in plaintext and one as decK dumps a hashed one,
// authenticate through the plugin after the import; a second import
// changes nothing.
func TestImportFromKongConfig(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	bob := e.consumer(konghost.Consumer{ID: kongtest.UUID(), Username: "bob"})
	const pk = "pk-import-yml-0123456789"
	e.service(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": pk}})

	file := filepath.Join(t.TempDir(), "kong.yml")
	yml := `_format_version: "3.0"
consumers:
  - username: bob
    id: ` + bob.ID + `
    oauth2_credentials:
      - name: web
        client_id: yml-web
        client_secret: secret123
        redirect_uris: [https://bob.example/cb]
      - name: dumped
        client_id: yml-dumped
        client_secret: "` + kongtest.KongHash(t, "hashed-in-kong") + `"
        hash_secret: true
`
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	wantImported(t, "import", importKong(t, db, "--kong-config", file), 2, 0, 0, 0)
	wantImported(t, "second import", importKong(t, db, "--kong-config", file), 0, 2, 0, 0)
	for _, c := range []harness.Client{{ID: "yml-web", Secret: "secret123"}, {ID: "yml-dumped", Secret: "hashed-in-kong"}} {
		tok := e.grant("api.test", c, pk, "user-1", "")
		if ec := e.get("https://api.test/x", tok.AccessToken).echo(t); !reflect.DeepEqual(ec.Headers["x-consumer-id"], []string{bob.ID}) {
			t.Errorf("%s: upstream x-consumer-id %q, want %s", c.ID, ec.Headers["x-consumer-id"], bob.ID)
		}
	}
}

// TestImportKongUsage: the source is required, exactly once.
func TestImportKongUsage(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	for _, args := range [][]string{
		{"import-kong"},
		{"import-kong", "--kong-database-url", "postgres://x/y", "--kong-config", "k.yml"},
		{"import-kong", "--kong-config", "k.yml", "extra"},
	} {
		stdout, stderr, code := harness.RunCLI(t, db, args...)
		if code != 2 || len(stdout) != 0 || strings.Count(string(stderr), "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, one line", args, code, stdout, stderr)
		}
	}
	if _, stderr, code := harness.RunCLI(t, db, "import-kong", "--kong-config", filepath.Join(t.TempDir(), "missing.yml")); code != 1 {
		t.Errorf("a missing kong.yml: exit %d (%s), want 1", code, stderr)
	}
}

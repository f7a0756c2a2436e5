package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestShortClientSecret: `clients create --client-secret secret123` (the
// kind of secret Kong's docs show and apps coming from Kong carry) is
// accepted with one warning line on stderr and the contract's one JSON
// object on stdout; the client gets tokens with that secret and no other,
// and the database holds neither the secret nor its fast digest.
func TestShortClientSecret(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db)
			e.consumer(konghost.Consumer{Username: "bob"})
			const pk = "pk-short-0123456789"
			e.service(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": pk}})

			stdout, stderr, code := harness.RunCLI(t, db, "clients", "create", "--consumer", "bob", "--name", "legacy",
				"--client-id", "legacy-app", "--client-secret", "secret123")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var m map[string]any
			if bytes.Count(bytes.TrimSpace(stdout), []byte("\n")) != 0 || json.Unmarshal(stdout, &m) != nil ||
				m["client_secret"] != "secret123" || m["client_id"] != "legacy-app" || len(m) != 5 {
				t.Errorf("stdout %q, want one JSON object with the contract's five keys", stdout)
			}
			// One warning line (the embedded store also names its file).
			var warnings int
			for _, l := range strings.Split(strings.TrimRight(string(stderr), "\n"), "\n") {
				if strings.Contains(l, "warning") {
					warnings++
				}
			}
			if warnings != 1 || !strings.Contains(string(stderr), "weak") || strings.Contains(string(stderr), "secret123") {
				t.Errorf("stderr %q, want one warning line that does not echo the secret", stderr)
			}

			c := harness.Client{ID: "legacy-app", Secret: "secret123"}
			tok := e.grant("api.test", c, pk, "user-1", "")
			if r := e.get("https://api.test/x", tok.AccessToken); r.StatusCode != 200 {
				t.Errorf("the token of a short-secret client: %d %s", r.StatusCode, r.body)
			}
			// Again: now from the remembered verification.
			e.grant("api.test", c, pk, "user-1", "")
			for _, wrong := range []string{"secret124", "secret12", ""} {
				_, tr := e.postToken("api.test", passwordForm(harness.Client{ID: c.ID, Secret: wrong}, pk, "user-1", ""))
				if tr.Status != 400 || tr.Error != "invalid_client" {
					t.Errorf("secret %q: %d %s, want 400 invalid_client", wrong, tr.Status, tr.Error)
				}
			}

			dump := dumpAll(t, db)
			digest := sha256.Sum256([]byte("secret123"))
			if !strings.Contains(dump, "legacy-app") || !strings.Contains(dump, "$argon2id$") {
				t.Fatalf("the dump lacks the client or its hash, so it proves nothing:\n%s", dump)
			}
			if strings.Contains(dump, "secret123") || strings.Contains(dump, hex.EncodeToString([]byte("secret123"))) ||
				strings.Contains(dump, hex.EncodeToString(digest[:])) {
				t.Errorf("the database holds the short secret or its fast digest")
			}
		})
	}
}

package jwt

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestKeysCLIAndFlags: `keys generate` writes a key the server reads, and
// every mistake with keys is one line and the right exit status, naming
// the file or field and never a key's bytes.
func TestKeysCLIAndFlags(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"ed25519", "es256"} {
		out, _, code := harness.RunCLI(t, "", "keys", "generate", "--type", typ)
		if _, err := jwtkeys.ParseKey(out); code != 0 || err != nil {
			t.Errorf("keys generate --type %s: exit %d, key: %v", typ, code, err)
		}
	}
	existing := keyFile(t, "ed25519")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(conf, []byte(harness.ServeConfig("    orders:\n      provision_key: pk-orders-0123456789\n      upstream_jwt: true")), 0o600); err != nil {
		t.Fatal(err)
	}
	db := harness.SQLiteURL(t)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"keys", "generate", "--type", "rsa"}, 2, `key type "rsa"`},
		{[]string{"keys", "generate", "--out", existing}, 1, "already exists"},
		{[]string{"serve", "-config", conf, "-database-url", db, "-signing-key", existing}, 2, "-signing-key needs -issuer"},
		{[]string{"serve", "-config", conf, "-database-url", db, "-issuer", issuer, "-signing-key", junk}, 2, "junk.pem"},
		{[]string{"serve", "-config", conf, "-database-url", db, "-issuer", "https://a.example/?x=1", "-signing-key", existing}, 2, "no query or fragment"},
		{[]string{"serve", "-config", conf, "-database-url", db}, 2, "services.orders: upstream_jwt: the server has no signing key"},
		{[]string{"-kong-prefix", t.TempDir(), "-database-url", db, "-issuer", issuer}, 2, "-issuer needs -signing-key"},
		{[]string{"-kong-prefix", t.TempDir(), "-database-url", db, "-issuer", issuer, "-signing-key", junk}, 2, "junk.pem"},
	} {
		_, stderr, code := harness.RunCLI(t, "", tc.args...)
		msg := strings.TrimSpace(string(stderr))
		if code != tc.code || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, tc.says) || strings.Contains(msg, "AAAA") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d, one line saying %q", tc.args, code, msg, tc.code, tc.says)
		}
	}
}

package kongimport_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
	"github.com/oauth2-password/oauth2-password/store/kongimport"
	"github.com/oauth2-password/oauth2-password/store/kongimport/kongtest"
	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// bulkStore is a store as the CLI opens it: both implementations take
// tokens in bulk.
type bulkStore interface {
	store.Store
	kongimport.Store
}

func openStore(t *testing.T) bulkStore {
	t.Helper()
	return openURL(t, "sqlite:"+filepath.Join(t.TempDir(), "o2p.db"))
}

func openURL(t *testing.T, url string) bulkStore {
	t.Helper()
	s, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(bulkStore)
}

// kongFixture is a Kong 3.9 database with the cases the import must tell
// apart, as Kong's oauth2 plugin writes them.
type kongFixture struct {
	*kongtest.Kong
	alice, bob, service string
	tokens              map[string]kongtest.Token
}

func newKongFixture(t *testing.T) *kongFixture {
	k := &kongFixture{Kong: kongtest.New(t, pg.NewDatabase(t)), alice: kongtest.UUID(), bob: kongtest.UUID(),
		service: kongtest.UUID(), tokens: map[string]kongtest.Token{}}
	k.Consumer(k.alice, "alice")
	k.Consumer(k.bob, "bob")
	k.Service(k.service, "orders")
	for _, c := range []kongtest.Credential{
		{ID: kongtest.UUID(), ConsumerID: k.alice, Name: "web", ClientID: "web", Secret: "secret123", RedirectURIs: []string{"https://a.example/cb"}},
		{ID: kongtest.UUID(), ConsumerID: k.alice, Name: "long", ClientID: "long", Secret: kongtest.RandomString()},
		{ID: kongtest.UUID(), ConsumerID: k.bob, Name: "hashed", ClientID: "hashed", Secret: "tofu-secret", HashSecret: true},
		{ID: kongtest.UUID(), ConsumerID: k.bob, Name: "mobile", ClientID: "mobile", ClientType: "public"},
		{ID: kongtest.UUID(), ConsumerID: k.bob, Name: "bcrypt", ClientID: "bcrypt", Secret: "x", HashSecret: true},
		{ID: kongtest.UUID(), ConsumerID: k.bob, Name: "no secret", ClientID: "nosecret", Secret: "x"},
	} {
		k.Credential(c)
		k.tokens["cred:"+c.ClientID] = kongtest.Token{CredentialID: c.ID}
	}
	// Secrets in forms Kong 3.9 no longer writes, or none at all.
	k.exec(t, `UPDATE oauth2_credentials SET client_secret = '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW' WHERE client_id = 'bcrypt'`)
	k.exec(t, `UPDATE oauth2_credentials SET client_secret = NULL WHERE client_id = 'nosecret'`)

	now := time.Now().UTC().Truncate(time.Second)
	cred := func(id string) string { return k.tokens["cred:"+id].CredentialID }
	for name, tok := range map[string]kongtest.Token{
		"live":            {CredentialID: cred("web"), ServiceID: k.service, AuthenticatedUserID: "user-1", Scope: "email profile", CreatedAt: now.Add(-time.Minute), ExpiresIn: 7200, RefreshTokenTTL: 1209600},
		"global":          {CredentialID: cred("hashed"), AuthenticatedUserID: "user-2", CreatedAt: now.Add(-time.Minute), ExpiresIn: 7200, RefreshTokenTTL: 1209600},
		"access-expired":  {CredentialID: cred("web"), ServiceID: k.service, AuthenticatedUserID: "user-3", CreatedAt: now.Add(-3 * time.Hour), ExpiresIn: 7200, RefreshTokenTTL: 1209600},
		"never-expires":   {CredentialID: cred("long"), ServiceID: k.service, AuthenticatedUserID: "user-4", CreatedAt: now.Add(-time.Hour)},
		"client-creds":    {CredentialID: cred("web"), ServiceID: k.service, CreatedAt: now, ExpiresIn: 7200},
		"of-bad-client":   {CredentialID: cred("bcrypt"), ServiceID: k.service, AuthenticatedUserID: "user-5", CreatedAt: now, ExpiresIn: 7200, RefreshTokenTTL: 1209600},
		"refresh-expired": {CredentialID: cred("web"), ServiceID: k.service, AuthenticatedUserID: "user-6", CreatedAt: now.Add(-3 * time.Hour), ExpiresIn: 7200, RefreshTokenTTL: 1209600},
	} {
		tok.ID, tok.Access = kongtest.UUID(), kongtest.RandomString()
		if tok.ExpiresIn > 0 && name != "client-creds" {
			tok.Refresh = kongtest.RandomString()
		}
		k.Token(tok)
		k.tokens[name] = tok
	}
	// The row's ttl passed since (Kong deletes such rows lazily, on a
	// later insert, and no longer returns them meanwhile).
	k.exec(t, `UPDATE oauth2_tokens SET ttl = now() - interval '1 minute' WHERE id = $1`, k.tokens["refresh-expired"].ID)
	return k
}

func (k *kongFixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := k.DB.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func importDB(t *testing.T, s kongimport.Store, k *kongFixture, dryRun bool) kongimport.Report {
	t.Helper()
	src, err := kongimport.ReadDatabase(t.Context(), k.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep, err := kongimport.Import(t.Context(), s, src, kongimport.Options{DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantCounts(t *testing.T, rep kongimport.Report, clients, tokens kongimport.Counts, problems ...string) {
	t.Helper()
	if rep.Clients != clients || rep.Tokens != tokens {
		t.Errorf("clients %+v tokens %+v, want %+v and %+v", rep.Clients, rep.Tokens, clients, tokens)
	}
	if len(rep.Problems) != len(problems) {
		t.Errorf("problems %q, want %d", rep.Problems, len(problems))
	}
	for _, p := range problems {
		if !slices.ContainsFunc(rep.Problems, func(s string) bool { return strings.Contains(s, p) }) {
			t.Errorf("no problem mentions %q: %q", p, rep.Problems)
		}
	}
}

// TestImportDatabase: clients and live password-grant tokens move from a
// Kong 3.9 database; everything else is skipped and, where the operator
// must act, listed; a second run imports nothing.
func TestImportDatabase(t *testing.T) {
	k := newKongFixture(t)
	s := openStore(t)
	problems := []string{`client "bcrypt" of consumer bob`, `client "nosecret" of consumer bob`,
		"1 unexpired tokens without authenticated_userid", "1 unexpired tokens of credential " + k.tokens["cred:bcrypt"].CredentialID}

	wantCounts(t, importDB(t, s, k, true), kongimport.Counts{Imported: 4, Skipped: 2}, kongimport.Counts{Imported: 4, Skipped: 3}, problems...)
	if cs, err := s.Clients(t.Context(), ""); err != nil || len(cs) != 0 {
		t.Fatalf("--dry-run wrote %d clients (%v)", len(cs), err)
	}

	wantCounts(t, importDB(t, s, k, false), kongimport.Counts{Imported: 4, Skipped: 2}, kongimport.Counts{Imported: 4, Skipped: 3}, problems...)
	wantCounts(t, importDB(t, s, k, false), kongimport.Counts{Skipped: 6}, kongimport.Counts{Skipped: 7}, problems...)

	// Clients: consumer by Kong id, secrets in the right form.
	v := clientsecret.NewVerifier(0, 0)
	web := client(t, s, "web")
	if web.Consumer != k.alice || web.Name != "web" || web.Type != store.Confidential ||
		!reflect.DeepEqual(web.RedirectURIs, []string{"https://a.example/cb"}) || !v.Verify("web", "secret123", web.SecretHash) {
		t.Errorf("web = %+v", web)
	}
	var kongHash string
	k.DB.QueryRow(`SELECT client_secret FROM oauth2_credentials WHERE client_id = 'hashed'`).Scan(&kongHash)
	if h := client(t, s, "hashed"); h.SecretHash != kongHash || !v.Verify("hashed", "tofu-secret", h.SecretHash) {
		t.Errorf("hashed: stored %q, Kong had %q", h.SecretHash, kongHash)
	}
	if l := client(t, s, "long"); l.SecretHash != "" || l.SecretDigest == (store.Digest{}) {
		t.Errorf("a 32-character secret is not kept as a fast digest: %+v", l)
	}
	if m := client(t, s, "mobile"); m.Type != store.Public {
		t.Errorf("mobile = %+v", m)
	}

	// Tokens: as Kong had them, found by the digests of the plaintext.
	live := k.tokens["live"]
	got := token(t, s, live.Access)
	if got.ClientID != "web" || got.ServiceID != k.service || got.AuthenticatedUserID != "user-1" || got.Scope != "email profile" ||
		!got.IssuedAt.Equal(live.CreatedAt) || got.ExpiresIn != 7200 || got.Refresh == nil || *got.Refresh != store.DigestOf(live.Refresh) ||
		!got.RefreshExpiresAt.Equal(live.CreatedAt.Add(1209600*time.Second)) || got.Revoked {
		t.Errorf("live token = %+v", got)
	}
	if g := token(t, s, k.tokens["global"].Access); g.ServiceID != "" || g.ClientID != "hashed" {
		t.Errorf("global token = %+v", g)
	}
	if n := token(t, s, k.tokens["never-expires"].Access); n.ExpiresIn != 0 || n.Refresh != nil {
		t.Errorf("never-expiring token = %+v", n)
	}
	token(t, s, k.tokens["access-expired"].Access)
	for _, name := range []string{"client-creds", "of-bad-client", "refresh-expired"} {
		if _, err := s.TokenByAccess(t.Context(), store.DigestOf(k.tokens[name].Access)); err == nil {
			t.Errorf("token %s was imported", name)
		}
	}
}

func client(t *testing.T, s kongimport.Store, id string) store.Client {
	t.Helper()
	c, err := s.Client(t.Context(), id)
	if err != nil {
		t.Fatalf("client %s: %v", id, err)
	}
	return c
}

func token(t *testing.T, s store.Store, access string) store.Token {
	t.Helper()
	tok, err := s.TokenByAccess(t.Context(), store.DigestOf(access))
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return tok
}

// TestImportAfterRefresh: a token imported and then refreshed with us
// (its row rotated) is not brought back by a second import.
func TestImportAfterRefresh(t *testing.T) {
	k := newKongFixture(t)
	s := openStore(t)
	importDB(t, s, k, false)
	live := k.tokens["live"]
	next := store.Token{Access: store.DigestOf("new-access"), ClientID: "web", FamilyID: "f", IssuedAt: time.Now(), ExpiresIn: 60}
	if err := s.RotateRefresh(t.Context(), store.DigestOf(live.Refresh), next); err != nil {
		t.Fatal(err)
	}
	rep := importDB(t, s, k, false)
	if rep.Tokens.Imported != 0 {
		t.Errorf("second import after a refresh imported %d tokens", rep.Tokens.Imported)
	}
	if tok := token(t, s, live.Access); !tok.Revoked {
		t.Errorf("the rotated token came back unrevoked")
	}
}

// TestImportClientIDTaken: a client_id Kong's credential has that is ours
// already, as another client (another consumer's, or one made again since
// the last import with a new secret, or of another type), is left alone,
// and Kong's tokens of it are not attached to it; the same client (a
// resumed import) takes them.
func TestImportClientIDTaken(t *testing.T) {
	for _, tc := range []struct {
		name string
		ours store.Client // secret123 is Kong's secret of "web"
		says string       // "" = the same client
	}{
		{"another consumer", store.Client{Consumer: "mallory", Type: store.Confidential}, "a client of another consumer"},
		{"made again with another secret", store.Client{Type: store.Confidential}, "a client with another secret"},
		{"public", store.Client{Type: store.Public}, "a client of another type"},
		{"the same", store.Client{Type: store.Confidential}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKongFixture(t)
			s := openStore(t)
			ours := tc.ours
			ours.ID, ours.Name, ours.CreatedAt = "web", "ours", time.Now().UTC().Truncate(time.Second)
			if ours.Consumer == "" {
				ours.Consumer = k.alice
			}
			secret := "another-secret-0123456789abcdef"
			if tc.says == "" {
				secret = "secret123"
			}
			if ours.Type == store.Confidential {
				if err := clientsecret.Set(&ours, secret); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateClient(t.Context(), ours); err != nil {
				t.Fatal(err)
			}
			rep := importDB(t, s, k, false)
			live := k.tokens["live"]
			_, err := s.TokenByAccess(t.Context(), store.DigestOf(live.Access))
			taken := `client "web" of consumer alice: the client_id is taken here by ` + tc.says
			if tc.says == "" {
				if err != nil || slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "taken") }) {
					t.Errorf("the same client: token %v, problems %q", err, rep.Problems)
				}
				return
			}
			if err == nil {
				t.Errorf("Kong's token of web was attached to our other client")
			}
			if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, taken) }) {
				t.Errorf("no problem says %q: %q", taken, rep.Problems)
			}
			if c := client(t, s, "web"); c.Name != "ours" || c.Consumer != ours.Consumer {
				t.Errorf("our client was changed: %+v", c)
			}
		})
	}
}

// TestImportTokenWithoutCreatedAt: a Kong token row without created_at is
// listed and left out, in a dry run as in the import, and the rest of its
// batch is imported.
func TestImportTokenWithoutCreatedAt(t *testing.T) {
	k := newKongFixture(t)
	k.exec(t, `UPDATE oauth2_tokens SET created_at = NULL WHERE id = $1`, k.tokens["live"].ID)
	s := openStore(t)
	for _, dry := range []bool{true, false} {
		rep := importDB(t, s, k, dry)
		if rep.Tokens.Imported != 3 || !slices.ContainsFunc(rep.Problems, func(p string) bool {
			return strings.Contains(p, "1 unexpired tokens with no access_token, no created_at")
		}) {
			t.Errorf("dry run %v: tokens %+v, problems %q", dry, rep.Tokens, rep.Problems)
		}
	}
	token(t, s, k.tokens["global"].Access)
}

// TestImportTTLShorterThanExpiry: a row whose ttl (created_at +
// refresh_token_ttl) comes before its access token's end is deleted by
// Kong at the ttl, access token included: the imported access token ends
// there too, not at created_at + expires_in.
func TestImportTTLShorterThanExpiry(t *testing.T) {
	k := newKongFixture(t)
	live := k.tokens["live"] // created a minute ago, expires_in 7200
	k.exec(t, `UPDATE oauth2_tokens SET ttl = created_at + interval '1 hour' WHERE id = $1`, live.ID)
	s := openStore(t)
	importDB(t, s, k, false)
	got := token(t, s, live.Access)
	ttl := live.CreatedAt.Add(time.Hour)
	if got.AccessExpired(ttl.Add(-2*time.Second)) || !got.AccessExpired(ttl) {
		t.Errorf("imported access token: issued %v, expires_in %d; want it valid until Kong's ttl %v and not at it", got.IssuedAt, got.ExpiresIn, ttl)
	}
}

// TestImportConfig: the oauth2_credentials of a decK / kong.yml file, nested
// in consumers or at the top level.
func TestImportConfig(t *testing.T) {
	src, err := kongimport.ReadConfig(filepath.Join("testdata", "kong.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	rep, err := kongimport.Import(context.Background(), s, src, kongimport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, rep, kongimport.Counts{Imported: 5, Skipped: 1}, kongimport.Counts{}, `client "bob-no-secret" of consumer bob`)
	v := clientsecret.NewVerifier(0, 0)
	for _, c := range []struct{ id, consumer, secret string }{
		{"alice-web", "8f0c1c6e-7c5e-4b7a-9a55-0d1f6c7b2a11", "secret123"},
		{"alice-hashed-on-load", "8f0c1c6e-7c5e-4b7a-9a55-0d1f6c7b2a11", "plaintext-kong-hashes-on-load"},
		{"bob-dumped", "bob", "tofu"},
		{"bob-mobile", "bob", ""},
		{"carol-top", "carol", "a-long-high-entropy-secret-0123456789"},
	} {
		cl := client(t, s, c.id)
		ok := cl.Type == store.Public && c.secret == ""
		if c.secret != "" {
			ok = clientsecret.Verify(cl, c.secret, store.DigestOf(c.secret)) && !v.Verify(c.id, c.secret+"x", cl.SecretHash)
		}
		if cl.Consumer != c.consumer || !ok {
			t.Errorf("%s = %+v (secret verifies: %v)", c.id, cl, ok)
		}
	}
	rep, _ = kongimport.Import(context.Background(), s, src, kongimport.Options{})
	wantCounts(t, rep, kongimport.Counts{Skipped: 6}, kongimport.Counts{}, "bob-no-secret")
}

// TestReadErrors: a bad source is an error that does not echo a password.
func TestReadErrors(t *testing.T) {
	if _, err := kongimport.ReadConfig(filepath.Join("testdata", "missing.yml")); err == nil {
		t.Errorf("a missing file is no error")
	}
	// A client_secret one level off (a bare list item) is said without
	// quoting it: yaml.v3 quotes the start of a value it cannot decode.
	p := filepath.Join(t.TempDir(), "kong.yml")
	bad := "_format_version: \"3.0\"\nconsumers:\n  - username: bob\n    oauth2_credentials:\n      - Zx9kQ2mP7vR4tY8wL3nB\n"
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kongimport.ReadConfig(p); err == nil || strings.Contains(err.Error(), "Zx9k") || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("misplaced secret: %v, want an error naming line 5 without the value", err)
	}
	_, err := kongimport.ReadDatabase(t.Context(), "postgres://kong:hunter2pw@127.0.0.1:1/kong?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "hunter2pw") {
		t.Errorf("unreachable Kong database: %v", err)
	}
}

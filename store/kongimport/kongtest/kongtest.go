// Package kongtest gives tests a Kong 3.9 database: the schema Kong's own
// migrations create for consumers, services, oauth2_credentials and
// oauth2_tokens (testdata/kong39_oauth2.sql names the files it comes from),
// and rows written the way Kong's oauth2 plugin writes them. It is test
// code: nothing in the shipped binary imports it.
package kongtest

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"database/sql"
	_ "embed"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/lib/pq"
)

//go:embed testdata/kong39_oauth2.sql
var schema string

// defaultWorkspace is the id the schema gives Kong's default workspace.
const defaultWorkspace = "dde1a96f-1d2f-41dc-bcc3-2c393ec42c65"

// Kong is a Kong 3.9 database.
type Kong struct {
	URL string
	DB  *sql.DB
	t   testing.TB
}

// New loads Kong's schema into the empty PostgreSQL database at url.
func New(t testing.TB, url string) *Kong {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(schema); err != nil {
		t.Fatalf("loading Kong 3.9's schema: %v", err)
	}
	return &Kong{URL: url, DB: db, t: t}
}

func (k *Kong) exec(q string, args ...any) {
	k.t.Helper()
	if _, err := k.DB.Exec(q, args...); err != nil {
		k.t.Fatalf("%s: %v", q, err)
	}
}

// Consumer inserts a consumer as Kong's DAO does.
func (k *Kong) Consumer(id, username string) {
	k.t.Helper()
	k.exec(`INSERT INTO consumers (id, created_at, updated_at, username, ws_id) VALUES ($1, $2, $2, $3, $4)`,
		id, now(), username, defaultWorkspace)
}

// Service inserts a service.
func (k *Kong) Service(id, name string) {
	k.t.Helper()
	k.exec(`INSERT INTO services (id, created_at, updated_at, name, protocol, host, port, ws_id)
VALUES ($1, $2, $2, $3, 'http', 'upstream.test', 80, $4)`, id, now(), name, defaultWorkspace)
}

// Credential is an oauth2 credential as given to Kong's Admin API.
type Credential struct {
	ID, ConsumerID, Name, ClientID, Secret string
	HashSecret                             bool
	ClientType                             string // "" = confidential
	RedirectURIs                           []string
}

// Credential inserts c as Kong's DAO does: with hash_secret the secret is
// stored as Kong's PBKDF2 hash (KongHash).
func (k *Kong) Credential(c Credential) {
	k.t.Helper()
	secret := c.Secret
	if c.HashSecret {
		secret = KongHash(k.t, c.Secret)
	}
	typ := c.ClientType
	if typ == "" {
		typ = "confidential"
	}
	k.exec(`INSERT INTO oauth2_credentials (id, created_at, name, consumer_id, client_id, client_secret,
  hash_secret, redirect_uris, client_type, ws_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.ID, now(), c.Name, c.ConsumerID, c.ClientID, secret, c.HashSecret, pq.StringArray(c.RedirectURIs), typ, defaultWorkspace)
}

// Token is an oauth2 token row.
type Token struct {
	ID, CredentialID, ServiceID string // ServiceID "" = global
	Access, Refresh             string // Refresh "" = none
	AuthenticatedUserID, Scope  string
	CreatedAt                   time.Time
	ExpiresIn, RefreshTokenTTL  int64 // seconds; RefreshTokenTTL 0 = no ttl
}

// Token inserts t as Kong's oauth2 plugin does when it issues a token: the
// row's ttl is created_at + refresh_token_ttl (Kong then deletes it).
func (k *Kong) Token(t Token) {
	k.t.Helper()
	var svc, refresh, user, ttl any
	if t.ServiceID != "" {
		svc = t.ServiceID
	}
	if t.Refresh != "" {
		refresh = t.Refresh
	}
	if t.AuthenticatedUserID != "" {
		user = t.AuthenticatedUserID
	}
	if t.ExpiresIn > 0 && t.RefreshTokenTTL > 0 {
		ttl = t.CreatedAt.Add(time.Duration(t.RefreshTokenTTL) * time.Second)
	}
	k.exec(`INSERT INTO oauth2_tokens (id, created_at, credential_id, service_id, access_token, refresh_token,
  token_type, expires_in, authenticated_userid, scope, ttl, ws_id)
VALUES ($1, $2, $3, $4, $5, $6, 'bearer', $7, $8, $9, $10, $11)`,
		t.ID, t.CreatedAt, t.CredentialID, svc, t.Access, refresh, t.ExpiresIn, user, t.Scope, ttl, defaultWorkspace)
}

// KongHash hashes secret as Kong 3.9's oauth2 plugin does with
// hash_secret: PBKDF2-HMAC-SHA512, 10,000 iterations, a 32-byte key, a
// random 16-byte salt, in $pbkdf2-sha512$i=10000,l=32$<salt>$<key> with
// unpadded standard base64.
func KongHash(t testing.TB, secret string) string {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha512.New, secret, salt, 10000, 32)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$pbkdf2-sha512$i=10000,l=32$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
}

// RandomString is a value like Kong's random_string(): 32 characters of
// [A-Za-z0-9].
func RandomString() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // the bias is of no matter in a test
	}
	return string(b)
}

// UUID is a random (v4) UUID, as Kong gives its entities.
func UUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

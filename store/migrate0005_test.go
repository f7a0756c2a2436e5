package store_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// insert0004 is the statement the store ran to write a token at schema
// 0004 (before 0005 interned the owner and packed the family id).
const insert0004 = `INSERT INTO tokens (access_digest, refresh_digest, client_id, service_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked, purge_after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

func write0004(t *testing.T, db *sql.DB, tok store.Token) {
	t.Helper()
	var refresh, service, refreshExp, purge any
	purgeAt := tok.IssuedAt.Unix() + tok.ExpiresIn
	if tok.Refresh != nil {
		refresh = tok.Refresh[:]
		if !tok.RefreshExpiresAt.IsZero() {
			refreshExp = tok.RefreshExpiresAt.Unix()
			purgeAt = max(purgeAt, tok.RefreshExpiresAt.Unix())
		}
	}
	if tok.ServiceID != "" {
		service = tok.ServiceID
	}
	if tok.ExpiresIn > 0 && (tok.Refresh == nil || !tok.RefreshExpiresAt.IsZero()) {
		purge = purgeAt
	}
	if _, err := db.ExecContext(t.Context(), insert0004, tok.Access[:], refresh, tok.ClientID, service,
		tok.AuthenticatedUserID, tok.Scope, tok.IssuedAt.Unix(), tok.ExpiresIn, refreshExp, tok.FamilyID, tok.Revoked, purge); err != nil {
		t.Fatalf("write a token at 0004: %v", err)
	}
}

func digest(t *testing.T) store.Digest {
	var d store.Digest
	if _, err := rand.Read(d[:]); err != nil {
		t.Fatal(err)
	}
	return d
}

func hexFamily(t *testing.T) string {
	d := digest(t)
	return hex.EncodeToString(d[:16])
}

// TestMigrate0005KeepsEveryToken writes tokens at schema 0004 (a refresh
// family with a rotated token, a token imported from Kong, tokens without
// refresh or service, family ids of every shape), applies 0005 in place,
// and uses each of them through the store as before.
func TestMigrate0005KeepsEveryToken(t *testing.T) {
	ctx := t.Context()
	p, err := store.OpenPostgres(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.MigrateTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"web", "kong-cred-7a1e", "cli"} {
		if err := p.CreateClient(ctx, store.Client{ID: id, Name: id, Consumer: "c-" + id, Type: store.Public, RedirectURIs: []string{}}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Second)
	family := hexFamily(t)
	r1, r2, rk := digest(t), digest(t), digest(t)
	tok := func(client, svc, fam, user string, refresh *store.Digest, issued time.Time) store.Token {
		x := store.Token{Access: digest(t), Refresh: refresh, ClientID: client, ServiceID: svc, AuthenticatedUserID: user,
			Scope: "read write", IssuedAt: issued, ExpiresIn: 7200, FamilyID: fam}
		if refresh != nil {
			x.RefreshExpiresAt = issued.Add(14 * 24 * time.Hour)
		}
		return x
	}
	rotated := tok("web", "", family, "alice", &r1, now.Add(-time.Hour))
	rotated.Revoked = true
	live := tok("web", "", family, "alice", &r2, now.Add(-30*time.Minute))
	kong := tok("kong-cred-7a1e", "5c1b8a3e-0d5b-4a53-9a55-6b0f3c8e2d11", "kong-2f0a4c7e-8f11-4c1a-b1a4-0c1d2e3f4a5b", "bob", &rk, now)
	kong.ExpiresIn = 0 // Kong tokens may never expire
	kong.RefreshExpiresAt = time.Time{}
	noRefresh := tok("cli", "orders", hexFamily(t), "carol", nil, now)
	odd := []store.Token{
		tok("cli", "orders", "0123456789abcdef", "dave", nil, now),                 // 16 characters, not the hex form
		tok("cli", "orders", "0123456789ABCDEF0123456789ABCDEF", "dave", nil, now), // upper case
		tok("cli", "", "123456789012345", "dave", nil, now),                        // 15 characters
	}
	before := append([]store.Token{rotated, live, kong, noRefresh}, odd...)
	for _, x := range before {
		write0004(t, p.DB(), x)
	}

	if err := p.Migrate(ctx); err != nil {
		t.Fatalf("migrate 0004 → 0005: %v", err)
	}

	for _, want := range before {
		got, err := p.TokenByAccess(ctx, want.Access)
		if err != nil {
			t.Fatalf("token of family %q after 0005: %v", want.FamilyID, err)
		}
		if !reflect.DeepEqual(norm(got), norm(want)) {
			t.Errorf("after 0005\n got %+v\nwant %+v", norm(got), norm(want))
		}
		if want.Refresh != nil {
			if got, err := p.TokenByRefresh(ctx, *want.Refresh); err != nil || got.Access != want.Access {
				t.Errorf("TokenByRefresh of family %q after 0005: %v", want.FamilyID, err)
			}
		}
	}
	var n int
	if err := p.DB().QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n); err != nil || n != len(before) {
		t.Fatalf("%d rows after 0005 (%v), want %d", n, err, len(before))
	}

	// The grace period still finds the rotated token's successor.
	first, alive, err := p.RefreshReuse(ctx, r1)
	if err != nil || !first.Equal(live.IssuedAt) || !alive {
		t.Errorf("RefreshReuse(rotated) = %v, %v, %v; want %v, true", first, alive, err, live.IssuedAt)
	}
	// The family refreshes on, and the rotated token stays spent.
	r3 := digest(t)
	next := tok("web", "", family, "alice", &r3, now)
	if err := p.RotateRefresh(ctx, r2, next); err != nil {
		t.Fatalf("RotateRefresh of the migrated live token: %v", err)
	}
	if err := p.RotateRefresh(ctx, r1, tok("web", "", family, "alice", nil, now)); !errors.Is(err, store.ErrRefreshReused) {
		t.Errorf("RotateRefresh of the rotated token = %v, want ErrRefreshReused", err)
	}
	for _, tc := range []struct {
		name string
		r    store.Revocation
		want int
	}{
		{"by token", store.Revocation{Access: &noRefresh.Access}, 1},
		{"by family", store.Revocation{FamilyID: family}, 1}, // next; live was rotated
		{"by refresh token (its family)", store.Revocation{Refresh: &rk}, 1},
		{"by user", store.Revocation{UserID: "dave"}, 3},
		{"by family, 16 characters", store.Revocation{FamilyID: "0123456789abcdef"}, 0}, // revoked with dave
	} {
		if got, err := p.Revoke(ctx, tc.r); err != nil || got != tc.want {
			t.Errorf("Revoke %s = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if got, err := p.TokenByAccess(ctx, kong.Access); err != nil || !got.Revoked {
		t.Errorf("the Kong token after its revocation: revoked %v, %v", got.Revoked, err)
	}
	// A new token of a migrated client and service, then the client's.
	fresh := tok("kong-cred-7a1e", kong.ServiceID, hexFamily(t), "erin", nil, now)
	if err := p.CreateToken(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Revoke(ctx, store.Revocation{ClientID: "kong-cred-7a1e"}); err != nil || got != 1 {
		t.Errorf("Revoke by client = %d, %v; want 1", got, err)
	}
	if err := p.DeleteClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.TokenByAccess(ctx, live.Access); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a migrated token of a deleted client: %v, want ErrNotFound", err)
	}
}

// norm drops what the store keeps to the second only.
func norm(x store.Token) store.Token {
	x.IssuedAt = time.Unix(x.IssuedAt.Unix(), 0)
	if !x.RefreshExpiresAt.IsZero() {
		x.RefreshExpiresAt = time.Unix(x.RefreshExpiresAt.Unix(), 0)
	}
	return x
}

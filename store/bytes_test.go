package store_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/storetest"
)

// TestTokenBytesAtRest loads 10^5 tokens shaped like the plugin's (two
// 32-byte digests, a Kong-length service id, a hex family id, a refresh
// expiry) in random order, as issuance inserts them, and checks what a
// token costs at rest: table and indexes (pg_total_relation_size) over
// rows. The goal is ≤ 300 bytes; tests/pgbytes measures 10^6 and more.
func TestTokenBytesAtRest(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const client = "client-0123456789"
	if err := s.CreateClient(ctx, store.Client{ID: client, Consumer: "c", Type: store.Public, RedirectURIs: []string{}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	sdb := s.(storetest.DBer).DB()
	if _, err := sdb.ExecContext(ctx, `INSERT INTO tokens (access_digest, refresh_digest, owner_id, authenticated_userid, scope,
issued_at, expires_in, refresh_expires_at, family_id, revoked, purge_after)
SELECT sha256(int8send(g)), sha256(int8send(-g-1)), token_owner_id($1, '5c1b8a3e-0d5b-4a53-9a55-6b0f3c8e2d11'),
    'user-' || (g / 5), 'read', $2::bigint, 7200, $2::bigint + 1209600, token_family_in(md5(g::text)), false, $2::bigint + 1209600
FROM generate_series(1, 100000) g ORDER BY random()`, client, now); err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.ExecContext(ctx, `VACUUM ANALYZE tokens`); err != nil {
		t.Fatal(err)
	}
	var bytes, rows float64
	if err := sdb.QueryRowContext(ctx, `SELECT pg_total_relation_size('tokens') + pg_total_relation_size('token_owners'), (SELECT count(*) FROM tokens)`).
		Scan(&bytes, &rows); err != nil {
		t.Fatal(err)
	}
	// The rows are the store's: token 1 reads back whole.
	one := sha256.Sum256(binary.BigEndian.AppendUint64(nil, 1))
	md5One := md5.Sum([]byte("1"))
	got, err := s.TokenByAccess(ctx, one)
	if err != nil || got.ClientID != client || got.ServiceID != "5c1b8a3e-0d5b-4a53-9a55-6b0f3c8e2d11" ||
		got.FamilyID != hex.EncodeToString(md5One[:]) || got.AuthenticatedUserID != "user-0" {
		t.Fatalf("loaded token 1 reads back as %+v, %v", got, err)
	}
	perToken := bytes / rows
	t.Logf("%.0f rows, %.1f bytes a token at rest", rows, perToken)
	if rows != 100000 || perToken > 300 {
		t.Errorf("%.0f rows at %.1f bytes a token, want 100000 at ≤ 300", rows, perToken)
	}
}

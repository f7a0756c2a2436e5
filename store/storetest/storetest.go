// Package storetest is the conformance suite every store.Store passes.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { … a fresh, migrated store … })
//	}
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// DBer is implemented by SQL stores (store.Postgres, store.SQLite); the
// plaintext check reads every table through it.
type DBer interface{ DB() *sql.DB }

// Unwrapper is implemented by wrappers such as store.Cached.
type Unwrapper interface{ Unwrap() store.Store }

// Run runs the suite. open returns a fresh, migrated, empty store for one
// subtest and arranges for it to be closed when the subtest ends; it must
// be safe to call from parallel subtests.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"client/create-and-read", testClientRoundTrip},
		{"client/slow-secret-hash", testClientSecretHash},
		{"client/conflict", testClientConflict},
		{"client/not-found", testClientNotFound},
		{"client/invalid", testClientInvalid},
		{"client/list-by-consumer", testClientsByConsumer},
		{"client/delete-cascades-to-tokens", testDeleteClientCascades},
		{"client/gone-before-token-stored", testClientGone},
		{"client/introspection-grant", testIntrospectionGrant},
		{"settings/token-check-key-is-shared", testTokenCheckKey},
		{"token/create-and-read", testTokenRoundTrip},
		{"token/not-found", testTokenNotFound},
		{"token/conflict", testTokenConflict},
		{"token/revoked-flag", testRevokedFlag},
		{"token/concurrent-creates-each-answered", testTokenConcurrentCreates},
		{"rotate/revokes-old-stores-next", testRotate},
		{"rotate/reuse-is-detected", testRotateReuse},
		{"rotate/unknown", testRotateUnknown},
		{"rotate/concurrent-exactly-one-wins", testRotateConcurrent},
		{"reissue/replaces-access-keeps-refresh", testReissue},
		{"reissue/revoked-or-unknown", testReissueRevoked},
		{"revoke/by-access", testRevokeAccess},
		{"revoke/by-refresh-revokes-family", testRevokeRefresh},
		{"revoke/by-family", testRevokeFamily},
		{"revoke/by-client", testRevokeClient},
		{"revoke/by-user", testRevokeUser},
		{"revoke/needs-exactly-one-selector", testRevokeSelector},
		{"revoke/overlapping-bulk-no-deadlock", testOverlappingBulk},
		{"purge/bounded-and-only-dead", testPurge},
		{"changes/feed", testChanges},
		{"changes/survive-purge", testChangesPurge},
		{"migrate/concurrent-and-repeated", testMigrateConcurrent},
		{"migrate/upgrade-from-0001-keeps-clients", testMigrateUpgrade},
		{"secrets/no-plaintext-in-database", testNoPlaintext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each subtest has a store of its own
			s := open(t)
			tc.fn(t, s)
		})
	}
}

// ConcurrentMigrate checks that several processes can migrate one new
// database at the same time: open returns a new, unmigrated handle on the
// same empty database at each call.
func ConcurrentMigrate(t *testing.T, open func(t *testing.T) store.Store) {
	const n = 4
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = open(t)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx(t)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	// The schema works for every handle.
	for i, s := range stores {
		c := client(t, fmt.Sprintf("c%d", i))
		if err := s.CreateClient(ctx(t), c); err != nil {
			t.Errorf("CreateClient after concurrent Migrate: %v", err)
		}
	}
	cs, err := stores[0].Clients(ctx(t), "")
	if err != nil || len(cs) != n {
		t.Errorf("Clients = %d clients, %v; want %d", len(cs), err, n)
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

// now is a whole second: stores keep unix seconds.
var now = time.Unix(time.Now().Unix(), 0)

func randDigest(t *testing.T) store.Digest {
	var d store.Digest
	if _, err := rand.Read(d[:]); err != nil {
		t.Fatal(err)
	}
	return d
}

func client(t *testing.T, id string) store.Client {
	return store.Client{
		ID:           id,
		SecretDigest: store.DigestOf("secret of " + id),
		Name:         "name of " + id,
		Consumer:     "consumer-a",
		Type:         store.Confidential,
		RedirectURIs: []string{"https://app.example/cb"},
		CreatedAt:    now,
	}
}

func mustClient(t *testing.T, s store.Store, id string) store.Client {
	t.Helper()
	c := client(t, id)
	if err := s.CreateClient(ctx(t), c); err != nil {
		t.Fatalf("CreateClient(%s): %v", id, err)
	}
	return c
}

func token(t *testing.T, clientID, family, user string) store.Token {
	r := randDigest(t)
	return store.Token{
		Access:              randDigest(t),
		Refresh:             &r,
		ClientID:            clientID,
		ServiceID:           "service-1",
		AuthenticatedUserID: user,
		Scope:               "read write",
		IssuedAt:            now,
		ExpiresIn:           7200,
		RefreshExpiresAt:    now.Add(14 * 24 * time.Hour),
		FamilyID:            family,
	}
}

func mustToken(t *testing.T, s store.Store, tok store.Token) store.Token {
	t.Helper()
	if err := s.CreateToken(ctx(t), tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	return tok
}

func getAccess(t *testing.T, s store.Store, d store.Digest) store.Token {
	t.Helper()
	got, err := s.TokenByAccess(ctx(t), d)
	if err != nil {
		t.Fatalf("TokenByAccess: %v", err)
	}
	return got
}

func wantRevoked(t *testing.T, s store.Store, d store.Digest, want bool) {
	t.Helper()
	if got := getAccess(t, s, d); got.Revoked != want {
		t.Errorf("token revoked = %v, want %v", got.Revoked, want)
	}
}

func sameToken(t *testing.T, got, want store.Token) {
	t.Helper()
	norm := func(x store.Token) store.Token {
		x.IssuedAt = time.Unix(x.IssuedAt.Unix(), 0)
		if !x.RefreshExpiresAt.IsZero() {
			x.RefreshExpiresAt = time.Unix(x.RefreshExpiresAt.Unix(), 0)
		}
		return x
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("token = %+v\nwant    %+v", g, w)
	}
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	conf := client(t, "conf")
	conf.RedirectURIs = []string{"https://a.example/cb", "https://b.example/cb"}
	pub := store.Client{ID: "pub", Name: "public app", Consumer: "consumer-b", Type: store.Public, CreatedAt: now}
	for _, c := range []store.Client{conf, pub} {
		if err := s.CreateClient(ctx(t), c); err != nil {
			t.Fatalf("CreateClient(%s): %v", c.ID, err)
		}
		got, err := s.Client(ctx(t), c.ID)
		if err != nil {
			t.Fatalf("Client(%s): %v", c.ID, err)
		}
		got.CreatedAt = time.Unix(got.CreatedAt.Unix(), 0)
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Client(%s) = %+v, want %+v", c.ID, got, c)
		}
	}
}

// testClientSecretHash: a short secret's slow hash (ours and Kong's form)
// is stored and read back as it was, and verifies; a client with both a
// digest and a hash, or a hash not in PHC form, is refused.
func testClientSecretHash(t *testing.T, s store.Store) {
	ours := client(t, "short")
	if err := clientsecret.Set(&ours, "secret123"); err != nil {
		t.Fatal(err)
	}
	kong := client(t, "from-kong")
	kong.SecretDigest = store.Digest{}
	kong.SecretHash = kongTofu
	for _, c := range []store.Client{ours, kong} {
		if err := s.CreateClient(ctx(t), c); err != nil {
			t.Fatalf("CreateClient(%s): %v", c.ID, err)
		}
		got, err := s.Client(ctx(t), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SecretHash != c.SecretHash || got.SecretDigest != (store.Digest{}) {
			t.Errorf("Client(%s): hash %q digest %x, want hash %q and no digest", c.ID, got.SecretHash, got.SecretDigest[:4], c.SecretHash)
		}
	}
	v := clientsecret.NewVerifier(0, 0)
	if !v.Verify(ours.ID, "secret123", ours.SecretHash) || !v.Verify(kong.ID, "tofu", kongTofu) {
		t.Errorf("a stored slow hash does not verify its secret")
	}
	both := client(t, "both")
	both.SecretHash = ours.SecretHash
	notPHC := client(t, "not-phc")
	notPHC.SecretDigest, notPHC.SecretHash = store.Digest{}, "secret123"
	for _, c := range []store.Client{both, notPHC} {
		if err := s.CreateClient(ctx(t), c); err == nil {
			t.Errorf("CreateClient(%s) = nil, want an error", c.ID)
		}
	}
}

// kongTofu is Kong's own PBKDF2 test vector: the secret "tofu" as Kong's
// oauth2 plugin hashes it with hash_secret.
const kongTofu = "$pbkdf2-sha512$i=10000,l=32$YSBsaXR0ZSBiaXQsIGp1c3QgYSBsaXR0bGUgYml0$z6ysNworexAhDELywIDi0ba0B0T7F/MBZ6Ige9lWRYI"

func testClientConflict(t *testing.T, s store.Store) {
	first := mustClient(t, s, "dup")
	second := client(t, "dup")
	second.Name = "another"
	if err := s.CreateClient(ctx(t), second); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateClient = %v, want ErrConflict", err)
	}
	got, err := s.Client(ctx(t), "dup")
	if err != nil || got.Name != first.Name {
		t.Errorf("after conflict, Client = %q, %v; want the first (%q)", got.Name, err, first.Name)
	}
}

func testClientNotFound(t *testing.T, s store.Store) {
	if _, err := s.Client(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Client(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteClient(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteClient(unknown) = %v, want ErrNotFound", err)
	}
}

func testClientInvalid(t *testing.T, s store.Store) {
	for _, c := range []store.Client{
		{ID: "", Consumer: "c", Type: store.Public},
		{ID: "bad-type", Consumer: "c", Type: "trusted"},
	} {
		if err := s.CreateClient(ctx(t), c); err == nil {
			t.Errorf("CreateClient(%+v) = nil, want an error", c)
		}
	}
	if cs, err := s.Clients(ctx(t), ""); err != nil || len(cs) != 0 {
		t.Errorf("Clients = %v, %v; want none stored", cs, err)
	}
}

func testClientsByConsumer(t *testing.T, s store.Store) {
	for _, c := range []struct{ id, consumer string }{{"a1", "alice"}, {"b1", "bob"}, {"a2", "alice"}} {
		cl := client(t, c.id)
		cl.Consumer = c.consumer
		if err := s.CreateClient(ctx(t), cl); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		consumer string
		want     []string
	}{
		{"alice", []string{"a1", "a2"}},
		{"bob", []string{"b1"}},
		{"", []string{"a1", "a2", "b1"}},
		{"carol", nil},
	} {
		cs, err := s.Clients(ctx(t), tc.consumer)
		if err != nil {
			t.Fatalf("Clients(%q): %v", tc.consumer, err)
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("Clients(%q) = %v, want %v", tc.consumer, ids, tc.want)
		}
	}
}

func testDeleteClientCascades(t *testing.T, s store.Store) {
	mustClient(t, s, "gone")
	mustClient(t, s, "kept")
	a := mustToken(t, s, token(t, "gone", "f1", "u1"))
	b := mustToken(t, s, token(t, "gone", "f2", "u1"))
	k := mustToken(t, s, token(t, "kept", "f3", "u1"))
	if err := s.DeleteClient(ctx(t), "gone"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	if _, err := s.Client(ctx(t), "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Client after delete = %v, want ErrNotFound", err)
	}
	for _, tok := range []store.Token{a, b} {
		if _, err := s.TokenByAccess(ctx(t), tok.Access); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token of deleted client: %v, want ErrNotFound", err)
		}
		if _, err := s.TokenByRefresh(ctx(t), *tok.Refresh); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refresh of deleted client: %v, want ErrNotFound", err)
		}
	}
	wantRevoked(t, s, k.Access, false)
	if err := s.DeleteClient(ctx(t), "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteClient = %v, want ErrNotFound", err)
	}
}

// testClientGone: a token whose client was deleted after the caller looked
// it up (another node's `clients delete`) is refused with ErrClientGone, a
// "not found" rather than a store failure, and a rotation that fails so
// changes nothing.
func testClientGone(t *testing.T, s store.Store) {
	err := s.CreateToken(ctx(t), token(t, "never-existed", "f", "u"))
	if !errors.Is(err, store.ErrClientGone) || !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateToken for a missing client = %v, want ErrClientGone (an ErrNotFound)", err)
	}
	mustClient(t, s, "c")
	old := mustToken(t, s, token(t, "c", "f", "u"))
	next := token(t, "deleted-meanwhile", "f", "u")
	if err := s.RotateRefresh(ctx(t), *old.Refresh, next); !errors.Is(err, store.ErrClientGone) {
		t.Errorf("RotateRefresh to a missing client = %v, want ErrClientGone", err)
	}
	wantRevoked(t, s, old.Access, false) // rolled back
	if _, err := s.TokenByAccess(ctx(t), next.Access); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused next token was stored: %v", err)
	}
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	full := token(t, "c", "fam", "user-1")
	bare := store.Token{ // no refresh token, global, never expires
		Access: randDigest(t), ClientID: "c", AuthenticatedUserID: "", Scope: "",
		IssuedAt: now, ExpiresIn: 0, FamilyID: "fam-2",
	}
	for _, tok := range []store.Token{full, bare} {
		mustToken(t, s, tok)
		sameToken(t, getAccess(t, s, tok.Access), tok)
	}
	got, err := s.TokenByRefresh(ctx(t), *full.Refresh)
	if err != nil {
		t.Fatalf("TokenByRefresh: %v", err)
	}
	sameToken(t, got, full)
}

func testTokenNotFound(t *testing.T, s store.Store) {
	if _, err := s.TokenByAccess(ctx(t), randDigest(t)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByAccess(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.TokenByRefresh(ctx(t), randDigest(t)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TokenByRefresh(unknown) = %v, want ErrNotFound", err)
	}
}

func testTokenConflict(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	a := mustToken(t, s, token(t, "c", "f", "u"))
	dup := token(t, "c", "f", "u")
	dup.Access = a.Access
	if err := s.CreateToken(ctx(t), dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateToken(same access) = %v, want ErrConflict", err)
	}
	dup = token(t, "c", "f", "u")
	dup.Refresh = a.Refresh
	if err := s.CreateToken(ctx(t), dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateToken(same refresh) = %v, want ErrConflict", err)
	}
	sameToken(t, getAccess(t, s, a.Access), a)
}

// testTokenConcurrentCreates writes many tokens at once (stores may group
// them into one statement and commit): good ones, ones whose digest is
// taken and ones whose client does not exist, interleaved. Each call gets
// the answer it would have had alone, and every token answered nil reads
// back whole.
func testTokenConcurrentCreates(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	mustClient(t, s, "d")
	taken := mustToken(t, s, token(t, "c", "f", "u"))
	const n = 48
	toks := make([]store.Token, n)
	want := make([]error, n)
	for i := range toks {
		switch i % 4 {
		case 0, 2:
			toks[i] = token(t, []string{"c", "d"}[i%8/4], fmt.Sprintf("f%d", i), "u")
		case 1:
			toks[i] = token(t, "c", "f", "u")
			toks[i].Access = taken.Access
			want[i] = store.ErrConflict
		case 3:
			toks[i] = token(t, "no-such-client", "f", "u")
			want[i] = store.ErrClientGone
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range toks {
		wg.Go(func() {
			<-start
			errs[i] = s.CreateToken(ctx(t), toks[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if (want[i] == nil && err != nil) || !errors.Is(err, want[i]) {
			t.Errorf("token %d: CreateToken = %v, want %v", i, err, want[i])
			continue
		}
		if want[i] == nil {
			sameToken(t, getAccess(t, s, toks[i].Access), toks[i])
		}
	}
	sameToken(t, getAccess(t, s, taken.Access), taken)
}

func testRevokedFlag(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	tok := token(t, "c", "f", "u")
	tok.Revoked = true
	mustToken(t, s, tok)
	wantRevoked(t, s, tok.Access, true)
	got, err := s.TokenByRefresh(ctx(t), *tok.Refresh)
	if err != nil || !got.Revoked {
		t.Errorf("TokenByRefresh = revoked %v, %v; want revoked", got.Revoked, err)
	}
}

func testRotate(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	old := mustToken(t, s, token(t, "c", "fam", "u"))
	next := token(t, "c", "fam", "u")
	if err := s.RotateRefresh(ctx(t), *old.Refresh, next); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	wantRevoked(t, s, old.Access, true)
	if got, err := s.TokenByRefresh(ctx(t), *old.Refresh); err != nil || !got.RefreshExpiresAt.Equal(old.RefreshExpiresAt) {
		t.Errorf("TokenByRefresh(rotated) = refresh expiry %v, %v; want %v, as issued", got.RefreshExpiresAt, err, old.RefreshExpiresAt)
	}
	sameToken(t, getAccess(t, s, next.Access), next)
	got, err := s.TokenByRefresh(ctx(t), *next.Refresh)
	if err != nil || !got.Access.Equal(next.Access) {
		t.Errorf("TokenByRefresh(next) = %v; want the next token", err)
	}
}

func testRotateReuse(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	old := mustToken(t, s, token(t, "c", "fam", "u"))
	if err := s.RotateRefresh(ctx(t), *old.Refresh, token(t, "c", "fam", "u")); err != nil {
		t.Fatalf("RotateRefresh: %v", err)
	}
	again := token(t, "c", "fam", "u")
	if err := s.RotateRefresh(ctx(t), *old.Refresh, again); !errors.Is(err, store.ErrRefreshReused) {
		t.Fatalf("second RotateRefresh = %v, want ErrRefreshReused", err)
	}
	if _, err := s.TokenByAccess(ctx(t), again.Access); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of the refused rotation: %v, want ErrNotFound (not stored)", err)
	}
	// A token revoked some other way counts as used too.
	rev := mustToken(t, s, token(t, "c", "fam2", "u"))
	if _, err := s.Revoke(ctx(t), store.Revocation{Access: &rev.Access}); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateRefresh(ctx(t), *rev.Refresh, token(t, "c", "fam2", "u")); !errors.Is(err, store.ErrRefreshReused) {
		t.Errorf("RotateRefresh(revoked) = %v, want ErrRefreshReused", err)
	}
}

func testRotateUnknown(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	next := token(t, "c", "fam", "u")
	if err := s.RotateRefresh(ctx(t), randDigest(t), next); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RotateRefresh(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.TokenByAccess(ctx(t), next.Access); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("next of a refused rotation: %v, want ErrNotFound", err)
	}
}

func testRotateConcurrent(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	old := mustToken(t, s, token(t, "c", "fam", "u"))
	const n = 10
	nexts := make([]store.Token, n)
	errs := make([]error, n)
	for i := range nexts {
		nexts[i] = token(t, "c", "fam", "u")
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.RotateRefresh(ctx(t), *old.Refresh, nexts[i])
		})
	}
	close(start)
	wg.Wait()
	wins, stored := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrRefreshReused):
			t.Errorf("rotation %d: %v, want nil or ErrRefreshReused", i, err)
		}
		if _, err := s.TokenByAccess(ctx(t), nexts[i].Access); err == nil {
			stored++
		}
	}
	if wins != 1 || stored != 1 {
		t.Errorf("%d rotations succeeded and %d next tokens stored, want exactly 1 and 1", wins, stored)
	}
}

func testReissue(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	tok := mustToken(t, s, token(t, "c", "fam", "u"))
	newAccess := randDigest(t)
	issued := now.Add(time.Hour)
	refreshExp := now.Add(30 * 24 * time.Hour)
	if err := s.ReissueAccess(ctx(t), *tok.Refresh, newAccess, issued, 60, refreshExp); err != nil {
		t.Fatalf("ReissueAccess: %v", err)
	}
	if _, err := s.TokenByAccess(ctx(t), tok.Access); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old access token: %v, want ErrNotFound", err)
	}
	want := tok
	want.Access, want.IssuedAt, want.ExpiresIn, want.RefreshExpiresAt = newAccess, issued, 60, refreshExp
	sameToken(t, getAccess(t, s, newAccess), want)
	got, err := s.TokenByRefresh(ctx(t), *tok.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, want)
}

func testReissueRevoked(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	tok := mustToken(t, s, token(t, "c", "fam", "u"))
	if _, err := s.Revoke(ctx(t), store.Revocation{Access: &tok.Access}); err != nil {
		t.Fatal(err)
	}
	for name, refresh := range map[string]store.Digest{"revoked": *tok.Refresh, "unknown": randDigest(t)} {
		if err := s.ReissueAccess(ctx(t), refresh, randDigest(t), now, 60, time.Time{}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ReissueAccess(%s) = %v, want ErrNotFound", name, err)
		}
	}
	wantRevoked(t, s, tok.Access, true)
}

// revokeCase creates tokens, revokes with r and checks the count and which
// tokens ended up revoked.
func revokeCount(t *testing.T, s store.Store, r store.Revocation, want int) {
	t.Helper()
	n, err := s.Revoke(ctx(t), r)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if n != want {
		t.Errorf("Revoke = %d, want %d", n, want)
	}
}

func testRevokeAccess(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	a := mustToken(t, s, token(t, "c", "f", "u"))
	b := mustToken(t, s, token(t, "c", "f", "u"))
	revokeCount(t, s, store.Revocation{Access: &a.Access}, 1)
	wantRevoked(t, s, a.Access, true)
	wantRevoked(t, s, b.Access, false)
	// The revoked row's refresh token has expired; a rotated row's has
	// not (testRotate): the engine's grace period tells them apart so.
	if got, err := s.TokenByRefresh(ctx(t), *a.Refresh); err != nil || !got.RefreshExpired(got.IssuedAt) {
		t.Errorf("TokenByRefresh(revoked) = refresh expiry %v (issued %v), %v; want expired at once", got.RefreshExpiresAt, got.IssuedAt, err)
	}
	revokeCount(t, s, store.Revocation{Access: &a.Access}, 0)
	unknown := randDigest(t)
	revokeCount(t, s, store.Revocation{Access: &unknown}, 0)
}

func testRevokeRefresh(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	first := mustToken(t, s, token(t, "c", "fam", "u"))
	second := token(t, "c", "fam", "u")
	if err := s.RotateRefresh(ctx(t), *first.Refresh, second); err != nil {
		t.Fatal(err)
	}
	third := token(t, "c", "fam", "u")
	if err := s.RotateRefresh(ctx(t), *second.Refresh, third); err != nil {
		t.Fatal(err)
	}
	other := mustToken(t, s, token(t, "c", "other", "u"))
	// Replaying the first refresh token: the caller revokes the family.
	revokeCount(t, s, store.Revocation{Refresh: first.Refresh}, 1)
	for _, tok := range []store.Token{first, second, third} {
		wantRevoked(t, s, tok.Access, true)
	}
	wantRevoked(t, s, other.Access, false)
}

func testRevokeFamily(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	a := mustToken(t, s, token(t, "c", "fam", "u"))
	b := mustToken(t, s, token(t, "c", "fam", "u2"))
	o := mustToken(t, s, token(t, "c", "other", "u"))
	revokeCount(t, s, store.Revocation{FamilyID: "fam"}, 2)
	wantRevoked(t, s, a.Access, true)
	wantRevoked(t, s, b.Access, true)
	wantRevoked(t, s, o.Access, false)
	revokeCount(t, s, store.Revocation{FamilyID: "fam"}, 0)
}

func testRevokeClient(t *testing.T, s store.Store) {
	mustClient(t, s, "c1")
	mustClient(t, s, "c2")
	a := mustToken(t, s, token(t, "c1", "f1", "u"))
	b := mustToken(t, s, token(t, "c1", "f2", "v"))
	o := mustToken(t, s, token(t, "c2", "f3", "u"))
	revokeCount(t, s, store.Revocation{ClientID: "c1"}, 2)
	wantRevoked(t, s, a.Access, true)
	wantRevoked(t, s, b.Access, true)
	wantRevoked(t, s, o.Access, false)
	revokeCount(t, s, store.Revocation{ClientID: "c1"}, 0)
}

func testRevokeUser(t *testing.T, s store.Store) {
	mustClient(t, s, "c1")
	mustClient(t, s, "c2")
	a := mustToken(t, s, token(t, "c1", "f1", "alice"))
	b := mustToken(t, s, token(t, "c2", "f2", "alice"))
	o := mustToken(t, s, token(t, "c1", "f3", "bob"))
	revokeCount(t, s, store.Revocation{UserID: "alice"}, 2)
	wantRevoked(t, s, a.Access, true)
	wantRevoked(t, s, b.Access, true)
	wantRevoked(t, s, o.Access, false)
}

func testRevokeSelector(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	a := mustToken(t, s, token(t, "c", "f", "u"))
	for _, r := range []store.Revocation{{}, {ClientID: "c", UserID: "u"}, {Access: &a.Access, FamilyID: "f"}} {
		if _, err := s.Revoke(ctx(t), r); err == nil {
			t.Errorf("Revoke(%+v) = nil error, want one", r)
		}
	}
	wantRevoked(t, s, a.Access, false)
}

// testOverlappingBulk: revocations by client, by user and by family,
// client deletions, rotations and reissues that lock overlapping sets of
// rows run at the same time, and none fails (on PostgreSQL, two of them
// taking the same rows in different orders would be a deadlock, which the
// server breaks by failing one of them).
func testOverlappingBulk(t *testing.T, s store.Store) {
	const (
		clients = 4
		users   = 4
		rounds  = 3
	)
	for round := range rounds {
		var toks []store.Token
		for c := range clients {
			mustClient(t, s, fmt.Sprintf("r%d-c%d", round, c))
			for u := range users {
				fam := fmt.Sprintf("r%d-f%d-%d", round, c, u)
				for range 3 {
					toks = append(toks, mustToken(t, s, token(t, fmt.Sprintf("r%d-c%d", round, c), fam, fmt.Sprintf("r%d-u%d", round, u))))
				}
			}
		}
		var ops []func() error
		for c := range clients {
			id := fmt.Sprintf("r%d-c%d", round, c)
			ops = append(ops, func() error { _, err := s.Revoke(ctx(t), store.Revocation{ClientID: id}); return err })
		}
		for u := range users {
			id := fmt.Sprintf("r%d-u%d", round, u)
			ops = append(ops, func() error { _, err := s.Revoke(ctx(t), store.Revocation{UserID: id}); return err })
		}
		for i, tok := range toks {
			switch i % 6 {
			case 0:
				ops = append(ops, func() error { _, err := s.Revoke(ctx(t), store.Revocation{FamilyID: tok.FamilyID}); return err })
			case 1:
				ops = append(ops, func() error { _, err := s.Revoke(ctx(t), store.Revocation{Refresh: tok.Refresh}); return err })
			case 2:
				next := token(t, tok.ClientID, tok.FamilyID, tok.AuthenticatedUserID)
				ops = append(ops, func() error {
					err := s.RotateRefresh(ctx(t), *tok.Refresh, next)
					if errors.Is(err, store.ErrRefreshReused) || errors.Is(err, store.ErrNotFound) {
						return nil // lost to a revocation or a deletion
					}
					return err
				})
			case 3:
				ops = append(ops, func() error {
					err := s.ReissueAccess(ctx(t), *tok.Refresh, randDigest(t), now, 60, time.Time{})
					if errors.Is(err, store.ErrNotFound) {
						return nil
					}
					return err
				})
			}
		}
		gone := fmt.Sprintf("r%d-c0", round)
		ops = append(ops, func() error { return s.DeleteClient(ctx(t), gone) })
		// Interleave the kinds: bulk ones first in the slice would mostly
		// run before the others.
		for i := range ops {
			j := (i * 7) % len(ops)
			ops[i], ops[j] = ops[j], ops[i]
		}
		errs := make([]error, len(ops))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, op := range ops {
			wg.Go(func() {
				<-start
				errs[i] = op()
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d, operation %d: %v", round, i, err)
			}
		}
		// Every original token is revoked or was deleted with its client.
		for _, tok := range toks {
			got, err := s.TokenByRefresh(ctx(t), *tok.Refresh)
			switch {
			case errors.Is(err, store.ErrNotFound):
				if tok.ClientID != gone {
					t.Errorf("a token of client %s vanished", tok.ClientID)
				}
			case err != nil:
				t.Fatal(err)
			case !got.Revoked:
				t.Errorf("round %d: a token of client %s, user %s survived every bulk revocation", round, tok.ClientID, tok.AuthenticatedUserID)
			}
		}
	}
}

func testPurge(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	past := now.Add(-48 * time.Hour)
	mk := func(expiresIn int64, refresh bool, refreshExp time.Time) store.Token {
		tok := token(t, "c", "f", "u")
		tok.IssuedAt, tok.ExpiresIn, tok.RefreshExpiresAt = past, expiresIn, refreshExp
		if !refresh {
			tok.Refresh = nil
		}
		return mustToken(t, s, tok)
	}
	dead := []store.Token{
		mk(60, false, time.Time{}),        // access expired, no refresh token
		mk(60, true, past.Add(time.Hour)), // both expired
		mk(60, true, now.Add(-time.Second)),
	}
	alive := []store.Token{
		mk(60, true, now.Add(time.Hour)), // refresh still usable
		mk(60, true, time.Time{}),        // refresh never expires
		mk(0, false, time.Time{}),        // access never expires
		mk(int64((49 * time.Hour).Seconds()), false, time.Time{}),
	}
	if n, err := s.PurgeExpired(ctx(t), now, 0); err != nil || n != 0 {
		t.Errorf("PurgeExpired(limit 0) = %d, %v; want 0", n, err)
	}
	var got []int
	for range 3 {
		n, err := s.PurgeExpired(ctx(t), now, 2)
		if err != nil {
			t.Fatalf("PurgeExpired: %v", err)
		}
		got = append(got, n)
	}
	if !reflect.DeepEqual(got, []int{2, 1, 0}) {
		t.Errorf("PurgeExpired(limit 2) three times = %v, want [2 1 0]", got)
	}
	for _, tok := range dead {
		if _, err := s.TokenByAccess(ctx(t), tok.Access); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("dead token still there: %v", err)
		}
	}
	for _, tok := range alive {
		getAccess(t, s, tok.Access)
	}
}

func testChanges(t *testing.T, s store.Store) {
	entries, start, err := s.Changes(ctx(t), -1)
	if err != nil || len(entries) != 0 {
		t.Fatalf("Changes(-1) = %v, %v; want no entries", entries, err)
	}
	mustClient(t, s, "c")
	mustClient(t, s, "gone")
	a := mustToken(t, s, token(t, "c", "fa", "u"))
	b := mustToken(t, s, token(t, "c", "fb", "u"))
	c := mustToken(t, s, token(t, "c", "fc", "u"))
	// Writes that revoke nothing write no change.
	if _, err := s.Revoke(ctx(t), store.Revocation{UserID: "nobody"}); err != nil {
		t.Fatal(err)
	}
	if entries, seq, err := s.Changes(ctx(t), start); err != nil || len(entries) != 0 || seq != start {
		t.Fatalf("after creates only: Changes = %v, %d, %v; want none, %d", entries, seq, err, start)
	}
	if _, err := s.Revoke(ctx(t), store.Revocation{Access: &a.Access}); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateRefresh(ctx(t), *b.Refresh, token(t, "c", "fb", "u")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReissueAccess(ctx(t), *c.Refresh, randDigest(t), now, 60, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx(t), store.Revocation{UserID: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteClient(ctx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	entries, newest, err := s.Changes(ctx(t), start)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{hex.EncodeToString(a.Access[:]), hex.EncodeToString(b.Access[:]), hex.EncodeToString(c.Access[:]), "flush", "flush"}
	var gotNames []string
	last := start
	for _, e := range entries {
		if e.Seq <= last {
			t.Errorf("seq %d after %d: not increasing", e.Seq, last)
		}
		last = e.Seq
		if e.Access == nil {
			gotNames = append(gotNames, "flush")
		} else {
			gotNames = append(gotNames, hex.EncodeToString(e.Access[:]))
		}
	}
	if !reflect.DeepEqual(gotNames, want) {
		t.Errorf("Changes = %v\nwant      %v", gotNames, want)
	}
	if newest != last {
		t.Errorf("Changes newest = %d, want last entry's %d", newest, last)
	}
	if _, cur, err := s.Changes(ctx(t), -1); err != nil || cur != newest {
		t.Errorf("Changes(-1) = %d, %v; want %d", cur, err, newest)
	}
	if entries, seq, err := s.Changes(ctx(t), newest); err != nil || len(entries) != 0 || seq != newest {
		t.Errorf("Changes(newest) = %v, %d, %v; want none, %d", entries, seq, err, newest)
	}
	if entries, _, err := s.Changes(ctx(t), entries[len(entries)-1].Seq-1); err == nil && len(entries) > 1 {
		t.Errorf("Changes(last-1) = %d entries, want at most 1", len(entries))
	}
}

func testChangesPurge(t *testing.T, s store.Store) {
	mustClient(t, s, "c")
	for range 3 {
		tok := mustToken(t, s, token(t, "c", "f", "u"))
		if _, err := s.Revoke(ctx(t), store.Revocation{Access: &tok.Access}); err != nil {
			t.Fatal(err)
		}
	}
	_, before, err := s.Changes(ctx(t), -1)
	if err != nil {
		t.Fatal(err)
	}
	// Change entries are kept an hour: purging "now" keeps them all.
	if _, err := s.PurgeExpired(ctx(t), time.Now(), 100); err != nil {
		t.Fatal(err)
	}
	if entries, _, err := s.Changes(ctx(t), 0); err != nil || len(entries) != 3 {
		t.Fatalf("after purge now: %d entries, %v; want 3", len(entries), err)
	}
	if _, err := s.PurgeExpired(ctx(t), time.Now().Add(2*time.Hour), 100); err != nil {
		t.Fatal(err)
	}
	entries, _, err := s.Changes(ctx(t), 0)
	if err != nil || len(entries) > 1 {
		t.Errorf("after purging old entries: %d entries, %v; want at most the newest", len(entries), err)
	}
	if _, after, err := s.Changes(ctx(t), -1); err != nil || after != before {
		t.Errorf("Changes(-1) after purge = %d, %v; want %d (never backwards)", after, err, before)
	}
	// New entries keep counting up.
	tok := mustToken(t, s, token(t, "c", "f", "u"))
	if _, err := s.Revoke(ctx(t), store.Revocation{Access: &tok.Access}); err != nil {
		t.Fatal(err)
	}
	if entries, _, err := s.Changes(ctx(t), before); err != nil || len(entries) != 1 {
		t.Errorf("new entry after purge: %d entries, %v; want 1", len(entries), err)
	}
}

func testMigrateConcurrent(t *testing.T, s store.Store) {
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Migrate(ctx(t)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	mustClient(t, s, "after-migrate")
}

// testIntrospectionGrant: a grant is stored, shown by Client and Clients,
// idempotent, withdrawn, refused for an unknown client; and it is a
// change every cache hears of.
func testIntrospectionGrant(t *testing.T, s store.Store) {
	c := mustClient(t, s, "rs")
	mustClient(t, s, "other")
	_, seq, err := s.Changes(ctx(t), -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"orders", "orders", "billing"} {
		if err := s.SetIntrospection(ctx(t), c.ID, svc, true); err != nil {
			t.Fatalf("grant %s: %v", svc, err)
		}
	}
	got, err := s.Client(ctx(t), c.ID)
	if err != nil || !reflect.DeepEqual(got.IntrospectServices, []string{"orders", "billing"}) {
		t.Fatalf("after granting orders twice and billing: %v, %v", got.IntrospectServices, err)
	}
	if !got.MayIntrospect("orders") || got.MayIntrospect("shipping") {
		t.Errorf("MayIntrospect: orders %v shipping %v", got.MayIntrospect("orders"), got.MayIntrospect("shipping"))
	}
	if other, _ := s.Client(ctx(t), "other"); other.IntrospectServices != nil {
		t.Errorf("a grant to %s reached another client: %v", c.ID, other.IntrospectServices)
	}
	changes, _, err := s.Changes(ctx(t), seq)
	if err != nil || len(changes) == 0 || changes[len(changes)-1].Access != nil {
		t.Errorf("a grant is not a flush-everything change: %+v, %v", changes, err)
	}
	for _, svc := range []string{"orders", "never-granted"} {
		if err := s.SetIntrospection(ctx(t), c.ID, svc, false); err != nil {
			t.Fatalf("withdraw %s: %v", svc, err)
		}
	}
	all, err := s.Clients(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range all {
		if cl.ID == c.ID && !reflect.DeepEqual(cl.IntrospectServices, []string{"billing"}) {
			t.Errorf("Clients after withdrawing orders: %v, want [billing]", cl.IntrospectServices)
		}
	}
	if err := s.SetIntrospection(ctx(t), c.ID, "billing", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Client(ctx(t), c.ID); got.IntrospectServices != nil {
		t.Errorf("after withdrawing every grant: %v, want none", got.IntrospectServices)
	}
	if err := s.SetIntrospection(ctx(t), "nobody", "orders", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("grant to an unknown client: %v, want ErrNotFound", err)
	}
	if err := s.SetIntrospection(ctx(t), c.ID, "", true); err == nil {
		t.Errorf("a grant for an empty service was accepted")
	}
}

// testTokenCheckKey: the first call makes the key, every later call (and
// so every node on the database) gets the same one, also when several ask
// at once.
func testTokenCheckKey(t *testing.T, s store.Store) {
	const n = 4
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = s.TokenCheckKey(ctx(t)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("TokenCheckKey #%d: %v", i, errs[i])
		}
		if len(keys[i]) != store.TokenCheckKeyLen || string(keys[i]) != string(keys[0]) {
			t.Fatalf("TokenCheckKey #%d = %x, #0 = %x: not one shared key", i, keys[i], keys[0])
		}
	}
	again, err := s.TokenCheckKey(ctx(t))
	if err != nil || string(again) != string(keys[0]) {
		t.Errorf("a later TokenCheckKey = %x, %v; want the first key", again, err)
	}
	if string(keys[0]) == string(make([]byte, store.TokenCheckKeyLen)) {
		t.Errorf("the key is all zeros")
	}
}

// testMigrateUpgrade takes the database back to the schema of migration
// 0001 with a client in it, migrates, and reads the client back: the
// upgrade keeps data and adds the slow-hash column.
func testMigrateUpgrade(t *testing.T, s store.Store) {
	db := findDB(s)
	if db == nil {
		t.Fatalf("%T gives no access to its database (storetest.DBer)", s)
	}
	for _, q := range []string{`DELETE FROM schema_migrations WHERE version >= 2`, `ALTER TABLE clients DROP COLUMN secret_hash`,
		`ALTER TABLE clients DROP COLUMN introspect_services`, `DROP TABLE settings`} {
		if _, err := db.ExecContext(ctx(t), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old := client(t, "old")
	if _, err := db.ExecContext(ctx(t), `INSERT INTO clients (client_id, secret_digest, name, consumer, client_type, created_at)
VALUES ($1, $2, $3, $4, $5, $6)`, old.ID, old.SecretDigest[:], old.Name, old.Consumer, old.Type, now.Unix()); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatalf("Migrate from 0001: %v", err)
	}
	got, err := s.Client(ctx(t), old.ID)
	if err != nil || got.SecretDigest != old.SecretDigest || got.SecretHash != "" {
		t.Fatalf("after the upgrade Client = %+v, %v", got, err)
	}
	if len(got.IntrospectServices) != 0 {
		t.Errorf("after the upgrade the old client may introspect %v, want nothing", got.IntrospectServices)
	}
	short := client(t, "short-after-upgrade")
	short.SecretDigest, short.SecretHash = store.Digest{}, kongTofu
	if err := s.CreateClient(ctx(t), short); err != nil {
		t.Errorf("a slow-hash client after the upgrade: %v", err)
	}
}

// testNoPlaintext stores clients and tokens whose plaintext secrets are
// known (only their digests reach the store) and searches every column of
// every table for the plaintext.
func testNoPlaintext(t *testing.T, s store.Store) {
	db := findDB(s)
	if db == nil {
		t.Fatalf("%T gives no access to its database (storetest.DBer)", s)
	}
	var secrets []string
	secret := func(kind string) string {
		r := randDigest(t)
		v := kind + "-" + base64.RawURLEncoding.EncodeToString(r[:18])
		secrets = append(secrets, v)
		return v
	}
	c := client(t, "plain-client")
	c.SecretDigest = store.DigestOf(secret("client-secret"))
	if err := s.CreateClient(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	// A short secret, kept as a slow hash: neither it nor its fast digest
	// (which would fall to a dictionary) may be stored.
	short := client(t, "short-secret-client")
	r := randDigest(t)
	shortSecret := "s3cr" + base64.RawURLEncoding.EncodeToString(r[:3])
	secrets = append(secrets, shortSecret)
	if err := clientsecret.Set(&short, shortSecret); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateClient(ctx(t), short); err != nil {
		t.Fatal(err)
	}
	shortDigest := store.DigestOf(shortSecret)
	var digests []store.Digest
	mkToken := func() store.Token {
		tok := token(t, c.ID, "fam", "u")
		tok.Access = store.DigestOf(secret("access"))
		r := store.DigestOf(secret("refresh"))
		tok.Refresh = &r
		digests = append(digests, tok.Access, r)
		return tok
	}
	a := mustToken(t, s, mkToken())
	if err := s.RotateRefresh(ctx(t), *a.Refresh, mkToken()); err != nil {
		t.Fatal(err)
	}
	b := mustToken(t, s, mkToken())
	newAccess := secret("reissued")
	if err := s.ReissueAccess(ctx(t), *b.Refresh, store.DigestOf(newAccess), now, 60, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx(t), store.Revocation{FamilyID: "fam"}); err != nil {
		t.Fatal(err)
	}
	dump := dumpDB(t, db)
	for _, p := range secrets {
		for _, form := range []string{p, hex.EncodeToString([]byte(p)), base64.StdEncoding.EncodeToString([]byte(p))} {
			if strings.Contains(dump, form) {
				t.Errorf("plaintext secret %q found in the database", p)
			}
		}
	}
	if strings.Contains(dump, hex.EncodeToString(shortDigest[:])) {
		t.Errorf("the fast digest of a short secret is stored")
	}
	if !strings.Contains(dump, short.SecretHash) {
		t.Errorf("the short secret's slow hash is not in the dump: dump incomplete")
	}
	// The dump must really hold the stored data, or the search proves
	// nothing: the digests are there.
	for _, d := range append(digests, c.SecretDigest) {
		if !strings.Contains(dump, hex.EncodeToString(d[:])) {
			t.Errorf("digest %x not found in the dump: dump incomplete", d[:4])
		}
	}
}

func findDB(s store.Store) *sql.DB {
	for {
		switch x := s.(type) {
		case DBer:
			return x.DB()
		case Unwrapper:
			s = x.Unwrap()
		default:
			return nil
		}
	}
}

// dumpDB renders every value of every table as text, byte values also in
// hex and base64.
func dumpDB(t *testing.T, db *sql.DB) string {
	var b strings.Builder
	for _, table := range []string{"clients", "tokens", "token_changes", "schema_migrations"} {
		rows, err := db.QueryContext(ctx(t), `SELECT * FROM `+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump %s: %v", table, err)
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%v\n", v)
				if bs, ok := v.([]byte); ok {
					fmt.Fprintf(&b, "%s\n%s\n%s\n", bs, hex.EncodeToString(bs), base64.StdEncoding.EncodeToString(bs))
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		rows.Close()
	}
	return b.String()
}

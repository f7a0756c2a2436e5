package store_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestTokenOwnerRecreatedOnAnotherNode: node A has cached the owner id of
// client "c"; node B deletes the client (its owner and tokens go with it)
// and registers it again, under a new owner id. A's next writes for "c" (a
// lone token, a batch, a refresh rotation) are stored under the new owner,
// not refused as if the client were gone.
func TestTokenOwnerRecreatedOnAnotherNode(t *testing.T) {
	url := pg.NewDatabase(t)
	open := func() store.Store {
		s, err := store.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	client := store.Client{ID: "c", Consumer: "x", Type: store.Public}
	if err := a.CreateClient(t.Context(), client); err != nil {
		t.Fatal(err)
	}
	first := batchToken(t, "c")
	if err := a.CreateToken(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	// remake deletes client "c" on node B and registers it again there.
	remake := func() {
		t.Helper()
		if err := b.DeleteClient(t.Context(), "c"); err != nil {
			t.Fatal(err)
		}
		if err := b.CreateClient(t.Context(), client); err != nil {
			t.Fatal(err)
		}
	}
	remake()
	check := func(what string, tok store.Token, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s after the client was made again on another node: %v", what, err)
		}
		got, err := b.TokenByAccess(t.Context(), tok.Access)
		if err != nil || got.ClientID != "c" {
			t.Fatalf("%s: read back on the other node %+v, %v", what, got, err)
		}
	}
	lone := batchToken(t, "c")
	check("a lone token", lone, a.CreateToken(t.Context(), lone))

	// The stale id again, now in a batch: the statement fails as a whole,
	// and each row is written again under the new owner.
	remake()
	toks := []store.Token{batchToken(t, "c"), batchToken(t, "c"), batchToken(t, "c")}
	for i, err := range store.WriteTokenBatch(t.Context(), a, toks) {
		check("a batched token", toks[i], err)
	}

	// And in the refresh rotation's transaction.
	remake()
	old := batchToken(t, "c")
	if err := b.CreateToken(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	next := batchToken(t, "c")
	next.FamilyID = old.FamilyID
	check("a rotated token", next, a.RotateRefresh(t.Context(), *old.Refresh, next))

	// A client deleted and not made again is gone, batched or not.
	if err := b.DeleteClient(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = a.CreateToken(t.Context(), batchToken(t, "c")) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, store.ErrClientGone) {
			t.Errorf("token %d of a deleted client: %v, want ErrClientGone", i, err)
		}
	}
}

// TestFamilyBytesMatchesPostgres: the store writes family ids as
// store.FamilyBytes computes them and revokes families through the
// schema's token_family_in; the two agree on every kind of family id, or
// a family revocation would miss its tokens.
func TestFamilyBytesMatchesPostgres(t *testing.T) {
	s := openPostgres(t).(*store.Postgres)
	for _, f := range []string{
		"0123456789abcdef0123456789abcdef", // the plugin's own: 16 bytes
		"0123456789ABCDEF0123456789ABCDEF", // upper case: text
		"0123456789abcdef0123456789abcdeg",
		"0123456789abcdef0123456789abcde", // 31
		"0123456789abcdef",                // 16 characters: text and a NUL
		"ünïcödé-fäm",                     // 16 bytes, 11 characters
		"f-1",
		"8c7f7b6e-5b0a-4b8e-9f4e-3a2d1c0b9a88",
	} {
		var want []byte
		if err := s.DB().QueryRowContext(t.Context(), `SELECT token_family_in($1)`, f).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := store.FamilyBytes(f); !bytes.Equal(got, want) {
			t.Errorf("FamilyBytes(%q) = %x, token_family_in = %x", f, got, want)
		}
	}
}

// TestTokenOwnerFirstUseAtOnce: 200 first tokens of a new client and
// service, all at once on two nodes, each looking the owner up for the
// first time: every token is stored, under one owner.
func TestTokenOwnerFirstUseAtOnce(t *testing.T) {
	url := pg.NewDatabase(t)
	var nodes []store.Store
	for range 2 {
		s, err := store.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	if err := nodes[0].CreateClient(t.Context(), store.Client{ID: "c", Consumer: "x", Type: store.Public}); err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	toks := make([]store.Token, 200)
	errs := make([]error, len(toks))
	for i := range toks {
		toks[i] = batchToken(t, "c")
		toks[i].ServiceID = "svc"
		wg.Go(func() {
			<-start
			errs[i] = nodes[i%2].CreateToken(t.Context(), toks[i])
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		if got, err := nodes[0].TokenByAccess(t.Context(), toks[i].Access); err != nil || got.ClientID != "c" || got.ServiceID != "svc" {
			t.Fatalf("token %d read back %+v, %v", i, got, err)
		}
	}
	var owners int
	if err := nodes[0].(*store.Postgres).DB().QueryRowContext(t.Context(), `SELECT count(*) FROM token_owners WHERE client_id = 'c'`).Scan(&owners); err != nil || owners != 1 {
		t.Errorf("owners of client c: %d, %v; want 1", owners, err)
	}
}

package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

func batchToken(t *testing.T, clientID string) store.Token {
	t.Helper()
	var a, r store.Digest
	copy(a[:], randBytes(t))
	copy(r[:], randBytes(t))
	return store.Token{Access: a, Refresh: &r, ClientID: clientID, FamilyID: fmt.Sprintf("f-%x", a[:4]),
		AuthenticatedUserID: "u", IssuedAt: time.Unix(time.Now().Unix(), 0), ExpiresIn: 60}
}

// TestTokenBatchFailsOnlyItsOwnRows: one batch holds good rows, a row
// whose access digest is taken, one whose refresh digest is taken, and one
// whose client is gone (which fails the multi-row statement as a whole: on
// PostgreSQL the client was deleted after the store had cached its owner
// id, so the row names an owner that no longer exists). Each row gets the
// answer it would have had alone; the good rows are stored.
func TestTokenBatchFailsOnlyItsOwnRows(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"postgres", openPostgres},
		{"sqlite", openSQLite},
	} {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			for _, id := range []string{"a", "b", "gone"} {
				if err := s.CreateClient(t.Context(), store.Client{ID: id, Consumer: "x", Type: store.Public}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CreateToken(t.Context(), batchToken(t, "gone")); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteClient(t.Context(), "gone"); err != nil {
				t.Fatal(err)
			}
			old := batchToken(t, "a")
			if err := s.CreateToken(t.Context(), old); err != nil {
				t.Fatal(err)
			}
			takenAccess := batchToken(t, "b")
			takenAccess.Access = old.Access
			takenRefresh := batchToken(t, "a")
			takenRefresh.Refresh = old.Refresh
			for _, tc := range []struct {
				name   string
				toks   []store.Token
				want   []error
				stored []bool
			}{
				{"all good", []store.Token{batchToken(t, "b"), batchToken(t, "a"), batchToken(t, "b")},
					[]error{nil, nil, nil}, []bool{true, true, true}},
				{"conflicts", []store.Token{batchToken(t, "a"), takenAccess, batchToken(t, "b"), takenRefresh},
					[]error{nil, store.ErrConflict, nil, store.ErrConflict}, []bool{true, false, true, false}},
				{"client gone", []store.Token{batchToken(t, "a"), batchToken(t, "gone"), batchToken(t, "b")},
					[]error{nil, store.ErrClientGone, nil}, []bool{true, false, true}},
			} {
				errs := store.WriteTokenBatch(t.Context(), s, tc.toks)
				for i, tok := range tc.toks {
					if !errors.Is(errs[i], tc.want[i]) || (tc.want[i] == nil && errs[i] != nil) {
						t.Errorf("%s: row %d answered %v, want %v", tc.name, i, errs[i], tc.want[i])
					}
					if !tc.stored[i] {
						continue
					}
					got, err := s.TokenByAccess(t.Context(), tok.Access)
					if err != nil || got.ClientID != tok.ClientID || got.FamilyID != tok.FamilyID {
						t.Errorf("%s: row %d answered stored, read back %+v, %v", tc.name, i, got, err)
					}
				}
			}
			// The token whose digests the conflicting rows reused is intact.
			if got, err := s.TokenByAccess(t.Context(), old.Access); err != nil || got.ClientID != "a" || got.FamilyID != old.FamilyID {
				t.Errorf("the earlier token after the conflicts: %+v, %v", got, err)
			}
		})
	}
}

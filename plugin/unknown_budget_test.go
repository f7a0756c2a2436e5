package plugin

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
	"github.com/oauth2-password/oauth2-password/store"
)

// countingStore counts the store lookups the engine makes, and passes the
// optional extensions (cache, check key) through.
type countingStore struct {
	*store.Cached
	tokens, clients atomic.Int64
}

func (s *countingStore) TokenByAccess(ctx context.Context, d oauth.Digest) (oauth.Token, error) {
	s.tokens.Add(1)
	return s.Cached.TokenByAccess(ctx, d)
}

func (s *countingStore) Client(ctx context.Context, id string) (oauth.Client, error) {
	s.clients.Add(1)
	return s.Cached.Client(ctx, id)
}

func newCountingEnv(t *testing.T) (*env, *countingStore) {
	var cs *countingStore
	v := newEnvWith(t, func(s Store) Store {
		cs = &countingStore{Cached: s.(*store.Cached)}
		return cs
	})
	return v, cs
}

// madeUp is a token of the issued shape that nobody issued.
func madeUp(t *testing.T) string {
	tok, err := RandomString()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestMadeUpTokensRarelyReachTheStore: 1,000 made-up bearer tokens from
// one address are all 401 and cost at most one store lookup per 10; a
// token issued here still validates from that address, and a token
// without a check value (imported from Kong) validates from another.
func TestMadeUpTokensRarelyReachTheStore(t *testing.T) {
	v, cs := newCountingEnv(t)
	c := v.config("")
	issued := str(v.issue(c), "access_token")
	if ck := v.e.checker(context.Background()); ck == nil || !ck.valid(issued) {
		t.Fatalf("issued token %q carries no valid check value", issued)
	}
	imported := madeUp(t)
	v.storeLegacyToken(imported)

	const n = 1000
	before := cs.tokens.Load()
	for range n {
		f := v.proxy(c, madeUp(t))
		if f.status != 401 {
			t.Fatalf("made-up token answered %d %s", f.status, f.respBody)
		}
	}
	if got := cs.tokens.Load() - before; got > n/10 {
		t.Errorf("%d made-up tokens cost %d store lookups, want at most %d", n, got, n/10)
	}
	// Both real tokens on first use (the cache dropped): the issued one
	// passes its check from the flooding address; the imported one is
	// looked up from an address with budget left.
	v.st.(*store.Cached).Sync(context.Background())
	flush(t, v)
	expectProxied(t, v.proxy(c, issued))
	f := v.kong()
	f.path, f.clientIP = "/api/things", "10.9.9.9"
	f.headers["authorization"] = []string{"Bearer " + imported}
	access(c, f)
	expectProxied(t, f)
}

// TestUnknownLookupBudgetIsPerAddress: an address that spent its budget
// on made-up credentials gets unchecked tokens refused without a lookup;
// another address (and, for IPv6, another /64) is unaffected; the budget
// returns after the window.
func TestUnknownLookupBudgetIsPerAddress(t *testing.T) {
	v, cs := newCountingEnv(t)
	c := v.config("")
	legacy := madeUp(t)
	v.storeLegacyToken(legacy)
	from := func(ip, tok string) *fakeKong {
		f := v.kong()
		f.path, f.clientIP = "/api/things", ip
		f.headers["authorization"] = []string{"Bearer " + tok}
		access(c, f)
		return f
	}
	for range 3 * DefaultUnknownLookups {
		from("2001:db8:1:1::1", madeUp(t))
	}
	flush(t, v)
	before := cs.tokens.Load()
	if f := from("2001:db8:1:1::2", legacy); f.status != 401 {
		t.Errorf("same /64 over its budget: %d, want 401", f.status)
	}
	if got := cs.tokens.Load() - before; got != 0 {
		t.Errorf("over the budget %d lookups were made", got)
	}
	expectProxied(t, from("2001:db8:1:2::1", legacy))
	flush(t, v)
	v.advance(DefaultThrottleWindow + time.Second)
	expectProxied(t, from("2001:db8:1:1::2", legacy))
}

// TestPresentedTokensOverTheBudget: from an address that spent its
// budget, revocation and introspection still find a token in use (cached:
// cache hits come first), and answer one they may not look up with 429
// slow_down and Retry-After, never with the unknown token's answer: a 200
// to a revocation that revoked nothing, or active:false for a live token.
func TestPresentedTokensOverTheBudget(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	inUse, cold := madeUp(t), madeUp(t)
	v.storeLegacyToken(inUse)
	v.storeLegacyToken(cold)
	flush(t, v)
	expectProxied(t, v.proxy(c, inUse)) // cached from here on
	for range 3 * DefaultUnknownLookups {
		v.proxy(c, madeUp(t))
	}

	f := v.introspect(c, url.Values{"token": {inUse}})
	if f.status != 200 || str(f.json(), "client_id") != "app" {
		t.Errorf("introspect a cached token over the budget: %d %s, want it active", f.status, f.respBody)
	}
	expectRevokedAnswer(t, v.revoke(c, url.Values{"token": {inUse}}))
	v.proxy(c, inUse).expectError(401, "invalid_token", "The access token is invalid or has expired")

	for name, f := range map[string]*fakeKong{
		"introspect": v.introspect(c, url.Values{"token": {cold}}),
		"revoke":     v.revoke(c, url.Values{"token": {cold}, "state": {"s1"}}),
	} {
		if f.status != 429 || str(f.json(), "error") != "slow_down" || f.respHeader("Retry-After") == "" {
			t.Errorf("%s of an uncached token over the budget: %d %s %v, want 429 slow_down with Retry-After", name, f.status, f.respBody, f.respHeaders)
		}
		if name == "revoke" && str(f.json(), "state") != "s1" {
			t.Errorf("revoke's 429 does not echo state: %s", f.respBody)
		}
	}
	// Nothing was revoked: the token validates from another address.
	g := v.kong()
	g.path, g.clientIP = "/api/things", "10.9.9.9"
	g.headers["authorization"] = []string{"Bearer " + cold}
	access(c, g)
	expectProxied(t, g)
}

// TestMadeUpClientIDsRarelyReachTheStore: the same bound for client_ids
// at the token endpoint; the real client still authenticates.
func TestMadeUpClientIDsRarelyReachTheStore(t *testing.T) {
	v, cs := newCountingEnv(t)
	c := v.config("")
	v.issue(c) // the app is in use before the flood
	const n = 1000
	before := cs.clients.Load()
	for range n {
		f := v.tokenReq(passwordForm("client_id", "nobody-"+madeUp(t)))
		access(c, f)
		if f.status != 400 {
			t.Fatalf("made-up client_id answered %d %s", f.status, f.respBody)
		}
	}
	if got := cs.clients.Load() - before; got > n/10 {
		t.Errorf("%d made-up client_ids cost %d store lookups, want at most %d", n, got, n/10)
	}
	// The real client, once its cache entry is gone, from the flooding
	// address: remembered, it is looked up all the same.
	flush(t, v)
	v.issue(c)
	// A client never seen here, from that address: refused until the
	// window ends.
	v.client("new-app", testSecret, testConsumer.ID, store.Confidential)
	f := v.tokenReq(passwordForm("client_id", "new-app"))
	access(c, f)
	if f.status != 400 {
		t.Errorf("an unseen client from an address over its budget: %d, want 400 invalid_client", f.status)
	}
	v.advance(DefaultThrottleWindow + time.Second)
	v.issue(c, "client_id", "new-app")
}

// storeLegacyToken stores tok as a token issued without a check value
// (imported from Kong, or issued before the upgrade) for the app client.
func (v *env) storeLegacyToken(tok string) {
	v.t.Helper()
	err := v.st.CreateToken(context.Background(), oauth.Token{Access: oauth.DigestOf(tok), ClientID: "app",
		ServiceID: testService, IssuedAt: v.clock(), ExpiresIn: 7200, FamilyID: "legacy-" + tok[:6]})
	if err != nil {
		v.t.Fatal(err)
	}
	if ck := v.e.checker(context.Background()); ck != nil && ck.valid(tok) {
		v.t.Fatal("a random token passed the check")
	}
}

// flush empties the cache, as on a node that has not seen the tokens.
func flush(t *testing.T, v *env) {
	t.Helper()
	// Withdrawing a grant nobody holds is a flush-everything change.
	if err := v.st.SetIntrospection(context.Background(), "app", "flush", true); err != nil {
		t.Fatal(err)
	}
	if err := v.st.SetIntrospection(context.Background(), "app", "flush", false); err != nil {
		t.Fatal(err)
	}
}

// TestImpossibleClientIDsAreNotLookedUp: a client_id no client can have
// (not UTF-8, or holding a NUL: PostgreSQL text holds neither and fails
// the query, which would read as the store down) is invalid_client, in
// the body or in Basic credentials, without a store lookup.
func TestImpossibleClientIDsAreNotLookedUp(t *testing.T) {
	v, cs := newCountingEnv(t)
	c := v.config("")
	before := cs.clients.Load()
	for _, id := range []string{"\xff", "a\x00b"} {
		f := v.tokenReq(passwordForm("client_id", id))
		access(c, f)
		f.expectError(400, "invalid_client", "Invalid client authentication")

		f = v.tokenReq(passwordForm("client_id", "<del>", "client_secret", "<del>"))
		f.headers["authorization"] = []string{basic(id, testSecret)}
		access(c, f)
		f.expectError(401, "invalid_client", "Invalid client authentication")
	}
	if got := cs.clients.Load() - before; got != 0 {
		t.Errorf("%d store lookups for client_ids no client can have", got)
	}
}

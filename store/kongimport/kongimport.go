// Package kongimport moves clients and live tokens from Kong's bundled
// oauth2 plugin into our store: its oauth2_credentials (from a Kong
// PostgreSQL database or a decK / kong.yml file) and its unexpired
// password-grant oauth2_tokens (database only).
//
// Nothing is guessed: a credential whose secret is neither plaintext our
// rules accept nor a hash in the one form Kong 3.9 writes is listed as a
// problem and left out, and so are the tokens that depend on it. Running it
// again imports nothing twice: what is already in the store is skipped, and
// that is also how an interrupted import resumes.
package kongimport

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oauth2-password/oauth2-password/plugin/oauth"
	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// Credential is one row of Kong's oauth2_credentials (or one entry of a
// consumer's oauth2_credentials in a declarative file).
type Credential struct {
	ID               string // Kong's credential id; "" in a file that gives none
	ClientID         string
	Name             string
	ConsumerID       string // Kong's consumer id; "" in a file that gives none
	ConsumerUsername string
	RedirectURIs     []string
	ClientType       string // "confidential", "public", or "" (Kong's default: confidential)
	Secret           string
	HasSecret        bool
	// Hashed: Secret is what Kong stored for hash_secret, not what the app
	// sends.
	Hashed    bool
	CreatedAt time.Time
}

// Token is one row of Kong's oauth2_tokens.
type Token struct {
	ID                  string
	CredentialID        string
	ServiceID           string // "" for a global token (global_credentials)
	Access, Refresh     string // Refresh "" when none
	AuthenticatedUserID string
	Scope               string
	CreatedAt           time.Time
	ExpiresIn           int64     // seconds; 0 = never
	TTL                 time.Time // when Kong deletes the row; zero = never
}

// Source is what was read from Kong.
type Source struct {
	Credentials []Credential
	// Tokens, when not nil, reads Kong's tokens a batch at a time (at
	// most batch each) and calls each with every batch, stopping at the
	// first error. The slice is reused for the next batch: each must not
	// keep it.
	Tokens func(ctx context.Context, batch int, each func([]Token) error) error
	// close releases what reading holds (the Kong database).
	close func() error
}

// Close releases the source's database connection, if any.
func (s Source) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// Counts is one line of the report.
type Counts struct {
	Imported int `json:"imported"`
	Skipped  int `json:"skipped"`
}

// Report is the contract's JSON report. Problems never carry a secret or
// a token.
type Report struct {
	Clients  Counts   `json:"clients"`
	Tokens   Counts   `json:"tokens"`
	Problems []string `json:"problems"`
}

// Store is what the import needs from our store (store.Postgres and
// store.SQLite).
type Store interface {
	CreateClient(ctx context.Context, c store.Client) error
	Client(ctx context.Context, clientID string) (store.Client, error)
	// InsertTokens stores those of ts whose digests are free and says how
	// many; PresentTokens says which are stored already.
	InsertTokens(ctx context.Context, ts []store.Token) (int, error)
	PresentTokens(ctx context.Context, ts []store.Token) ([]bool, error)
}

// DefaultBatch is how many tokens are read, and written in one statement
// and one commit, at a time.
const DefaultBatch = store.BulkMax

// DefaultWriters is how many batches are written at once: one backend of
// our database inserting while others do, which a single writer left idle
// (measured: one writer 6,000 tokens/s, three 18,000/s, see
// docs/scale.md).
const DefaultWriters = 3

// Options tune an import.
type Options struct {
	DryRun bool      // report what would be imported, write nothing
	Now    time.Time // decides which tokens are expired; zero = time.Now()
	Batch  int       // tokens a batch, at most store.BulkMax; 0 = DefaultBatch
	// Writers is how many batches are written at once; 0 =
	// DefaultWriters.
	Writers int
	// Progress, when set, is called after each batch of tokens with the
	// number of Kong token rows handled so far.
	Progress func(tokens int)
}

// Import writes src into s (nothing with DryRun) and reports what it did,
// or with DryRun what it would do. Tokens stream: memory holds one batch,
// whatever the size of Kong's table. An error means the store failed;
// what was written before stays (each batch is committed), and a second
// run completes the work: tokens already stored are skipped.
func Import(ctx context.Context, s Store, src Source, opt Options) (Report, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Batch <= 0 || opt.Batch > store.BulkMax {
		opt.Batch = DefaultBatch
	}
	if opt.Writers <= 0 {
		opt.Writers = DefaultWriters
	}
	im := importer{s: s, dryRun: opt.DryRun, now: opt.Now, clients: map[string]string{}, seen: map[string]bool{}}
	for _, c := range src.Credentials {
		if err := im.client(ctx, c); err != nil {
			return Report{}, err
		}
	}
	if src.Tokens != nil {
		if err := im.stream(ctx, src, opt); err != nil {
			return Report{}, err
		}
	}
	im.summarize()
	if im.rep.Problems == nil {
		im.rep.Problems = []string{}
	}
	return im.rep, nil
}

type importer struct {
	s      Store
	dryRun bool
	now    time.Time
	rep    Report

	clients map[string]string // Kong credential id → our client_id, for clients that exist after the import
	seen    map[string]bool   // client_ids met in the source

	noUser        int
	orphans       map[string]int // client (or credential id) → tokens left out with it
	invalidTokens int
}

func (im *importer) problemf(format string, a ...any) {
	im.rep.Problems = append(im.rep.Problems, fmt.Sprintf(format, a...))
}

// label names a credential in a problem: client_id and consumer.
func label(c Credential) string {
	who := c.ConsumerUsername
	if who == "" {
		who = c.ConsumerID
	}
	if c.ClientID == "" {
		return fmt.Sprintf("credential %s of consumer %s", c.ID, who)
	}
	return fmt.Sprintf("client %q of consumer %s", c.ClientID, who)
}

func (im *importer) client(ctx context.Context, c Credential) error {
	cl, problem := convert(c)
	if problem != "" {
		im.rep.Clients.Skipped++
		im.problemf("%s: %s; not imported", label(c), problem)
		return nil
	}
	if im.seen[cl.ID] {
		im.rep.Clients.Skipped++
		im.problemf("%s: the client_id appears twice (two workspaces?); only the first is imported", label(c))
		return nil
	}
	im.seen[cl.ID] = true
	have, err := im.s.Client(ctx, cl.ID)
	switch {
	case err == nil:
		im.rep.Clients.Skipped++
		// Ours already: imported by an earlier run (resumed), or another
		// client that took the client_id. Kong's tokens are attached to
		// it only if it is this credential, or they would be another
		// consumer's, or come back under a client made again since.
		if other := differs(have, cl, c); other != "" {
			im.problemf("%s: the client_id is taken here by %s; neither it nor its tokens are imported", label(c), other)
			return nil
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	case im.dryRun:
		im.rep.Clients.Imported++
	default:
		if err := im.s.CreateClient(ctx, cl); errors.Is(err, store.ErrConflict) {
			im.rep.Clients.Skipped++ // created meanwhile by someone else
		} else if err != nil {
			return err
		} else {
			im.rep.Clients.Imported++
		}
	}
	if c.ID != "" {
		im.clients[c.ID] = cl.ID
	}
	return nil
}

// differs says how our client have is not the one Kong's c converts to
// (cl): another consumer, type or secret; "" when it is the same.
func differs(have, cl store.Client, c Credential) string {
	switch {
	case have.Consumer != cl.Consumer:
		return "a client of another consumer"
	case have.Type != cl.Type:
		return "a client of another type"
	case cl.Type == store.Public:
		return ""
	case c.Hashed:
		if have.SecretHash != cl.SecretHash {
			return "a client with another secret"
		}
	case !clientsecret.Verify(have, c.Secret, store.DigestOf(c.Secret)):
		return "a client with another secret"
	}
	return ""
}

// convert maps a Kong credential to our client, or says why it cannot.
func convert(c Credential) (store.Client, string) {
	cl := store.Client{
		ID: c.ClientID, Name: c.Name, Consumer: c.ConsumerID, Type: store.Confidential,
		RedirectURIs: c.RedirectURIs, CreatedAt: c.CreatedAt.UTC().Truncate(time.Second),
	}
	if cl.Consumer == "" {
		cl.Consumer = c.ConsumerUsername
	}
	if cl.Name == "" {
		cl.Name = c.ConsumerUsername
	}
	if cl.CreatedAt.IsZero() {
		cl.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	switch {
	case c.ClientID == "":
		return cl, "no client_id"
	case !oauth.Printable(c.ClientID) || utf8.RuneCountInString(c.ClientID) > 255:
		// Kong accepts any client_id; an app may send one with a space or
		// a ':' in the body, so only what no request can carry is refused.
		return cl, "the client_id is not 1 to 255 printable characters"
	case cl.Consumer == "":
		return cl, "no consumer"
	}
	switch c.ClientType {
	case "", store.Confidential:
	case store.Public:
		cl.Type = store.Public
		return cl, "" // Kong checks no secret for a public client, nor do we
	default:
		return cl, fmt.Sprintf("unknown client_type %q", c.ClientType)
	}
	switch {
	case !c.HasSecret || c.Secret == "":
		return cl, "a confidential client without a client_secret"
	case c.Hashed:
		if !clientsecret.IsKongHash(c.Secret) {
			return cl, "the client_secret is hashed (hash_secret) in a form other than Kong 3.9's $pbkdf2-sha512$i=10000,l=32$…"
		}
		cl.SecretHash = c.Secret
	default:
		if err := clientsecret.Set(&cl, c.Secret); err != nil {
			if errors.Is(err, clientsecret.ErrInvalid) {
				return cl, "the client_secret is not 1 to 255 printable characters"
			}
			return cl, err.Error()
		}
	}
	return cl, ""
}

// stream reads Kong's tokens in one goroutine, converts them in this
// one, and writes them in opt.Writers more: reading batch n+1 (Kong's
// database), converting batch n and writing the batches before it (ours,
// several backends) overlap. A fixed number of buffers goes round, so
// memory holds a few batches whatever the size of Kong's table. Batches
// are independent transactions and may commit out of order; an
// interrupted import leaves whole batches, and the rerun fills the gaps.
func (im *importer) stream(caller context.Context, src Source, opt Options) error {
	ctx, cancel := context.WithCancel(caller)
	defer cancel()
	free := make(chan []Token, 2)
	full := make(chan []Token)
	for range 2 {
		free <- make([]Token, 0, opt.Batch)
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		readErr <- src.Tokens(ctx, opt.Batch, func(ts []Token) error {
			var buf []Token
			select {
			case buf = <-free:
			case <-ctx.Done():
				return ctx.Err()
			}
			// Copied: the reader reuses ts for the next batch.
			full <- append(buf[:0], ts...)
			return nil
		})
	}()

	type job struct {
		toks []store.Token
		rows int // Kong rows the batch came from, for the progress count
	}
	work := make(chan job)
	spare := make(chan []store.Token, opt.Writers+1)
	for range opt.Writers + 1 {
		spare <- make([]store.Token, 0, opt.Batch)
	}
	var (
		mu       sync.Mutex // guards im.rep.Tokens, done, writeErr
		done     int
		writeErr error
		wg       sync.WaitGroup
	)
	for range opt.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				n, err := im.write(ctx, j.toks)
				mu.Lock()
				if err != nil {
					if writeErr == nil {
						writeErr = err
						cancel() // stop the reader; the rest drains
					}
				} else {
					// A token stored before (an earlier or interrupted
					// run) or rotated since (its row is revoked, its
					// digests taken) is skipped.
					im.rep.Tokens.Imported += n
					im.rep.Tokens.Skipped += len(j.toks) - n
					done += j.rows
					if opt.Progress != nil {
						opt.Progress(done)
					}
				}
				mu.Unlock()
				spare <- j.toks[:0]
			}
		}()
	}
	for ts := range full {
		if ctx.Err() == nil {
			batch := <-spare
			skipped := 0
			for _, t := range ts {
				if tok, ok := im.token(t); ok {
					batch = append(batch, tok)
				} else {
					skipped++
				}
			}
			mu.Lock()
			im.rep.Tokens.Skipped += skipped
			mu.Unlock()
			work <- job{batch, len(ts)}
		}
		free <- ts
	}
	close(work)
	wg.Wait()
	err := writeErr
	if err == nil {
		err = <-readErr
	}
	if err != nil && caller.Err() != nil {
		// The caller gave up (Ctrl-C, the command's deadline) while a
		// statement ran: lib/pq then answers with either the context's
		// error or the server's "canceling statement due to user
		// request", whichever comes first. Say what happened.
		return caller.Err()
	}
	return err
}

// write stores one batch (with dryRun, looks it up) and returns how many
// of its tokens were (would be) imported.
func (im *importer) write(ctx context.Context, batch []store.Token) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	if !im.dryRun {
		return im.s.InsertTokens(ctx, batch)
	}
	present, err := im.s.PresentTokens(ctx, batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range present {
		if !p {
			n++
		}
	}
	return n, nil
}

// token converts a Kong token to ours, or counts why it is left out.
func (im *importer) token(t Token) (store.Token, bool) {
	if expired(t, im.now) {
		return store.Token{}, false // Kong would refuse it too: nothing to carry over
	}
	if t.AuthenticatedUserID == "" {
		im.noUser++ // client_credentials: not a password-grant token
		return store.Token{}, false
	}
	clientID, ok := im.clients[t.CredentialID]
	if !ok {
		if im.orphans == nil {
			im.orphans = map[string]int{}
		}
		im.orphans[t.CredentialID]++
		return store.Token{}, false
	}
	if t.Access == "" || t.CreatedAt.IsZero() || !oauth.Printable(t.AuthenticatedUserID) {
		im.invalidTokens++
		return store.Token{}, false
	}
	tok := store.Token{
		Access:              store.DigestOf(t.Access),
		ClientID:            clientID,
		ServiceID:           t.ServiceID,
		AuthenticatedUserID: t.AuthenticatedUserID,
		Scope:               t.Scope,
		IssuedAt:            t.CreatedAt.UTC().Truncate(time.Second),
		ExpiresIn:           t.ExpiresIn,
		FamilyID:            "kong-" + t.ID,
	}
	if t.Refresh != "" {
		r := store.DigestOf(t.Refresh)
		tok.Refresh = &r
		tok.RefreshExpiresAt = t.TTL
	}
	if !t.TTL.IsZero() {
		// Kong deletes the row at its ttl, access token included: a
		// refresh_token_ttl shorter than token_expiration ends the access
		// token there too. Ours is valid while now - issued_at <=
		// expires_in, so it ends a second before the ttl.
		if end := t.TTL.Unix() - tok.IssuedAt.Unix() - 1; tok.ExpiresIn <= 0 || end < tok.ExpiresIn {
			tok.ExpiresIn = max(end, 1)
		}
	}
	return tok, true
}

// expired follows Kong: the row is gone once its ttl passed (Kong's DAO
// no longer returns it); otherwise it is alive while its access token is
// (valid while now - created_at <= expires_in; 0 = never) or while it has
// a refresh token.
func expired(t Token, now time.Time) bool {
	if !t.TTL.IsZero() && !now.Before(t.TTL) {
		return true
	}
	accessAlive := t.ExpiresIn <= 0 || now.Unix()-t.CreatedAt.Unix() <= t.ExpiresIn
	return !accessAlive && t.Refresh == ""
}

// summarize adds one problem per kind of token left out, never one per
// token (a busy Kong has millions).
func (im *importer) summarize() {
	if im.noUser > 0 {
		im.problemf("%d unexpired tokens without authenticated_userid (client_credentials grant) not imported: only password-grant tokens move", im.noUser)
	}
	if im.invalidTokens > 0 {
		im.problemf("%d unexpired tokens with no access_token, no created_at or an authenticated_userid no header can carry not imported", im.invalidTokens)
	}
	creds := make([]string, 0, len(im.orphans))
	for id := range im.orphans {
		creds = append(creds, id)
	}
	sort.Strings(creds)
	for _, id := range creds {
		im.problemf("%d unexpired tokens of credential %s not imported: their client was not imported", im.orphans[id], id)
	}
}

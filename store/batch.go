package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Group commit for CreateToken.
//
// Every issued token is one row, and on PostgreSQL with synchronous_commit
// on each commit waits for a WAL flush: one token per transaction makes the
// commit, not the work, the limit. Concurrent CreateToken calls therefore
// hand their rows to a writer, which takes whatever is queued (nothing is
// waited for: an empty queue means a batch of one, written exactly as a
// lone CreateToken always was) and stores it with one multi-row INSERT,
// one statement, one transaction, one commit. Every caller returns only
// after the statement holding its row has committed, so a token answered
// 200 is as durable as before.

// maxTokenBatch bounds one multi-row INSERT (11 or 12 parameters a row:
// at most 768 in all, far below both databases' limits) and so the
// latency a batch adds to the requests in it.
const maxTokenBatch = 64

// errStoreClosed answers a CreateToken that arrives after Close.
var errStoreClosed = errors.New("store: closed")

// pendingToken is one CreateToken waiting for its batch.
type pendingToken struct {
	ctx  context.Context
	t    Token
	row  tokenRow
	done chan error // buffered: the writer never blocks on an answer
}

// tokenBatcher queues CreateToken calls for its writers.
type tokenBatcher struct {
	s       *sqlStore
	writers int
	in      chan *pendingToken
	once    sync.Once     // starts the writers at the first CreateToken
	quit    chan struct{} // closed by stop
	stopped chan struct{} // closed when every writer has returned
	stopMu  sync.Once
}

func newTokenBatcher(s *sqlStore, writers int) *tokenBatcher {
	return &tokenBatcher{
		s:       s,
		writers: max(1, writers),
		in:      make(chan *pendingToken, 4*maxTokenBatch),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// create queues t (row: its parameters) and waits for the commit of the
// batch holding it.
func (b *tokenBatcher) create(ctx context.Context, t Token, row tokenRow) error {
	b.once.Do(b.start)
	p := &pendingToken{ctx: ctx, t: t, row: row, done: make(chan error, 1)}
	select {
	case <-b.quit:
		return errStoreClosed
	default:
	}
	select {
	case b.in <- p:
	case <-b.quit:
		return errStoreClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-b.stopped:
		// Writers answer every row they took before returning.
		select {
		case err := <-p.done:
			return err
		default:
			return errStoreClosed
		}
	case <-ctx.Done():
		// The row may still be written and committed; it is then a
		// token nobody was told, which nothing can use.
		return ctx.Err()
	}
}

func (b *tokenBatcher) start() {
	var wg sync.WaitGroup
	for range b.writers {
		wg.Go(b.run)
	}
	go func() { wg.Wait(); close(b.stopped) }()
}

// stop ends the writers once the batches they hold are answered.
func (b *tokenBatcher) stop() {
	b.stopMu.Do(func() {
		close(b.quit)
		b.once.Do(func() { close(b.stopped) }) // never started
	})
	<-b.stopped
}

// run is one writer: it takes the first waiting row, everything queued
// behind it (without waiting for more), and writes them as one batch.
func (b *tokenBatcher) run() {
	batch := make([]*pendingToken, 0, maxTokenBatch)
	for {
		select {
		case p := <-b.in:
			batch = append(batch[:0], p)
		case <-b.quit:
			return
		}
	fill:
		for len(batch) < maxTokenBatch {
			select {
			case p := <-b.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.s.writeTokens(batch)
		clear(batch)
	}
}

// writeTokens stores a batch and answers each of its rows.
func (s *sqlStore) writeTokens(batch []*pendingToken) {
	live := make([]*pendingToken, 0, len(batch))
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.done <- err // its caller has gone: write nothing for it
			continue
		}
		live = append(live, p)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		p := live[0]
		p.done <- s.createOne(p.ctx, p.t, p.row)
		return
	}
	ctx, cancel := batchContext(live)
	errs, err := s.insertTokens(ctx, live)
	cancel()
	if err != nil {
		// The statement failed as a whole: a row names a client deleted
		// meanwhile (foreign key), or an owner id cached before that, the
		// connection broke, … Nothing of it is stored; each row is tried
		// again on its own and answered as it would have been without
		// batching, so one bad row fails only itself.
		for _, p := range live {
			p.done <- s.createOne(p.ctx, p.t, p.row)
		}
		return
	}
	for i, p := range live {
		p.done <- errs[i]
	}
}

// batchContext lasts as long as the most patient caller in the batch:
// the latest deadline among them, none if one has none. A caller that
// gives up earlier returns on its own context.
func batchContext(batch []*pendingToken) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		d, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(p.ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}

// createOne stores one token in its own autocommit statement; row is its
// parameters (rowArgs).
func (s *sqlStore) createOne(ctx context.Context, t Token, row tokenRow) error {
	release, err := s.queueWriter(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.withFreshOwner(ctx, t, row, func(row tokenRow) error { return s.insertToken(ctx, s.db, t, row) })
}

// insertTokens stores batch with one autocommit multi-row INSERT and
// returns each row's answer: nil when stored, ErrConflict when a digest was
// already taken (ON CONFLICT DO NOTHING skips only that row). err is set
// when the statement as a whole failed and nothing was stored.
//
// The rows go in client_id order. Each row's foreign-key check takes a key
// share lock on its client row; in one order across batches, two batches
// and two client deletions can never wait for each other in a cycle (see
// lockTokens for the lock order of everything else).
func (s *sqlStore) insertTokens(ctx context.Context, batch []*pendingToken) ([]error, error) {
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return batch[order[a]].t.ClientID < batch[order[b]].t.ClientID })
	var q strings.Builder
	q.WriteString(s.d.tok.insertInto + ` VALUES `)
	args := make([]any, 0, len(batch[0].row.args)*len(batch))
	for n, i := range order {
		if n > 0 {
			q.WriteByte(',')
		}
		q.WriteString(s.d.tok.values(len(args)))
		args = append(args, batch[i].row.args...)
	}
	q.WriteString(` ON CONFLICT DO NOTHING RETURNING access_digest`)

	release, err := s.queueWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: create tokens: %w", err)
	}
	stored := make(map[Digest]int, len(batch))
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: create tokens: %w", err)
		}
		d, err := digestFrom(b)
		if err != nil {
			rows.Close()
			return nil, err
		}
		stored[d]++
	}
	// The implicit transaction commits when the statement completes;
	// an error from here on (the commit's included) means nothing of
	// the batch can be counted on.
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("store: create tokens: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: create tokens: %w", err)
	}
	errs := make([]error, len(batch))
	for _, i := range order {
		a := batch[i].t.Access
		if stored[a] > 0 {
			stored[a]--
			continue
		}
		errs[i] = ErrConflict
	}
	return errs, nil
}

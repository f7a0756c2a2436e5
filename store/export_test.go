package store

import "context"

// WriteTokenBatch stores toks as one group-commit batch, exactly as the
// writer does with the calls it finds queued together, and returns each
// token's answer.
func WriteTokenBatch(ctx context.Context, s Store, toks []Token) []error {
	var ss *sqlStore
	switch v := s.(type) {
	case *Postgres:
		ss = v.sqlStore
	case *SQLite:
		ss = v.sqlStore
	default:
		panic("WriteTokenBatch: not an SQL store")
	}
	batch := make([]*pendingToken, len(toks))
	for i, t := range toks {
		batch[i] = &pendingToken{ctx: ctx, t: t, done: make(chan error, 1)}
	}
	ss.writeTokens(batch)
	errs := make([]error, len(toks))
	for i, p := range batch {
		errs[i] = <-p.done
	}
	return errs
}

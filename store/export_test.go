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
	// A row whose parameters cannot be made (its client unknown when its
	// owner is looked up) is answered then, as CreateToken does, and never
	// reaches the writer.
	var batch []*pendingToken
	answers := make([]chan error, len(toks))
	for i, t := range toks {
		answers[i] = make(chan error, 1)
		row, err := ss.rowArgs(ctx, t)
		if err != nil {
			answers[i] <- err
			continue
		}
		batch = append(batch, &pendingToken{ctx: ctx, t: t, row: row, done: answers[i]})
	}
	ss.writeTokens(batch)
	errs := make([]error, len(toks))
	for i, a := range answers {
		errs[i] = <-a
	}
	return errs
}

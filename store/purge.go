package store

import (
	"context"
	"log/slog"
	"time"
)

// purgePause separates full batches, so that a large backlog is deleted
// without holding the database busy in one long burst.
const purgePause = 50 * time.Millisecond

// RunPurger deletes dead tokens from s at once and then every `every`
// (default 1m), batch rows at a time (default 1000), until ctx is done. A
// full batch means there may be more, so it goes on after a short pause.
// Several processes may purge one database at the same time.
func RunPurger(ctx context.Context, s Store, every time.Duration, batch int, now func() time.Time, log *slog.Logger) {
	if every <= 0 {
		every = time.Minute
	}
	if batch <= 0 {
		batch = 1000
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for {
			n, err := s.PurgeExpired(ctx, now(), batch)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("purging expired tokens failed", "err", err)
				}
				break
			}
			if n < batch {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(purgePause):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

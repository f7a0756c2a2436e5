package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// Loaded token i has access token accessOf(i) and refresh token
// refreshOf(i): the harness can present any of them over HTTP. Expired
// tokens (for the purge rows) are expiredOf(i).
func accessOf(i int) string  { return fmt.Sprintf("scaleA%026d", i) }
func refreshOf(i int) string { return fmt.Sprintf("scaleR%026d", i) }
func expiredOf(i int) string { return fmt.Sprintf("scaleX%026d", i) }

type inserter interface {
	InsertTokens(ctx context.Context, ts []store.Token) (int, error)
}

// template is a token issued through serve's token endpoint: loaded tokens
// copy its client, service, scope and lifetimes, so that the rows are
// those issuance writes.
func template(ctx context.Context, s store.Store, access string) (store.Token, error) {
	return s.TokenByAccess(ctx, store.DigestOf(access))
}

// loadTokens stores tokens from..to-1 (writers in parallel, each a batch of
// store.BulkMax a statement) and returns the rate.
func loadTokens(ctx context.Context, s store.Store, tpl store.Token, from, to, writers int, expired bool) (float64, error) {
	ins, ok := s.(inserter)
	if !ok {
		return 0, fmt.Errorf("the store %T has no InsertTokens", s)
	}
	now := time.Now()
	refreshTTL := tpl.RefreshExpiresAt.Sub(tpl.IssuedAt)
	var next atomic.Int64
	next.Store(int64(from))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     atomic.Int64
	)
	start := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				d := done.Load()
				progress("  loaded %d of %d (%.0f/s)", d, to-from, float64(d)/time.Since(start).Seconds())
			}
		}
	}()
	defer close(stopProgress)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]store.Token, 0, store.BulkMax)
			for ctx.Err() == nil {
				lo := int(next.Add(store.BulkMax)) - store.BulkMax
				if lo >= to {
					return
				}
				hi := min(lo+store.BulkMax, to)
				batch = batch[:0]
				for i := lo; i < hi; i++ {
					t := tpl
					t.Revoked = false
					t.FamilyID = fmt.Sprintf("%0*d", max(len(tpl.FamilyID), 8), i)
					t.AuthenticatedUserID = fmt.Sprintf("user-%d", i%100000)
					if expired {
						t.Access = sha256.Sum256([]byte(expiredOf(i)))
						t.Refresh, t.RefreshExpiresAt = nil, time.Time{}
						t.IssuedAt, t.ExpiresIn = now.Add(-3*time.Hour), 60
						t.FamilyID = "x" + t.FamilyID
					} else {
						t.Access = sha256.Sum256([]byte(accessOf(i)))
						r := store.Digest(sha256.Sum256([]byte(refreshOf(i))))
						t.Refresh = &r
						t.IssuedAt = now
						if !tpl.RefreshExpiresAt.IsZero() {
							t.RefreshExpiresAt = now.Add(refreshTTL)
						}
					}
					batch = append(batch, t)
				}
				n, err := ins.InsertTokens(ctx, batch)
				if err == nil && n != len(batch) {
					err = fmt.Errorf("stored %d of %d tokens: some were loaded before", n, len(batch))
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				done.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(to-from) / time.Since(start).Seconds(), nil
}

// purge deletes every expired token the way serve's purger does
// (store.PurgeExpired, batches of 1000, here without its pause between
// batches) and returns the rows deleted per second.
func purge(ctx context.Context, s store.Store, want int) (float64, error) {
	start := time.Now()
	total := 0
	for {
		n, err := s.PurgeExpired(ctx, time.Now(), 1000)
		if err != nil {
			return 0, err
		}
		total += n
		if n < 1000 {
			break
		}
	}
	if total < want {
		return 0, fmt.Errorf("the purge deleted %d rows, want at least %d", total, want)
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

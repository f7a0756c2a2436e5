package main

import (
	"context"
	"fmt"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// The cache-miss goal compares the p99 of a store of 10^7 tokens with one
// of 10^5. Measured one after the other, minutes apart, the two p99s also
// differ by whatever else the two-core machine was doing then (the 10^5
// p99 alone moved between 2.2 and 3.5 ms from run to run). So each size's
// misses are also measured side by side with a reference store that stays
// at the smallest size: its own PostgreSQL server (its own shared buffers,
// as if alone), its own serve, the same settings, and rounds that
// alternate between the two, so that a burst of noise lands on both.

// sideBySide is one such measurement: the store at its size, and the
// reference store in the same rounds.
type sideBySide struct {
	p99, refP99 time.Duration
}

// sideBySideRounds is how many rounds each side gets; a round is
// samples/sideBySideRounds misses at latencyConc.
const sideBySideRounds = 8

// loadReference starts the reference server and loads size tokens into
// it, as measurePostgres loads its first size.
func (e *env) loadReference(ctx context.Context, size int) error {
	progress("reference PostgreSQL server (for the side-by-side cache-miss rows): loading %d tokens", size)
	ref, err := e.newCluster(ctx)
	e.ref = ref
	if err != nil {
		return err
	}
	s, err := store.Open(ctx, ref.pgURL)
	if err != nil {
		return err
	}
	defer s.Close()
	tpl, err := e.templateToken(ctx, ref.pgURL, ref.pgClient, s)
	if err != nil {
		return err
	}
	if _, err := loadTokens(ctx, s, tpl, 0, size, 3, false); err != nil {
		return err
	}
	if _, err := ref.admin.ExecContext(ctx, `VACUUM ANALYZE tokens`); err != nil {
		return err
	}
	e.refSize = size
	return ref.restartPG(ctx)
}

// missSideBySide starts serve on the reference store and measures cache
// misses through sp (the store at size) and through it in alternating
// rounds, after a warm-up of each as measureMiss does.
func (e *env) missSideBySide(ctx context.Context, sp *serveProc, size, samples int) (sideBySide, error) {
	var r sideBySide
	ref, err := e.startServe(ctx, e.ref.pgURL, e.ref.pgClient, accessOf(picks.pick(e.refSize, 1)[0]))
	if err != nil {
		return r, fmt.Errorf("serve on the reference store: %w", err)
	}
	defer ref.close()
	type side struct {
		size int
		auth func(context.Context, string) error
		lat  []time.Duration
	}
	sides := [2]*side{{size: size, auth: sp.authOp()}, {size: e.refSize, auth: ref.authOp()}}
	run := func(s *side, n int) ([]time.Duration, error) {
		lat, _, err := drive(ctx, latencyConc, picks.pick(s.size, n), func(ctx context.Context, i int) error { return s.auth(ctx, accessOf(i)) })
		return lat, err
	}
	for _, s := range sides {
		if _, err := run(s, samples/2); err != nil {
			return r, err
		}
	}
	per := max(samples/sideBySideRounds, 1)
	for i := range sideBySideRounds {
		for j := range 2 {
			s := sides[(i+j)%2] // A B, B A, …
			lat, err := run(s, per)
			if err != nil {
				return r, err
			}
			s.lat = append(s.lat, lat...)
		}
	}
	a, b := sides[0].lat, sides[1].lat
	return sideBySide{quantile(a, 0.99), quantile(b, 0.99)}, nil
}

// ratio99 is the side-by-side p99 ratio, store ÷ reference.
func (s sideBySide) ratio99() float64 { return ratio(s.p99, s.refP99) }

package main

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

// shortSecret is in-process issuance (the engine over store.Cached over
// PostgreSQL, as in the in-process row) for a client whose secret is short
// and so kept as an argon2id hash: with the process's remembered
// verifications (the default) against every request paying the hash.
type shortSecret struct {
	concurrency      int
	remembered, slow *sample
}

const shortSecretValue = "secret123"

func measureShortSecret(ctx context.Context, pgURL string, o options) (shortSecret, error) {
	s, err := store.Open(ctx, pgURL)
	if err != nil {
		return shortSecret{}, err
	}
	cl := store.Client{ID: "short-secret-app", Name: "short", Consumer: "bob", Type: store.Confidential,
		CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if err := clientsecret.Set(&cl, shortSecretValue); err != nil {
		s.Close()
		return shortSecret{}, err
	}
	err = s.CreateClient(ctx, cl)
	s.Close()
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return shortSecret{}, err
	}
	p, err := openInProcIssuer(ctx, pgURL, client{ID: cl.ID, Secret: shortSecretValue})
	if err != nil {
		return shortSecret{}, err
	}
	defer p.close()

	// clientsecret.Default is swapped only between rounds, while no
	// request is in flight.
	remember, forget := clientsecret.Default, clientsecret.NewVerifier(0, 0)
	defer func() { clientsecret.Default = remember }()
	sides := []struct {
		v *clientsecret.Verifier
		s side
		x *sample
	}{
		{remember, side{name: "remembered", op: p.issue}, &sample{name: "remembered"}},
		{forget, side{name: "argon2id every request", op: p.issue}, &sample{name: "argon2id every request"}},
	}
	run := func(i int, d time.Duration, into bool) error {
		clientsecret.Default = sides[i].v
		var x *sample
		if into {
			x = sides[i].x
		}
		_, err := runRound(ctx, sides[i].s, o.issueConc, d, x)
		return err
	}
	for i := range sides { // warm-up: the client cached, the hash remembered
		if err := run(i, o.round/2, false); err != nil {
			return shortSecret{}, err
		}
	}
	for r := range max(2, o.rounds/4) {
		for _, i := range [][]int{{0, 1}, {1, 0}}[r%2] {
			if err := run(i, o.round, true); err != nil {
				return shortSecret{}, err
			}
		}
	}
	for _, sd := range sides {
		slices.Sort(sd.x.lat)
	}
	return shortSecret{concurrency: o.issueConc, remembered: sides[0].x, slow: sides[1].x}, nil
}

// runShortSecretOnly measures only the short-secret rows, on a PostgreSQL
// of its own (-short-secret-only).
func runShortSecretOnly(ctx context.Context, o options) (*report, error) {
	progress("starting PostgreSQL (pgtest)")
	srv, err := pgtest.New()
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	progress("issuance with a short-secret client, in process, at concurrency %d", o.issueConc)
	ss, err := measureShortSecret(ctx, srv.URL(), o)
	if err != nil {
		return nil, err
	}
	return &report{opts: o, machine: machine(), shortSecret: ss}, nil
}

func (r *report) printShortSecret(p func(string, ...any)) {
	ss := r.shortSecret
	if ss.remembered == nil {
		return
	}
	p("| Token issuance in process with a short-secret client (argon2id), remembered verification vs argon2id on every request, PostgreSQL fsync=off, concurrency %d: tokens/s | %s | %s | %.1f× cost per token without remembering (median of round pairs) | | |",
		ss.concurrency, num(ss.remembered.perSecond()), num(ss.slow.perSecond()), pairedCost(ss.slow, ss.remembered))
	p("| … latency p50 / p99 | %s / %s | %s / %s | | | |",
		ms(ss.remembered.quantile(0.50)), ms(ss.remembered.quantile(0.99)), ms(ss.slow.quantile(0.50)), ms(ss.slow.quantile(0.99)))
	rc, sc := ss.remembered.cpuPerOp(), ss.slow.cpuPerOp()
	p("| … CPU per token: bench process (engine + store) / PostgreSQL | %s / %s | %s / %s | | | |",
		us(rc.self), us(rc.postgres), us(sc.self), us(sc.postgres))
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

// runServeIssuanceOnly measures only serve's issuance on a durable
// PostgreSQL (fsync, full_page_writes and synchronous_commit on) against
// the raw lib/pq loop of single-row INSERTs, at the issuance concurrency
// and at 1: the rows the group commit of token writes is judged by.
func runServeIssuanceOnly(ctx context.Context, o options) error {
	e := &env{}
	defer e.close()
	var err error
	if e.dir, err = os.MkdirTemp("", "o2p-bench"); err != nil {
		return err
	}
	progress("building the binary (no -race)")
	e.bin = filepath.Join(e.dir, "bin", "oauth2-password")
	if err := goBuild(e.bin, "./cmd/oauth2-password"); err != nil {
		return err
	}
	progress("starting PostgreSQL (pgtest) with fsync %v", map[bool]string{true: "on", false: "off"}[o.durable])
	if e.pgSrv, err = pgtest.New(); err != nil {
		return err
	}
	e.pgURL = e.pgSrv.URL()
	if o.durable {
		if err := e.pgSrv.Stop(); err != nil {
			return err
		}
		e.pgSrv.SetDurable(true)
		if err := e.pgSrv.Start(); err != nil {
			return err
		}
	}
	label := "PostgreSQL (pgtest, fsync=off)"
	if o.durable {
		label = "PostgreSQL (fsync=on, durable)"
	}
	sp, err := e.startServe(ctx, "serve-postgres", e.pgURL)
	if err != nil {
		return err
	}
	defer sp.close()
	raw, err := openRawPostgres(ctx, e.pgURL, sp.client.ID, service)
	if err != nil {
		return err
	}
	defer raw.close()
	var rows []issuance
	for _, c := range []int{o.issueConc, 1} {
		oc := o
		oc.issueConc = c
		progress("serve issuance vs the raw loop, %s, concurrency %d", label, c)
		r, err := e.compareServeIssuance(ctx, sp, raw, label, oc)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	return writeTable(o, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n\n", label)
		printServeIssuanceOnly(w, rows)
	})
}

func printServeIssuanceOnly(w io.Writer, rows []issuance) {
	fmt.Fprintln(w, "| concurrency | serve tokens/s | raw lib/pq INSERTs/s | ratio | serve p50 | raw p50 | serve CPU/token | PostgreSQL CPU/token (serve) | PostgreSQL CPU/INSERT (raw) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	us := func(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }
	for _, r := range rows {
		oc, rc := r.ours.cpuPerOp(), r.raw.cpuPerOp()
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %.2f× | %v | %v | %s | %s | %s |\n", r.concurrency,
			r.ours.perSecond(), r.raw.perSecond(), r.ours.perSecond()/r.raw.perSecond(),
			r.ours.quantile(0.5).Round(time.Microsecond), r.raw.quantile(0.5).Round(time.Microsecond),
			us(oc.plugin), us(oc.postgres), us(rc.postgres))
	}
}

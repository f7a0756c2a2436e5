package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// report prints the table (one column per store and size) and a verdict
// per goal of issue 20.
func report(w io.Writer, rows []row, imports []importRow, samples int) {
	fmt.Fprintf(w, "\nmake scale, %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	if len(rows) > 0 {
		storeTable(w, rows)
	}
	importTable(w, imports)
	verdicts(w, rows, imports, samples)
}

func storeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{""}
	for _, r := range rows {
		head = append(head, fmt.Sprintf("%s %s", r.store, short(r.size)))
	}
	line := func(name string, f func(r row) string) {
		cells := []string{name}
		for _, r := range rows {
			cells = append(cells, f(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	perS := func(v float64) string { return fmt.Sprintf("%.0f/s", v) }
	line("bulk load (store.InsertTokens)", func(r row) string { return perS(r.loadRate) })
	line("cache-miss validation p50", func(r row) string { return ms(r.missP50) })
	line("cache-miss validation p99", func(r row) string { return ms(r.missP99) })
	line("  same, recommended settings p50", func(r row) string { return pgOnly(r, ms(r.recMissP50)) })
	line("  same, recommended settings p99", func(r row) string { return pgOnly(r, ms(r.recMissP99)) })
	sbs := func(f func(r row) sideBySide) func(r row) string {
		return func(r row) string {
			b := f(r)
			if b.refP99 == 0 {
				return pgOnly(r, "")
			}
			return fmt.Sprintf("%s / %s = %.2f×", ms(b.p99), ms(b.refP99), b.ratio99())
		}
	}
	line("cache-miss p99 side by side: this / reference", sbs(func(r row) sideBySide { return r.sbs }))
	line("  same, recommended settings", sbs(func(r row) sideBySide { return r.recSbs }))
	line("cached validation p50", func(r row) string { return ms(r.cachedP50) })
	line("cached validation p99", func(r row) string { return ms(r.cachedP99) })
	line("introspection p99 (miss)", func(r row) string { return ms(r.introspectP99) })
	line("issuance, concurrency 8", func(r row) string { return perS(r.issuance) })
	line("  WAL per token issued", func(r row) string { return pgOnly(r, bytesOf(r.walPerIssue)) })
	sustained := func(si func(r row) sustainedIssuance) func(r row) string {
		return func(r row) string {
			s := si(r)
			return pgOnly(r, fmt.Sprintf("%.0f/s, %s, %d ckpt", s.rate, bytesOf(s.walPer), s.checkpoints))
		}
	}
	line("issuance sustained (WAL/token, checkpoints)", sustained(func(r row) sustainedIssuance { return r.sustained }))
	line("  same, recommended settings", sustained(func(r row) sustainedIssuance { return r.recSustained }))
	line("refresh, concurrency 8", func(r row) string { return perS(r.refresh) })
	line("revocation, concurrency 8", func(r row) string { return perS(r.revocation) })
	line("purge of expired tokens", func(r row) string { return perS(r.purge) })
	line("bytes per token at rest", func(r row) string { return bytesOf(r.bytesPerToken) })
	line("serve RSS after the run (peak)", func(r row) string { return fmt.Sprintf("%s (%s)", mib(r.rss), mib(r.rssPeak)) })
	line("start-up to first answer", func(r row) string { return ms(r.startup) })
	tw.Flush()
}

func importTable(w io.Writer, imports []importRow) {
	if len(imports) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "import-kong into PostgreSQL\ttokens/s\tpeak RSS\tits own CPU per token\t")
		for _, r := range imports {
			fmt.Fprintf(tw, "%s tokens\t%.0f\t%s\t%.1f µs\t\n", short(r.tokens), r.rate, mib(r.peakRSS), float64(r.cpu.Nanoseconds())/1000)
		}
		tw.Flush()
	}
}

func verdicts(w io.Writer, rows []row, imports []importRow, samples int) {
	fmt.Fprintln(w, "\nverdicts (issue 20's goals):")
	var pg []row
	for _, r := range rows {
		if r.store == "PostgreSQL" {
			pg = append(pg, r)
		}
	}
	verdict := func(ok bool, format string, a ...any) {
		v := "FAIL"
		if ok {
			v = "ok  "
		}
		fmt.Fprintf(w, "  %s %s\n", v, fmt.Sprintf(format, a...))
	}
	if len(pg) >= 2 {
		a, b := pg[0], pg[len(pg)-1]
		span := fmt.Sprintf("%s vs %s tokens", short(b.size), short(a.size))
		if a.size != 100_000 || b.size != 10_000_000 {
			span += " (the goal is 10^7 vs 10^5)"
		}
		// The side-by-side ratio is the verdict (sidebyside.go); the
		// ratio of the two sizes' own measurements, minutes apart, is
		// shown beside it.
		for _, m := range []struct {
			settings string
			sbs      sideBySide
			alone    float64
		}{
			{"default", b.sbs, ratio(b.missP99, a.missP99)},
			{"recommended", b.recSbs, ratio(b.recMissP99, a.recMissP99)},
		} {
			if m.sbs.refP99 == 0 {
				verdict(m.alone <= 1.5, "cache-miss p99, %s settings: %.2f× at %s, measured apart (≤ 1.5×)", m.settings, m.alone, span)
				continue
			}
			x := m.sbs.ratio99()
			verdict(x <= 1.5, "cache-miss p99, %s settings: %.2f× at %s, side by side (≤ 1.5×; measured apart: %.2f×)",
				m.settings, x, span, m.alone)
		}
		x := b.issuance / a.issuance
		verdict(x >= 0.8, "issuance, first %d after a restart, default settings: %.2f× at %s (≥ 0.8×)", samples, x, span)
		x = b.sustained.rate / a.sustained.rate
		verdict(x >= 0.8, "issuance sustained, default settings: %.2f× at %s (≥ 0.8×)", x, span)
		x = b.recSustained.rate / a.recSustained.rate
		verdict(x >= 0.8, "issuance sustained, recommended settings: %.2f× at %s (≥ 0.8×)", x, span)
	} else if len(pg) == 1 {
		fmt.Fprintln(w, "  (the ratio goals need two PostgreSQL sizes)")
	}
	if len(pg) > 0 {
		b := pg[len(pg)-1]
		verdict(b.bytesPerToken <= 300, "bytes per token in PostgreSQL at %s: %.0f (≤ 300)", short(b.size), b.bytesPerToken)
	}
	if len(imports) > 0 {
		last := imports[len(imports)-1]
		verdict(last.rate >= 20_000, "import-kong rate at %s tokens: %.0f/s (≥ 20,000)", short(last.tokens), last.rate)
		if len(imports) >= 2 {
			first := imports[0]
			x := float64(last.peakRSS) / float64(first.peakRSS)
			verdict(x <= 1.2, "import-kong peak RSS at %s vs %s tokens: %.2f× (≤ 1.2×)", short(last.tokens), short(first.tokens), x)
		}
	}
}

func bytesOf(b float64) string { return fmt.Sprintf("%.0f B", b) }

func pgOnly(r row, s string) string {
	if r.store != "PostgreSQL" {
		return "-"
	}
	return s
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// short writes 100000 as 1e5 and 2500000 as 2.5e6.
func short(n int) string {
	e, v := 0, float64(n)
	for v >= 10 {
		v /= 10
		e++
	}
	if v == float64(int(v)) {
		return fmt.Sprintf("%de%d", int(v), e)
	}
	return fmt.Sprintf("%.1fe%d", v, e)
}

// Command scale (`make scale`; not in CI) loads the stores to 10^5, 10^6
// and 10^7 live tokens (PostgreSQL; the embedded store to 10^6) and
// measures, through the real binary's HTTP endpoints, what a request costs
// at each size, side by side in one run; then the Kong import's rate and
// memory. It prints one table and a verdict per goal. docs/scale.md says
// how it loads and what each row is.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

type options struct {
	sizes       []int         // PostgreSQL store sizes, ascending
	sqliteMax   int           // largest embedded store size
	importSizes []int         // Kong token counts for the import rows
	samples     int           // requests per latency row
	sustain     time.Duration // length of the sustained issuance rows
}

func main() {
	var sizes, importSizes string
	o := options{}
	flag.StringVar(&sizes, "sizes", "1e5,1e6,1e7", "live-token counts to load and measure (PostgreSQL), ascending (empty = none: the import rows only)")
	flag.IntVar(&o.sqliteMax, "sqlite-max", 1_000_000, "largest size also measured on the embedded store (0 = none)")
	flag.StringVar(&importSizes, "import-sizes", "1e4,1e6", "Kong token counts for the import rows (empty = none)")
	flag.IntVar(&o.samples, "samples", 4000, "requests per latency measurement")
	flag.DurationVar(&o.sustain, "sustain", 30*time.Second, "length of each sustained issuance measurement (PostgreSQL)")
	flag.Parse()
	var err error
	if o.sizes, err = parseSizes(sizes); err != nil {
		fail(err)
	}
	if o.importSizes, err = parseSizes(importSizes); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	if err := run(ctx, o); err != nil {
		fail(err)
	}
	progress("done in %s", time.Since(start).Round(time.Second))
}

func run(ctx context.Context, o options) (err error) {
	e, err := setup(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	defer func() {
		if r := recover(); r != nil {
			p, ok := r.(picksExhausted)
			if !ok {
				panic(r)
			}
			err = p.error
		}
	}()
	var rows []row
	if len(o.sizes) > 0 && o.samples > 0 {
		if err := e.loadReference(ctx, o.sizes[0]); err != nil {
			return fmt.Errorf("reference store: %w", err)
		}
	}
	for _, n := range o.sizes {
		r, err := e.measurePostgres(ctx, n, o)
		if err != nil {
			return fmt.Errorf("PostgreSQL at %d tokens: %w", n, err)
		}
		rows = append(rows, r)
		progress("  so far: %+v", r)
	}
	for _, n := range o.sizes {
		if n > o.sqliteMax {
			break
		}
		r, err := e.measureSQLite(ctx, n, o)
		if err != nil {
			return fmt.Errorf("embedded store at %d tokens: %w", n, err)
		}
		rows = append(rows, r)
		progress("  so far: %+v", r)
	}
	var imports []importRow
	for _, n := range o.importSizes {
		r, err := e.measureImport(ctx, n)
		if err != nil {
			return fmt.Errorf("import of %d tokens: %w", n, err)
		}
		imports = append(imports, r)
		progress("  so far: %+v", r)
	}
	report(os.Stdout, rows, imports, o.samples)
	return nil
}

// parseSizes reads "1e5,1e6" or "100000,1000000".
func parseSizes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v < 1000 || v > 1e9 {
			return nil, fmt.Errorf("size %q: want a count from 1e3 to 1e9", f)
		}
		if len(out) > 0 && int(v) <= out[len(out)-1] {
			return nil, fmt.Errorf("sizes must ascend: %q", s)
		}
		out = append(out, int(v))
	}
	return out, nil
}

func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "scale: %s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}

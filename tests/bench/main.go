// Command bench measures what the oauth2-password plugin costs on top of
// the Kong plugin protocol, and prints one Markdown table (the README's
// Performance section) with the machine and the command that reproduces it.
//
//	go run ./tests/bench            (make bench)
//
// It measures:
//
//  1. Bearer-token validation through the real socket: the real binary
//     (built without -race) under the Kong-side test host (konghost
//     Host.Do, no HTTP), against the floor plugin (tests/floorplugin: the
//     same four PDK calls and no logic), in alternating short rounds at the
//     same concurrency so that machine noise hits both.
//  2. Token issuance through the socket against a loop doing the same
//     database writes directly (PostgreSQL with lib/pq; the embedded SQLite
//     store with its driver), again in alternating rounds; against the
//     issuance floor (the floor plugin in issue mode: the token endpoint's
//     PDK calls and the same INSERT, no OAuth logic); and, in process, the
//     engine over store.Cached (no socket) against the raw loop.
//     For a client with a short secret (an argon2id hash), in-process
//     issuance with and without the remembered verification.
//     And the standard password grant (authenticate_url, a loopback login
//     backend that answers at once) against the provision_key grant, on
//     the same plugin and database, in alternating rounds.
//  3. The engine's hot paths without the socket: go test -bench on ./plugin
//     and ./store (benchstat input format; summarized with benchstat when
//     it can be fetched).
//  4. Heap bytes per cached token with 1,000,000 tokens cached.
//  5. Store queries per validated request after warm-up (in process: the
//     engine over store.Cached over PostgreSQL).
//  6. Serve mode over loopback HTTP: forward auth of a cached token against
//     a floor HTTP handler (tests/floorhttp), and token issuance through
//     the token endpoint against the raw PostgreSQL and SQLite loops.
//  7. Cross-node revocation: three plugin processes on one PostgreSQL, the
//     time from a revocation (admin CLI, replayed refresh token) to the
//     first 401 on each.
//  9. Upstream JWTs: validation of a cached token with upstream_jwt against
//     without, through the socket and forward auth (upstreamjwt.go), and
//     the first-use signing cost.
//  8. Envoy's gRPC ext_authz Check of a cached token: `serve -grpc` (built
//     without -race) against the floor ext_authz server
//     (tests/envoy/floorauthz: the same grpc-go stack answering OK with the
//     same headers), same client, alternating rounds; and allocations per
//     Check in process (BenchmarkCheckCachedToken, ./pdk/envoy).
//  9. HAProxy's SPOE: a request with a cached token through the real
//     HAProxy on deploy/haproxy's haproxy.cfg with `serve -spoe` against
//     the same HAProxy with the floor SPOE agent (tests/haproxy/floorspoe:
//     the same library, the same variables, no decision), alternating
//     rounds (haproxy.go).
//
// The table goes to stdout and to bin/bench.md (-out), in every mode. It
// is test tooling: it asserts nothing about speed, but it fails if a
// request it sends is not answered correctly. `make test` runs it once with one short
// round per row (smoke_test.go), so that a row that stops running is
// caught before anyone needs the table.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type options struct {
	concurrency []int
	rounds      int
	round       time.Duration
	issueConc   int
	// serveIssueOnly runs only runServeIssuanceOnly.
	serveIssueOnly bool
	benchtime      string
	count          int
	goBench        bool
	tokens         int
	durable        bool
	shortOnly      bool
	envoyOnly      bool
	frontsOnly     bool
	haproxyOnly    bool
	validOnly      bool
	jwtOnly        bool
	// The bounded cache (cachebound.go).
	cacheOnly    bool
	cacheBound   int
	cacheInserts int
	// out is where the table is written; bin/bench.md when empty.
	out string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == cacheBoundChildFlag {
		cacheBoundChild(os.Args[2:])
		return
	}
	var o options
	var conc string
	flag.StringVar(&conc, "concurrency", "8,1", "validation concurrencies (comma-separated)")
	flag.IntVar(&o.rounds, "rounds", 16, "measured rounds per side (A/B alternate)")
	flag.DurationVar(&o.round, "round", 750*time.Millisecond, "length of one round")
	flag.IntVar(&o.issueConc, "issue-concurrency", 8, "token issuance concurrency")
	flag.StringVar(&o.benchtime, "benchtime", "500ms", "go test -benchtime for the engine benchmarks")
	flag.IntVar(&o.count, "count", 6, "go test -count for the engine benchmarks")
	flag.BoolVar(&o.goBench, "gobench", true, "run the go test benchmarks")
	flag.IntVar(&o.tokens, "cached-tokens", 1_000_000, "tokens cached for the heap measurement")
	flag.BoolVar(&o.durable, "durable", true, "also measure PostgreSQL issuance with fsync=on")
	flag.BoolVar(&o.serveIssueOnly, "serve-issuance-only", false, "measure only serve's issuance on a durable PostgreSQL vs the raw lib/pq loop, at -issue-concurrency and 1")
	flag.BoolVar(&o.shortOnly, "short-secret-only", false, "measure only the short-secret issuance rows")
	flag.BoolVar(&o.envoyOnly, "envoy-only", false, "measure only the gRPC ext_authz rows and the Go benchmarks")
	flag.BoolVar(&o.frontsOnly, "fronts-only", false, "measure only the per-request fronts against their floors (gRPC Check, forward auth) and the Go benchmarks")
	flag.BoolVar(&o.haproxyOnly, "haproxy-only", false, "measure only the HAProxy SPOE rows")
	flag.BoolVar(&o.validOnly, "validation-only", false, "measure only the validation rows (metrics off and on, against the floor plugin)")
	flag.BoolVar(&o.jwtOnly, "upstream-jwt-only", false, "measure only the upstream JWT rows (validation with upstream_jwt vs without, Kong socket and forward auth; first-use signing cost)")
	flag.BoolVar(&o.cacheOnly, "cache-only", false, "measure only the bounded token cache (memory after -cache-inserts tokens, lookup latency during expiry sweeps)")
	flag.IntVar(&o.cacheBound, "cache-bound", 1_000_000, "-cache-max-entries of the bounded-cache measurement")
	flag.IntVar(&o.cacheInserts, "cache-inserts", 10_000_000, "distinct tokens cached in the bounded-cache measurement")
	flag.StringVar(&o.out, "out", "", "file the table is also written to (default bin/bench.md)")
	flag.Parse()
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatalf("-concurrency: %q is not a positive integer", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// progress goes to stderr, the table to stdout.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(o options) error {
	start := time.Now()
	ctx := context.Background()
	if o.serveIssueOnly {
		return runServeIssuanceOnly(ctx, o)
	}
	if o.jwtOnly {
		rep, err := runUpstreamJWTOnly(ctx, o)
		if err != nil {
			return err
		}
		rep.wall = time.Since(start)
		return writeTable(o, rep.printUpstreamJWTOnly)
	}
	if o.cacheOnly {
		return runCacheOnly(ctx, o)
	}
	if o.shortOnly {
		rep, err := runShortSecretOnly(ctx, o)
		if err != nil {
			return err
		}
		rep.wall = time.Since(start)
		return writeTable(o, rep.printShortSecretOnly)
	}
	var rep report
	rep.opts = o
	rep.machine = machine()

	env, err := setup(ctx)
	if err != nil {
		return err
	}
	defer env.close()

	if !o.validOnly && !o.envoyOnly && !o.frontsOnly {
		if rep.haproxy, err = env.haproxyRows(ctx, o); err != nil {
			return err
		}
		if o.haproxyOnly {
			rep.wall = time.Since(start)
			return writeTable(o, rep.printHAProxyOnly)
		}
	}
	if !o.validOnly {
		if rep.envoy, err = env.envoyRows(ctx, o); err != nil {
			return err
		}
		if o.envoyOnly {
			return rep.finish(o, start)
		}
		if o.frontsOnly {
			sp, err := env.startServe(ctx, "serve-postgres", env.pgURL)
			if err != nil {
				return err
			}
			defer sp.close()
			if rep.forwardAuth, err = env.forwardAuthRows(ctx, sp, o); err != nil {
				return err
			}
			return rep.finish(o, start)
		}
	}

	for _, c := range o.concurrency {
		progress("validation at concurrency %d: %d rounds of %v per side", c, o.rounds, o.round)
		v, err := env.compareValidation(ctx, c, o)
		if err != nil {
			return err
		}
		rep.validation = append(rep.validation, v)
	}
	if o.validOnly {
		rep.wall = time.Since(start)
		return writeTable(o, rep.printValidationOnly)
	}

	progress("issuance with PostgreSQL (fsync=off) at concurrency %d", o.issueConc)
	is, err := env.compareIssuance(ctx, env.pg, env.rawPG, "PostgreSQL (pgtest, fsync=off)", o)
	if err != nil {
		return err
	}
	rep.issuance = append(rep.issuance, is)
	progress("issuance through the socket vs the issuance floor (PostgreSQL, fsync=off) at concurrency %d", o.issueConc)
	if rep.issueFloor, err = env.compareIssueFloor(ctx, o); err != nil {
		return err
	}
	progress("issuance in process (engine + store.Cached, no socket) vs the raw loop at concurrency %d", o.issueConc)
	if rep.inProc, err = env.compareInProcIssuance(ctx, o); err != nil {
		return err
	}
	progress("issuance with a short-secret client, in process, at concurrency %d", o.issueConc)
	if rep.shortSecret, err = measureShortSecret(ctx, env.pgURL, o); err != nil {
		return err
	}
	progress("issuance with username and password via a loopback login backend vs the provision_key grant at concurrency %d", o.issueConc)
	if rep.login, err = env.compareLogin(ctx, o); err != nil {
		return err
	}
	progress("issuance with the embedded store at concurrency %d", o.issueConc)
	if is, err = env.compareIssuance(ctx, env.lite, env.rawSQLite, "embedded SQLite", o); err != nil {
		return err
	}
	rep.issuance = append(rep.issuance, is)
	if o.durable {
		progress("issuance with PostgreSQL (fsync=on) at concurrency %d", o.issueConc)
		if err := env.setFsync(ctx, true); err != nil {
			return err
		}
		if is, err = env.compareIssuance(ctx, env.pg, env.rawPG, "PostgreSQL (fsync=on, durable)", o); err != nil {
			return err
		}
		rep.issuance = append(rep.issuance, is)
	}

	if rep.forwardAuth, rep.serveIssuance, err = env.serveRows(ctx, o); err != nil {
		return err
	}
	if rep.upstreamJWT, err = measureUpstreamJWT(ctx, env.bin, env.dir, o); err != nil {
		return err
	}

	progress("store queries per validated request (in process)")
	if rep.queries, err = storeQueriesPerValidation(ctx, env.pgURL, env.pg.client, 100_000); err != nil {
		return err
	}
	progress("cross-node revocation: 3 plugin processes on one PostgreSQL")
	if rep.crossNode, err = env.measureCrossNode(ctx, 15); err != nil {
		return err
	}
	env.close() // free the plugin processes before the memory measurement

	progress("heap per cached token (%d tokens)", o.tokens)
	if rep.heapPerToken, err = heapPerCachedToken(ctx, o.tokens); err != nil {
		return err
	}
	progress("bounded token cache: %d tokens into a bound of %d; lookups during expiry sweeps", o.cacheInserts, o.cacheBound)
	if rep.cacheBound, err = measureCacheBound(ctx, o.cacheBound, o.cacheInserts); err != nil {
		return err
	}

	return rep.finish(o, start)
}

// finish runs the Go benchmarks and prints and writes the table.
func (rep *report) finish(o options, start time.Time) error {
	var err error
	if o.goBench {
		progress("go test benchmarks (-count %d -benchtime %s)", o.count, o.benchtime)
		if rep.goBench, err = runGoBench(o); err != nil {
			return err
		}
	}
	rep.wall = time.Since(start)
	return writeTable(o, rep.print)
}

// writeTable prints a run's table to stdout and writes it to -out: every
// mode's, so that -out never leaves a partial run's table unwritten.
func writeTable(o options, print func(io.Writer)) error {
	var table bytes.Buffer
	print(&table)
	os.Stdout.Write(table.Bytes())
	// bin/bench.md is the table as it goes into docs/performance.md.
	out := o.out
	if out == "" {
		out = filepath.Join(root(), "bin", "bench.md")
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, table.Bytes(), 0o644); err != nil {
		return err
	}
	progress("table written to %s", out)
	return nil
}

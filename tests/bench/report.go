package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

type report struct {
	opts       options
	machine    string
	validation []validation
	envoy      []envoyCheck
	haproxy    []envoyCheck
	issuance   []issuance
	issueFloor issueFloor
	// serve mode
	forwardAuth   []validation
	serveIssuance []issuance
	inProc        inProc
	shortSecret   shortSecret
	login         loginCost
	queries       float64
	crossNode     crossNode
	heapPerToken  float64
	upstreamJWT   upstreamJWTRows
	cacheBound    *cacheBound
	goBench       *goBench
	wall          time.Duration
}

// machine describes where the numbers come from.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%s, nproc %d (GOMAXPROCS %d), %s %s/%s", model, runtime.NumCPU(),
		runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	// thousands separators
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (r *report) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("### Measured performance")
	p("")
	p("Machine: %s.  ", r.machine)
	only := ""
	switch {
	case r.opts.envoyOnly:
		only = " -envoy-only"
	case r.opts.frontsOnly:
		only = " -fronts-only"
	}
	p("Reproduce: `make bench` (`go run ./tests/bench%s -concurrency %s -rounds %d -round %v -issue-concurrency %d -count %d -benchtime %s`); wall time %s.",
		only, joinInts(r.opts.concurrency), r.opts.rounds, r.opts.round, r.opts.issueConc, r.opts.count, r.opts.benchtime, r.wall.Round(time.Second))
	p("")
	p("| Measure | oauth2-password | Reference | Ratio | Goal | Met |")
	p("|---|---|---|---|---|---|")
	r.printValidation(p)
	r.printEnvoy(p)
	r.printHAProxy(p)
	for i, is := range r.issuance {
		if i == 1 {
			r.printIssueFloor(p)
			r.printLogin(p)
		}
		rt := 1 / pairedCost(is.ours, is.raw)
		goal, okStr := "≥ 0.7×", met(rt >= 0.7)
		if !is.pg {
			goal, okStr = "", ""
		}
		p("| Token issuance (password grant) through the socket, %s, concurrency %d: tokens/s | %s | %s %s | %.2f× (median of round pairs) | %s | %s |",
			is.store, is.concurrency, num(is.ours.perSecond()), is.raw.name, num(is.raw.perSecond()), rt, goal, okStr)
		p("| … latency p50 / p99 | %s / %s | %s / %s | | | |",
			ms(is.ours.quantile(0.50)), ms(is.ours.quantile(0.99)), ms(is.raw.quantile(0.50)), ms(is.raw.quantile(0.99)))
		oc, rc := is.ours.cpuPerOp(), is.raw.cpuPerOp()
		db := ""
		if is.pg {
			db = " / PostgreSQL"
		}
		p("| … CPU per token: plugin process / test host or loop%s | %s / %s%s | — / %s%s | | | |", db,
			us(oc.plugin), us(oc.self), pgCPU(is, oc), us(rc.self), pgCPU(is, rc))
	}
	for _, v := range r.forwardAuth {
		cost := pairedCost(v.ours, v.floor)
		p("| serve: forward auth of a cached token over loopback HTTP, concurrency %d: requests/s | %s | floor HTTP handler %s | %.3f× cost per request (median of round pairs; totals: %.3f×) | ≤ 1.05× | %s |",
			v.concurrency, num(v.ours.perSecond()), num(v.floor.perSecond()), cost, v.floor.perSecond()/v.ours.perSecond(), met(cost <= 1.05))
		oc, fc := v.ours.cpuPerOp(), v.floor.cpuPerOp()
		p("| … latency p50 / p99; CPU per request: server / client | %s / %s; %s / %s | %s / %s; %s / %s | | | |",
			ms(v.ours.quantile(0.50)), ms(v.ours.quantile(0.99)), us(oc.plugin), us(oc.self),
			ms(v.floor.quantile(0.50)), ms(v.floor.quantile(0.99)), us(fc.plugin), us(fc.self))
	}
	r.printUpstreamJWT(p)
	for _, is := range r.serveIssuance {
		rt := 1 / pairedCost(is.ours, is.raw)
		p("| serve: token issuance through the HTTP token endpoint, %s, concurrency %d: tokens/s | %s | %s %s | %.2f× (median of round pairs) | ≥ 0.7× | %s |",
			is.store, is.concurrency, num(is.ours.perSecond()), is.raw.name, num(is.raw.perSecond()), rt, met(rt >= 0.7))
		oc, rc := is.ours.cpuPerOp(), is.raw.cpuPerOp()
		p("| … latency p50 / p99; CPU per token: server / client or loop%s | %s / %s; %s / %s%s | %s / %s; — / %s%s | | | |",
			map[bool]string{true: " / PostgreSQL"}[is.pg],
			ms(is.ours.quantile(0.50)), ms(is.ours.quantile(0.99)), us(oc.plugin), us(oc.self), pgCPU(is, oc),
			ms(is.raw.quantile(0.50)), ms(is.raw.quantile(0.99)), us(rc.self), pgCPU(is, rc))
	}
	r.printShortSecret(p)
	if !r.opts.envoyOnly && !r.opts.frontsOnly {
		p("| Store queries per validated request after warm-up (100,000 requests, in process) | %g | | | 0 | %s |", r.queries, met(r.queries == 0))
		if cn := r.crossNode; len(cn.lags) > 0 {
			p99 := harness.Quantile(cn.lags, 0.99)
			p("| Cross-node revocation, %d plugin processes on one PostgreSQL: time from the revocation (admin CLI; replayed refresh token) to the first 401 on each node, %d revocations × %d nodes: p50 / p99 / max | %s / %s / %s | change-feed poll: up to `-cache-sync-interval` (2 s) | | p99 ≤ 1 s | %s |",
				cn.nodes, cn.revocations, cn.nodes, ms(harness.Quantile(cn.lags, 0.5)), ms(p99), ms(harness.Quantile(cn.lags, 1)), met(p99 <= time.Second))
		}
		p("| Heap bytes per cached token (%s tokens in store.Cached) | %.0f B | | | ≤ 256 B | %s |", num(float64(r.opts.tokens)), r.heapPerToken, met(r.heapPerToken <= 256))
		if r.cacheBound != nil {
			printCacheBound(p, r.cacheBound)
		}
	}
	if g := r.goBench; g != nil {
		for _, b := range []struct{ name, label string }{
			{"BenchmarkAccessCachedToken", "Engine: cache-hit validation, no socket (median)"},
			{"BenchmarkAccessCachedTokenMetrics", "Engine: cache-hit validation with the Prometheus metrics on, no socket (median)"},
			{"BenchmarkAccessMadeUpToken", "Engine: made-up bearer token from one address, refused by the check value and the address's lookup budget (median; store queries per token in Goal's column)"},
			{"BenchmarkTokenCheckValue", "Engine: checking a token's check value, paid by made-up tokens and by real ones on a cache miss (median)"},
			{"BenchmarkParseTokenRequest", "Engine: token request parsing (median)"},
			{"BenchmarkAuthenticateClient", "Engine: client-secret verification (median)"},
			{"BenchmarkPasswordGrant", "Engine: whole password grant, store writes nothing (median)"},
			{"BenchmarkCheckCachedToken", "Envoy Check of a cached token in process: CheckRequest → engine → CheckResponse, no gRPC (median)"},
		} {
			m, ok := g.median[b.name]
			if !ok {
				continue
			}
			goal, okStr := "", ""
			if b.name == "BenchmarkAccessCachedToken" || b.name == "BenchmarkAccessCachedTokenMetrics" {
				goal, okStr = "≤ 2 allocs/op", met(m["allocs/op"] <= 2)
			}
			if b.name == "BenchmarkAccessMadeUpToken" {
				goal, okStr = fmt.Sprintf("%.3f store queries/token; ≤ 0.1", m["queries/op"]), met(m["queries/op"] <= 0.1)
			}
			p("| %s | %.0f ns/op, %.0f B/op, %.0f allocs/op | | | %s | %s |", b.label, m["ns/op"], m["B/op"], m["allocs/op"], goal, okStr)
		}
	}
	p("")
	p("Notes:")
	p("")
	p("- Socket rows: the real binary (built without -race) and the floor plugin (`tests/floorplugin`: the same 4 PDK calls — get_path, get_header, authenticate, set_headers — and no logic) each under the Kong-side test host (`tests/konghost`, `Host.Do`, no HTTP), on the same machine as the host. Rounds of %v alternate A/B/B/A (%d per side, after a warm-up round each), at the same concurrency. The host's own cost (protobuf framing, request state) is in both sides, as Kong's would be. Cost ratio = floor requests/s ÷ ours in each pair of back-to-back rounds, median over the pairs (robust to a burst of noise from other tenants of the machine); the ratio of the totals is shown too. CPU per request and p50 are the steadier signs of the plugin's own cost.", r.opts.round, r.opts.rounds)
	p("- gRPC ext_authz rows: `serve -grpc` (built without -race, store on the same PostgreSQL database, token, client and consumer cached) against the floor ext_authz server (`tests/envoy/floorauthz`: grpc-go's server answering every Check with a prebuilt OK that sets and removes the same headers), each its own process on loopback, driven by one grpc-go client connection per server from the bench process with the CheckRequest Envoy sends (lower-case headers with pseudo-headers, path with query, context_extensions), in the same A/B/B/A rounds. Every answer is checked (OK, 4 headers set, 3 removed). CPU per check: the server process / the bench process (client).")
	p("- Validation uses the plugin over PostgreSQL with the token, client and consumer cached; after warm-up no store is involved.")
	p("- Issuance: a password grant per request (client authentication, two random tokens, one autocommit INSERT) against a loop in the bench process making the same write: the store's own statement (`store.InsertTokenSQL`) run as `CreateToken` runs it, with the store's pool settings. PostgreSQL is the throwaway server of `store/pgtest` (loopback TCP, same machine), which runs with **fsync=off** and full_page_writes=off; both sides share it, so the ratio compares like with like, but a commit then costs almost nothing and the plugin protocol's round trips dominate. The fsync=on row restarts the server with both on (`pgtest` `SetDurable`) for what a durable server costs. SQLite: WAL, synchronous=NORMAL, one writer at a time, as the store runs it; no goal.")
	// A partial mode (-fronts-only…) measures no issuance floor.
	if r.issueFloor.calls != "" {
		p("- Issuance floor: `tests/floorplugin` started with `-issue-database-url` makes exactly the token endpoint's PDK calls (checked against ours before measuring: %s) and the same INSERT (`store.InsertTokenSQL`, lib/pq, `store.OpenPostgres`'s pool settings) of two SHA-256-digested 32-character random tokens, with no OAuth logic (no parsing, no client authentication, no cache). In process: `plugin.Engine` over `store.Cached` over the same PostgreSQL database, driven by a fake Kong PDK (`pdk/kongaccess.Access`) in the bench process (no socket, no second process), against the raw loop in alternating rounds.", r.issueFloor.calls)
	}
	p("- Standard password grant: a second service of the same plugin process over the same PostgreSQL database, with `authenticate_url` pointing at a plain-HTTP login backend on 127.0.0.1 in the bench process that answers `{\"authenticated_userid\"}` at once; its requests carry `username` and `password` instead of `provision_key` and `authenticated_userid`. The difference between the two rows is the backend call (JSON encoding, a pooled HTTP/1.1 round trip on loopback, decoding) and one more PDK call (the client address, for the login throttle); a real backend adds its own time (a password hash: tens of milliseconds).")
	if n := r.whyNotes(); n != "" {
		p("%s", n)
	}
	p("- serve rows: the real binary running `serve` (plain HTTP on loopback; the token endpoint behind a trusted TLS-terminating proxy, so `X-Forwarded-Proto: https` from 127.0.0.1 with `accept_http_if_already_terminated`) and, for forward auth, `tests/floorhttp` (net/http with serve's default timeouts answering 200 with four identity headers, no logic); one `net/http` client with keep-alive in the bench process drives both sides in alternating rounds. Issuance rows compare with the raw loops above on the same store, writing rows for serve's client.")
	p("- CPU per request: utime+stime of the plugin process (/proc, 10 ms ticks), of the bench process (the test host's side of the socket, or the raw loop) and of all postgres processes, over the measured rounds ÷ requests.")
	p("- Cross-node revocation: three processes of the real binary (default flags) under three Kong-side hosts, one PostgreSQL database. Before each revocation the token validates on every node (so each has it cached); while it runs every node is probed every 2 ms through `Host.Do`; a node's lag is from the acknowledgment (the CLI exited; the replay was answered 400) to its first 401, 0 if earlier. Invalidation arrives by PostgreSQL LISTEN/NOTIFY; the change-feed poll (`-cache-sync-interval`) is the safety net.")
	p("- Store queries: counted with `store.Cached.StoreQueries()` in process (the engine over `store.Cached` over the same PostgreSQL database), not through the socket.")
	p("- Heap per token: `runtime.GC` + `MemStats.HeapAlloc` growth ÷ N, after caching N tokens shaped like the plugin's (32-character client id, UUID service id, distinct user id, hex family id, refresh token).")
	if g := r.goBench; g != nil {
		p("")
		if g.benchstat != "" {
			p("Engine benchmarks (`go test -run '^$' -bench . -benchmem -count %d -benchtime %s ./plugin/ ./store/ ./pdk/envoy/`, summarized by benchstat):", r.opts.count, r.opts.benchtime)
			p("")
			p("```")
			fmt.Fprint(w, strings.TrimRight(g.benchstat, "\n")+"\n")
			p("```")
			p("")
		}
		p("Raw benchmark lines (benchstat input):")
		p("")
		p("```")
		for _, l := range strings.Split(g.raw, "\n") {
			if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "goos") || strings.HasPrefix(l, "goarch") ||
				strings.HasPrefix(l, "pkg") || strings.HasPrefix(l, "cpu") {
				p("%s", l)
			}
		}
		p("```")
	}
}

// printShortSecretOnly is the table of -short-secret-only.
func (r *report) printShortSecretOnly(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("Machine: %s.  ", r.machine)
	p("Reproduce: `go run ./tests/bench -short-secret-only -rounds %d -round %v -issue-concurrency %d`; wall time %s.",
		r.opts.rounds, r.opts.round, r.opts.issueConc, r.wall.Round(time.Second))
	p("")
	p("| Measure | remembered (default) | argon2id every request | Ratio | Goal | Met |")
	p("|---|---|---|---|---|---|")
	r.printShortSecret(p)
}

// printEnvoy prints the gRPC ext_authz rows.
func (r *report) printEnvoy(p func(string, ...any)) {
	for _, v := range r.envoy {
		cost := pairedCost(v.ours, v.floor)
		p("| Envoy ext_authz: gRPC Check of a cached token, `serve -grpc`, concurrency %d: checks/s | %s | floor ext_authz server %s | %.3f× cost per check (median of round pairs; totals: %.3f×) | ≤ 1.05× | %s |",
			v.concurrency, num(v.ours.perSecond()), num(v.floor.perSecond()), cost, v.floor.perSecond()/v.ours.perSecond(), met(cost <= 1.05))
		p("| … latency p50 / p99 per check | %s / %s | %s / %s | %.3f× / %.3f× | | |",
			ms(v.ours.quantile(0.50)), ms(v.ours.quantile(0.99)), ms(v.floor.quantile(0.50)), ms(v.floor.quantile(0.99)),
			ratio(v.ours.quantile(0.50), v.floor.quantile(0.50)), ratio(v.ours.quantile(0.99), v.floor.quantile(0.99)))
		oc, fc := v.ours.cpuPerOp(), v.floor.cpuPerOp()
		p("| … CPU per check: server process / client | %s / %s | %s / %s | %.2f× / %.2f× | | |",
			us(oc.plugin), us(oc.self), us(fc.plugin), us(fc.self), ratio(oc.plugin, fc.plugin), ratio(oc.self, fc.self))
	}
}

// printValidation prints the validation rows.
func (r *report) printValidation(p func(string, ...any)) {
	for _, v := range r.validation {
		cost := pairedCost(v.ours, v.floor) // time per request, ours / floor
		total := v.floor.perSecond() / v.ours.perSecond()
		p("| Validation of a cached bearer token through the socket, concurrency %d: requests/s | %s | floor plugin %s | %.3f× cost per request (median of round pairs; totals: %.3f×) | ≤ 1.10× | %s |",
			v.concurrency, num(v.ours.perSecond()), num(v.floor.perSecond()), cost, total, met(cost <= 1.10))
		p("| … latency p50 / p99 per request | %s / %s | %s / %s | %.3f× / %.3f× | | |",
			ms(v.ours.quantile(0.50)), ms(v.ours.quantile(0.99)), ms(v.floor.quantile(0.50)), ms(v.floor.quantile(0.99)),
			ratio(v.ours.quantile(0.50), v.floor.quantile(0.50)), ratio(v.ours.quantile(0.99), v.floor.quantile(0.99)))
		p("| … PDK round trips per request (Result.RoundTrips) | %d | %d | | ≤ 4 | %s |", v.oursRT, v.floorRT, met(v.oursRT <= 4))
		oc, fc := v.ours.cpuPerOp(), v.floor.cpuPerOp()
		p("| … CPU per request: plugin process / test host | %s / %s | %s / %s | %.2f× / %.2f× | | |",
			us(oc.plugin), us(oc.self), us(fc.plugin), us(fc.self), ratio(oc.plugin, fc.plugin), ratio(oc.self, fc.self))
		if m, mf := v.metrics, v.metricsFloor; m != nil {
			cost := pairedCost(m, mf)
			p("| … the same with `-metrics` on (requests counted and timed, cache lookups counted): requests/s | %s | floor plugin %s | %.3f× cost per request (median of round pairs; totals: %.3f×) | ≤ 1.10× | %s |",
				num(m.perSecond()), num(mf.perSecond()), cost, mf.perSecond()/m.perSecond(), met(cost <= 1.10))
			mc := m.cpuPerOp()
			p("| … with `-metrics`: latency p50 / p99; CPU per request in the plugin process | %s / %s; %s | %s / %s; %s | | | |",
				ms(m.quantile(0.50)), ms(m.quantile(0.99)), us(mc.plugin), ms(mf.quantile(0.50)), ms(mf.quantile(0.99)), us(mf.cpuPerOp().plugin))
		}
	}
}

// printValidationOnly is the table of -validation-only.
func (r *report) printValidationOnly(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("### Measured performance: validation only")
	p("")
	p("Machine: %s.  ", r.machine)
	p("Reproduce: `go run ./tests/bench -validation-only -concurrency %s -rounds %d -round %v`; wall time %s.",
		joinInts(r.opts.concurrency), r.opts.rounds, r.opts.round, r.wall.Round(time.Second))
	p("")
	p("| Measure | oauth2-password | Reference | Ratio | Goal | Met |")
	p("|---|---|---|---|---|---|")
	r.printValidation(p)
}

// printIssueFloor prints the issuance floor and in-process rows, which
// explain the PostgreSQL issuance row above them.
func (r *report) printIssueFloor(p func(string, ...any)) {
	f, ip := r.issueFloor, r.inProc
	if f.ours == nil || ip.ours == nil {
		return
	}
	cost := pairedCost(f.ours, f.floor)
	p("| Token issuance through the socket vs the issuance floor plugin (same PDK calls, same INSERT, no OAuth logic), PostgreSQL fsync=off, concurrency %d: tokens/s | %s | issuance floor %s | %.2f× cost per token (median of round pairs; totals: %.2f×) | | |",
		f.concurrency, num(f.ours.perSecond()), num(f.floor.perSecond()), cost, f.floor.perSecond()/f.ours.perSecond())
	p("| … latency p50 / p99 | %s / %s | %s / %s | %.2f× / %.2f× | | |",
		ms(f.ours.quantile(0.50)), ms(f.ours.quantile(0.99)), ms(f.floor.quantile(0.50)), ms(f.floor.quantile(0.99)),
		ratio(f.ours.quantile(0.50), f.floor.quantile(0.50)), ratio(f.ours.quantile(0.99), f.floor.quantile(0.99)))
	oc, fc := f.ours.cpuPerOp(), f.floor.cpuPerOp()
	p("| … CPU per token: plugin process / test host / PostgreSQL | %s / %s / %s | %s / %s / %s | %.2f× / %.2f× / %.2f× | | |",
		us(oc.plugin), us(oc.self), us(oc.postgres), us(fc.plugin), us(fc.self), us(fc.postgres),
		ratio(oc.plugin, fc.plugin), ratio(oc.self, fc.self), ratio(oc.postgres, fc.postgres))
	p("| Token issuance in process (engine + store.Cached over PostgreSQL fsync=off, fake Kong, no socket), concurrency %d: tokens/s | %s | raw lib/pq loop %s | %.2f× (median of round pairs) | | |",
		ip.concurrency, num(ip.ours.perSecond()), num(ip.raw.perSecond()), 1/pairedCost(ip.ours, ip.raw))
	ic, rc := ip.ours.cpuPerOp(), ip.raw.cpuPerOp()
	p("| … latency p50 / p99 | %s / %s | %s / %s | | | |",
		ms(ip.ours.quantile(0.50)), ms(ip.ours.quantile(0.99)), ms(ip.raw.quantile(0.50)), ms(ip.raw.quantile(0.99)))
	p("| … CPU per token: bench process (engine + store, or loop) / PostgreSQL | %s / %s | %s / %s | | | |",
		us(ic.self), us(ic.postgres), us(rc.self), us(rc.postgres))
}

// whyNotes explains, from the measured CPU per token, why issuance through
// the socket cannot reach 0.7× of the raw loop on this machine.
func (r *report) whyNotes() string {
	if len(r.issuance) == 0 || r.issueFloor.ours == nil || r.inProc.ours == nil {
		return ""
	}
	is, f, ip := r.issuance[0], r.issueFloor, r.inProc
	oc, rc, fc := is.ours.cpuPerOp(), is.raw.cpuPerOp(), f.floor.cpuPerOp()
	ours := oc.plugin + oc.self + oc.postgres
	raw := rc.self + rc.postgres
	floor := fc.plugin + fc.self + fc.postgres
	return fmt.Sprintf("- Why the PostgreSQL issuance row misses 0.7×: with %d cores shared by the plugin, the test host and PostgreSQL, throughput follows total CPU per token. Through the socket a token costs %s of CPU (plugin %s, test host %s, PostgreSQL %s), the raw loop's %s (loop %s, PostgreSQL %s): at most ≈ %.2f× of the raw loop once the cores are busy. "+
		"The issuance floor — the same %s PDK round trips and the same INSERT, no OAuth logic — already costs %s (plugin %s, host %s, PostgreSQL %s) and reaches ≈ %.2f× of the raw loop (its tokens/s ÷ the raw loop's above): the protocol alone is below the goal. Ours costs %.2f× the floor; without the socket (in process) engine + store reach %.2f× of the raw loop.",
		runtime.NumCPU(), us(ours), us(oc.plugin), us(oc.self), us(oc.postgres), us(raw), us(rc.self), us(rc.postgres), ratio(raw, ours),
		strings.SplitN(f.calls, ":", 2)[0], us(floor), us(fc.plugin), us(fc.self), us(fc.postgres), f.floor.perSecond()/is.raw.perSecond(),
		pairedCost(f.ours, f.floor), 1/pairedCost(ip.ours, ip.raw))
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func pgCPU(is issuance, c cpuUse) string {
	if !is.pg {
		return ""
	}
	return " / " + us(c.postgres)
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// side is one of the two things compared: op does one request and reports
// whether it was answered correctly.
type side struct {
	name   string
	op     func(ctx context.Context) error
	plugin *pluginProc // whose process CPU is accounted, if any
	pid    int         // else this process's, if not 0
}

// sample is what a side measured over all its rounds.
type sample struct {
	name    string
	ops     int
	elapsed time.Duration
	lat     []time.Duration // every request's latency
	cpu     cpuUse
	rounds  []float64 // requests/s of each measured round, in order
}

// cpuPerOp is the CPU time per request of each process involved.
func (s *sample) cpuPerOp() cpuUse {
	n := time.Duration(max(s.ops, 1))
	return cpuUse{s.cpu.plugin / n, s.cpu.self / n, s.cpu.postgres / n}
}

func (s *sample) perSecond() float64 { return float64(s.ops) / s.elapsed.Seconds() }

// pairedCost is the median over round pairs of b's requests/s ÷ a's: the
// cost of a request of a relative to b, from rounds run back to back, so
// that a burst of machine noise spoils one pair instead of the total.
func pairedCost(a, b *sample) float64 {
	r := make([]float64, 0, len(a.rounds))
	for i := range min(len(a.rounds), len(b.rounds)) {
		r = append(r, b.rounds[i]/a.rounds[i])
	}
	if len(r) == 0 {
		return 0
	}
	slices.Sort(r)
	if len(r)%2 == 0 {
		return (r[len(r)/2-1] + r[len(r)/2]) / 2
	}
	return r[len(r)/2]
}

func (s *sample) quantile(q float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	return s.lat[min(len(s.lat)-1, int(q*float64(len(s.lat))))]
}

// interleave runs a and b in alternating rounds at concurrency c, ABBA so
// that neither always goes first, after one unmeasured warm-up round each.
func interleave(ctx context.Context, a, b side, c int, o options) (sa, sb *sample, err error) {
	sa, sb = &sample{name: a.name}, &sample{name: b.name}
	if _, err := runRound(ctx, a, c, o.round/2, nil); err != nil {
		return nil, nil, err
	}
	if _, err := runRound(ctx, b, c, o.round/2, nil); err != nil {
		return nil, nil, err
	}
	for i := range o.rounds {
		first, second := a, b
		fs, ss := sa, sb
		if i%2 == 1 {
			first, second, fs, ss = b, a, sb, sa
		}
		if _, err := runRound(ctx, first, c, o.round, fs); err != nil {
			return nil, nil, err
		}
		if _, err := runRound(ctx, second, c, o.round, ss); err != nil {
			return nil, nil, err
		}
	}
	slices.Sort(sa.lat)
	slices.Sort(sb.lat)
	return sa, sb, nil
}

// runRound keeps c workers busy with s.op for d and adds what they did to
// into (if not nil). The first failed request ends the round with its error.
func runRound(ctx context.Context, s side, c int, d time.Duration, into *sample) (int, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		firstEr error
		stop    atomic.Bool
		total   atomic.Int64
	)
	lats := make([][]time.Duration, c)
	pid := s.pid
	if s.plugin != nil {
		pid = s.plugin.host.Process().PID()
	}
	cpu0 := readCPU(pid)
	start := time.Now()
	deadline := start.Add(d)
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for !stop.Load() {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				if err := s.op(ctx); err != nil {
					mu.Lock()
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					stop.Store(true)
					break
				}
				lat = append(lat, time.Since(t0))
			}
			lats[w] = lat
			total.Add(int64(len(lat)))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := readCPU(pid).sub(cpu0)
	if firstEr != nil {
		return 0, fmt.Errorf("%s: %w", s.name, firstEr)
	}
	if into != nil {
		into.elapsed += elapsed
		into.cpu = into.cpu.add(cpu)
		into.rounds = append(into.rounds, float64(total.Load())/elapsed.Seconds())
		for _, l := range lats {
			into.ops += len(l)
			into.lat = append(into.lat, l...)
		}
	}
	return int(total.Load()), nil
}

// validation is one validation comparison.
type validation struct {
	concurrency     int
	ours, floor     *sample
	oursRT, floorRT int // PDK round trips per request
	// The same with -metrics on, against the floor again.
	metrics, metricsFloor *sample
}

// validateOp sends the same bearer request to p and checks that it was
// authenticated and proxied with want round trips.
func validateOp(p *pluginProc, token string, rt *atomic.Int64) func(context.Context) error {
	req := &konghost.Request{Host: routeHost, Path: "/orders",
		Header: map[string][]string{"Authorization": {"Bearer " + token}}}
	return func(ctx context.Context) error {
		res, err := p.host.Do(ctx, service, req)
		if err != nil {
			return err
		}
		if !res.Proxied || res.Status != 200 || res.Consumer == nil {
			return fmt.Errorf("validation answered %d (%v)\n%s", res.Status, res.Failure, p.log)
		}
		rt.Store(int64(res.RoundTrips))
		return nil
	}
}

func (e *env) compareValidation(ctx context.Context, c int, o options) (validation, error) {
	tok, err := e.pg.issue(ctx)
	if err != nil {
		return validation{}, err
	}
	var oursRT, floorRT atomic.Int64
	ours := side{name: "oauth2-password", op: validateOp(e.pg, tok, &oursRT), plugin: e.pg}
	floor := side{name: "floor", op: validateOp(e.floor, tok, &floorRT), plugin: e.floor}
	so, sf, err := interleave(ctx, ours, floor, c, o)
	if err != nil {
		return validation{}, err
	}
	mtok, err := e.pgMetrics.issue(ctx)
	if err != nil {
		return validation{}, err
	}
	var metricsRT atomic.Int64
	withMetrics := side{name: "oauth2-password -metrics", op: validateOp(e.pgMetrics, mtok, &metricsRT), plugin: e.pgMetrics}
	sm, smf, err := interleave(ctx, withMetrics, floor, c, o)
	if err != nil {
		return validation{}, err
	}
	return validation{concurrency: c, ours: so, floor: sf,
		oursRT: int(oursRT.Load()), floorRT: int(floorRT.Load()), metrics: sm, metricsFloor: smf}, nil
}

// issuance is one issuance comparison.
type issuance struct {
	concurrency int
	store       string
	pg          bool
	ours, raw   *sample
}

func (e *env) compareIssuance(ctx context.Context, p *pluginProc, w writer, storeLabel string, o options) (issuance, error) {
	ours := side{name: "oauth2-password", op: func(ctx context.Context) error {
		_, err := p.issue(ctx)
		return err
	}, plugin: p}
	raw := side{name: w.name(), op: w.write}
	// Issuance rounds write rows: fewer of them than for validation.
	io := o
	io.rounds = max(2, o.rounds/2)
	so, sr, err := interleave(ctx, ours, raw, o.issueConc, io)
	if err != nil {
		return issuance{}, err
	}
	return issuance{concurrency: o.issueConc, store: storeLabel, pg: w.store() == "PostgreSQL", ours: so, raw: sr}, nil
}

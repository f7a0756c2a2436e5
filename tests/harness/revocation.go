package harness

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Prober validates token on one node (one plugin process) and returns the
// HTTP status: 200 accepted, 401 refused.
type Prober func(ctx context.Context, token string) (int, error)

// RevocationLag measures how long a revocation takes to reach every node.
// token must already validate (200) on every node, so that each has it
// cached. Every node is probed every couple of milliseconds while revoke
// runs; the lag of a node is the time from revoke's return (the
// revocation acknowledged: the CLI exited, the endpoint answered) to that
// node's first 401, or 0 if it refused the token before that. A node still
// accepting the token limit after the acknowledgment is an error.
func RevocationLag(ctx context.Context, nodes []Prober, token string, revoke func(context.Context) error, limit time.Duration) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := make([]time.Time, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, probe := range nodes {
		wg.Go(func() {
			for ctx.Err() == nil {
				st, err := probe(ctx, token)
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errs[i] = fmt.Errorf("node %d: %w", i, err)
					}
					return
				case st == 401:
					first[i] = time.Now()
					return
				case st != 200:
					errs[i] = fmt.Errorf("node %d answered %d, want 200 then 401", i, st)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(2 * time.Millisecond):
				}
			}
		})
	}
	if err := revoke(ctx); err != nil {
		cancel()
		wg.Wait()
		return nil, fmt.Errorf("revoking: %w", err)
	}
	acked := time.Now()
	stop := time.AfterFunc(limit, cancel)
	wg.Wait()
	stop.Stop()
	lags := make([]time.Duration, len(nodes))
	for i := range nodes {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if first[i].IsZero() {
			return nil, fmt.Errorf("node %d still accepts the token %v after the revocation", i, limit)
		}
		lags[i] = max(0, first[i].Sub(acked))
	}
	return lags, nil
}

// Quantile is the nearest-rank q-quantile (0 < q ≤ 1) of durations.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

package plugin_test

import (
	"testing"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/metrics"
)

// BenchmarkAccessCachedTokenMetrics is BenchmarkAccessCachedToken with the
// binary's -metrics on: cache lookups and every request counted and timed
// in Prometheus metrics. Budget: at most 2 allocations, as without.
func BenchmarkAccessCachedTokenMetrics(b *testing.B) {
	m := metrics.New("bench")
	plugin.BenchCachedToken(b, m, m)
}

package envoy

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestGRPCMetrics: with -metrics, every gRPC Check is counted under the
// front ext-authz-grpc by its outcome and timed, as the HTTP fronts are.
func TestGRPCMetrics(t *testing.T) {
	metricsAddr := harness.FreeAddr(t)
	s := newStack(t, pg.NewDatabase(t), "-metrics", metricsAddr)
	metricsURL := "http://" + metricsAddr + "/metrics"
	_, before := harness.Scrape(t, metricsURL)

	tok := s.issue("orders", "user-metrics", "")
	for _, c := range []struct {
		header map[string]string
		want   code.Code
	}{
		{map[string]string{"authorization": "Bearer " + tok.AccessToken}, code.Code_OK},
		{map[string]string{"authorization": "Bearer " + tok.AccessToken}, code.Code_OK},
		{map[string]string{"authorization": "Bearer no-such-token"}, code.Code_UNAUTHENTICATED},
		{nil, code.Code_UNAUTHENTICATED},
	} {
		if got := code.Code(s.check("orders", envoyRequest{path: "/orders", header: c.header}).GetStatus().GetCode()); got != c.want {
			t.Fatalf("Check: %v, want %v", got, c.want)
		}
	}
	text, _ := harness.WaitMetrics(t, metricsURL, before, map[string]float64{
		`oauth2_password_requests_total{front="ext-authz-grpc",outcome="allowed"}`:       2,
		`oauth2_password_requests_total{front="ext-authz-grpc",outcome="invalid_token"}`: 1,
		`oauth2_password_requests_total{front="ext-authz-grpc",outcome="missing_token"}`: 1,
		`oauth2_password_request_duration_seconds_count{front="ext-authz-grpc"}`:         4,
	})
	harness.PromtoolCheck(t, text)
}

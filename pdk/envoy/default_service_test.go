package envoy

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
)

// TestCheckDefaultService: Envoy Gateway's and Istio's gRPC providers send
// no context_extensions; with DefaultService the check is made for that
// service, and a named service still wins over it.
func TestCheckDefaultService(t *testing.T) {
	s := newTestServer(t)
	unnamed := func(token string) *authv3.CheckRequest {
		r := checkOf("", map[string]string{"authorization": "Bearer " + token}, false)
		r.Attributes.ContextExtensions = nil
		return r
	}
	for _, tc := range []struct {
		name, defaultService string
		req                  *authv3.CheckRequest
		want                 code.Code
		status               int32
	}{
		{"no default: denied 500", "", unnamed(tokenOf("orders")), code.Code_UNKNOWN, 500},
		{"default orders: its token allowed", "orders", unnamed(tokenOf("orders")), code.Code_OK, 0},
		{"default orders: another service's token refused", "orders", unnamed(tokenOf("apikey")), code.Code_UNAUTHENTICATED, 401},
		{"named service beats the default", "orders", checkOf("apikey", map[string]string{"x-api-token": tokenOf("apikey")}, false), code.Code_OK, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.DefaultService = tc.defaultService
			resp, err := s.Check(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := code.Code(resp.GetStatus().GetCode()); got != tc.want && (tc.status != 500 || got == code.Code_OK) {
				t.Fatalf("status %v, want %v", got, tc.want)
			}
			if tc.status != 0 {
				if got := int32(resp.GetDeniedResponse().GetStatus().GetCode()); got != tc.status {
					t.Fatalf("denied with HTTP %d, want %d", got, tc.status)
				}
			}
		})
	}
}

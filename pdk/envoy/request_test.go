package envoy

import (
	"net/netip"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
)

// TestForwardedIP: Envoy's downstream peer (attributes.source) is the
// client's address; x-envoy-external-address counts only when that peer
// is trusted (a load balancer in front of Envoy), never from a client.
func TestForwardedIP(t *testing.T) {
	trusted := httpfront.Trusted{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, source, external, want string
	}{
		{"client is Envoy's peer", "203.0.113.9", "", "203.0.113.9"},
		{"an untrusted peer's header is ignored", "203.0.113.9", "198.51.100.1", "203.0.113.9"},
		{"a trusted peer's header is believed", "10.1.2.3", "198.51.100.1", "198.51.100.1"},
		{"a trusted peer without the header", "10.1.2.3", "", "10.1.2.3"},
		{"no address in the header", "10.1.2.3", "nonsense", "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.external != "" {
				h["x-envoy-external-address"] = tt.external
			}
			attrs := &authv3.AttributeContext{
				Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
					SocketAddress: &corev3.SocketAddress{Address: tt.source}}}},
				Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Headers: h}},
			}
			var q request
			q.reset(attrs, trusted)
			if got, _ := q.ForwardedIP(); got != tt.want {
				t.Errorf("ForwardedIP = %q, want %q", got, tt.want)
			}
		})
	}
}

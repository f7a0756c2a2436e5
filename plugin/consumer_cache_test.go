package plugin

import "testing"

// TestConsumersArePerWorkspace: Kong's consumers are per workspace, so a
// reference cached for one workspace's instance is not the answer for
// another's: one username may name two consumers.
func TestConsumersArePerWorkspace(t *testing.T) {
	v := newEnv(t)
	v.client("ws-app", testSecret, "shared-name", "confidential")
	a := v.config(`{"__ws_id":"ws-a"}`)
	b := v.config(`{"__ws_id":"ws-b"}`)
	tok := str(v.issue(a, "client_id", "ws-app"), "access_token")
	for _, tc := range []struct {
		conf *Config
		id   string
	}{{a, "consumer-in-a"}, {b, "consumer-in-b"}, {a, "consumer-in-a"}} {
		f := v.kong()
		f.path = "/api"
		f.headers["authorization"] = []string{"Bearer " + tok}
		f.consumers["shared-name"] = Consumer{ID: tc.id, Username: "shared-name"}
		access(tc.conf, f)
		expectProxied(t, f)
		if got := f.up("X-Consumer-ID"); got != tc.id {
			t.Errorf("X-Consumer-ID %q, want %q", got, tc.id)
		}
	}
}

package kong2

import (
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestBodyBuffer: Kong 2.x does not hand a Go plugin a request body nginx
// buffered to a file. With kong/kong2.conf's 64k client body buffer a 10 KB
// token request is served as in Kong mode; with Kong 2.8's default 8k it
// gets a clear 400 "Request body too large", never a 500.
func TestBodyBuffer(t *testing.T) {
	form := passwordForm(provisionKey)
	form.Set("state", strings.Repeat("s", 10_000))
	for _, tc := range []struct {
		name   string
		buffer int
		status int
		desc   string
	}{
		{"kong2.conf 64k", 64 << 10, 200, ""},
		{"Kong default 8k", 8 << 10, 400, "Request body too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := harness.SQLiteURL(t)
			harness.CreateClient(t, db, consumer.Username, "web", "--client-id", clientID, "--client-secret", clientSecret)
			h := startKong2Buffer(t, db, tc.buffer)
			h.AddConsumer(consumer)
			if _, err := h.AddService("api", map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read"}}); err != nil {
				t.Fatal(err)
			}
			waitStore(t, h)
			r := do(t, h, tokenRequest(form))
			if r.Status != tc.status || r.Exit == nil || !strings.Contains(string(r.Exit.Body), tc.desc) {
				t.Errorf("10 KB token request: %d %+v, want %d %q", r.Status, r.Exit, tc.status, tc.desc)
			}
		})
	}
}

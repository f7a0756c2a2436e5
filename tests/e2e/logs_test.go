package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestQuietPluginLog: answering with kong.response.exit (every token
// response, every 401) ends the connection from Kong's side. go-pdk logs
// each such end; the plugin keeps those lines out of Kong's error log, so
// an operator sees only lines that mean something.
func TestQuietPluginLog(t *testing.T) {
	e := start(t, harness.SQLiteURL(t))
	e.consumer(konghost.Consumer{Username: "bob"})
	e.service(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": "pk-quiet-log-0123"}})
	c := harness.CreateClient(t, e.DB, "bob", "web")
	tok := e.grant("api.test", c, "pk-quiet-log-0123", "u1", "")
	for i := 0; i < 5; i++ {
		if r := e.get("http://api.test/x", "not-a-token"); r.StatusCode != 401 {
			t.Fatalf("bad token answered %d", r.StatusCode)
		}
		if r := e.get("http://api.test/x", tok.AccessToken); r.StatusCode != 200 {
			t.Fatalf("good token answered %d", r.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the process's output reach the host
	out := strings.Join(e.Host.Process().Output(), "\n")
	for _, noise := range []string{"use of closed network connection", "] EOF"} {
		if strings.Contains(out, noise) {
			t.Errorf("plugin output holds go-pdk's connection-end noise %q:\n%s", noise, out)
		}
	}
	if !strings.Contains(out, "Listening on socket") {
		t.Errorf("plugin output lacks go-pdk's start line, so the check above proves nothing:\n%s", out)
	}
}

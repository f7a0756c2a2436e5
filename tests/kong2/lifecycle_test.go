package kong2

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/kong2host"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// kong2With starts go-pluginserver over a fresh store holding the test
// client, with service "api" configured by config.
func kong2With(t *testing.T, config map[string]any) *kong2host.Host {
	t.Helper()
	db := harness.SQLiteURL(t)
	harness.CreateClient(t, db, consumer.Username, "web", "--client-id", clientID, "--client-secret", clientSecret)
	h := startKong2(t, db)
	h.AddConsumer(consumer)
	if _, err := h.AddService("api", config); err != nil {
		t.Fatal(err)
	}
	waitStore(t, h)
	return h
}

func kinds(evs []konghost.ControlEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Kind)
	}
	return strings.Join(s, ",")
}

// TestConfigChangeStartsAndClosesInstances: a changed plugin config gets a
// new instance (plugin.StartInstance) and then the old one is closed
// (plugin.CloseInstance), as Kong 2.8 does; the new config answers at once
// and tokens issued before keep working.
func TestConfigChangeStartsAndClosesInstances(t *testing.T) {
	h := kong2With(t, map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read"}, "realm": "one"})
	access, _ := tokens(t, do(t, h, tokenRequest(passwordForm(provisionKey))))
	if r := do(t, h, bearerRequest("")); r.Exit == nil || r.Exit.Header.Get("WWW-Authenticate") != `Bearer realm="one"` {
		t.Fatalf("no token, realm one: %d %+v", r.Status, r.Exit)
	}

	if err := h.SetConfig("api", map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read"}, "realm": "two"}); err != nil {
		t.Fatal(err)
	}
	if r := do(t, h, bearerRequest("")); r.Exit == nil || r.Exit.Header.Get("WWW-Authenticate") != `Bearer realm="two"` {
		t.Errorf("no token after the change: %d %+v, want realm two", r.Status, r.Exit)
	}
	if r := do(t, h, bearerRequest(access)); !r.Proxied {
		t.Errorf("token issued under the old config: %d", r.Status)
	}
	ev := h.Control()
	if kinds(ev) != "start,start,close" {
		t.Fatalf("instance steps %s (%+v), want start,start,close", kinds(ev), ev)
	}
	if ev[1].InstanceID == ev[0].InstanceID || ev[2].InstanceID != ev[0].InstanceID || ev[2].Err != nil {
		t.Errorf("started %d then %d, closed %d (%v): want the first one closed without error",
			ev[0].InstanceID, ev[1].InstanceID, ev[2].InstanceID, ev[2].Err)
	}
}

// TestServerRestarted: go-pluginserver killed and respawned. The new
// process announces a new serverPid, Kong forgets its instances, the event
// it already sent for the old instance id fails with "No plugin instance",
// and Kong starts the instance again and retries. A token issued before
// the crash still validates (it was committed before it was answered).
func TestServerRestarted(t *testing.T) {
	h := kong2With(t, map[string]any{"provision_key": provisionKey, "scopes": []string{"orders.read"}})
	access, refresh := tokens(t, do(t, h, tokenRequest(passwordForm(provisionKey))))
	pid := h.ServerPID()

	gen, err := h.Process().Kill(syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Process().WaitReady(ctx, gen); err != nil {
		t.Fatal(err)
	}
	// The new process opens its store again, answering 503 meanwhile.
	waitStore(t, h)
	if h.ServerPID() == pid {
		t.Errorf("serverPid still %d after the restart", pid)
	}
	if r := do(t, h, bearerRequest(access)); !r.Proxied || r.Upstream.Header["x-consumer-id"][0] != consumer.ID {
		t.Errorf("token after the restart: %d, proxied %v", r.Status, r.Proxied)
	}
	ev := h.Control()
	if kinds(ev) != "start,reset,reset,start" || !strings.Contains(ev[1].Err.Error(), "serverPid") ||
		!strings.Contains(ev[2].Err.Error(), "No plugin instance") {
		t.Errorf("instance steps %s (%v), want start, reset (serverPid), reset (No plugin instance), start", kinds(ev), ev)
	}
	if _, next := tokens(t, do(t, h, tokenRequest(refreshForm(refresh)))); next == refresh {
		t.Error("refresh after the restart returned the same refresh token")
	}
}

// TestServerDownKong28ProxiesUnauthenticated pins what Kong 2.8 does when
// go-pluginserver is not there (crashed, not yet respawned, or never
// started): mp_rpc.lua logs the RPC error and the request goes on to the
// upstream as if the plugin had not run. The README warns about it; Kong
// 3.8+ answers 500 instead. Nothing in the plugin can change it.
func TestServerDownKong28ProxiesUnauthenticated(t *testing.T) {
	h := kong2With(t, map[string]any{"provision_key": provisionKey})
	if r := do(t, h, bearerRequest("")); r.Status != 401 {
		t.Fatalf("no token while the server runs: %d", r.Status)
	}
	if err := h.Process().Close(); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(h.Process().Socket())
	r := do(t, h, bearerRequest(""))
	if !r.Proxied || !r.Log("err", "trying to connect") {
		t.Errorf("no token, server down: status %d, proxied %v, logs %v; want Kong 2.8's log-and-proxy", r.Status, r.Proxied, r.Logs)
	}
}

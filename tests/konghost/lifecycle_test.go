package konghost

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func authed() *Request {
	return &Request{Host: "api.test", Path: "/p", Header: map[string][]string{"Authorization": {"Bearer t"}}}
}

func TestSequenceNumbersStartAtTwo(t *testing.T) {
	h := startFloor(t, nil)
	if res := do(t, h, "api", authed()); res.Status != 200 {
		t.Fatalf("status %d: %v", res.Status, res.Failure)
	}
	// cmd_start_instance went out as 2, cmd_handle_event as 3; each reply
	// echoed its sequence or the call would have failed.
	if got := h.rpc.nextSeq(); got != 4 {
		t.Errorf("next sequence = %d, want 4", got)
	}
}

// A config change starts a new instance with the new config, and only then
// closes the old one (§4).
func TestConfigChangeStartsThenCloses(t *testing.T) {
	h := startFloor(t, map[string]any{"consumer_id": "11111111-1111-4111-8111-111111111111"})
	first := do(t, h, "api", authed())
	do(t, h, "api", authed())
	if err := h.SetConfig("api", map[string]any{"consumer_id": "22222222-2222-4222-8222-222222222222"}); err != nil {
		t.Fatal(err)
	}
	res := do(t, h, "api", authed())
	if got := res.Upstream.Header["x-consumer-id"]; len(got) != 1 || got[0] != "22222222-2222-4222-8222-222222222222" {
		t.Errorf("after the change x-consumer-id = %v", got)
	}
	if res.InstanceID == first.InstanceID {
		t.Errorf("same instance %d after a config change", res.InstanceID)
	}
	var kinds []string
	for _, c := range h.Control() {
		kinds = append(kinds, c.Kind)
	}
	if strings.Join(kinds, ",") != "start,start,close" {
		t.Fatalf("control steps = %v, want start,start,close", kinds)
	}
	c := h.Control()
	if c[2].InstanceID != first.InstanceID || c[1].InstanceID != res.InstanceID || c[2].Err != nil {
		t.Errorf("closed %d (err %v), started %d; want close of %d after start of %d",
			c[2].InstanceID, c[2].Err, c[1].InstanceID, first.InstanceID, res.InstanceID)
	}
}

// If go-pdk no longer knows an instance (expired, or closed by another
// worker) it closes the connection; Kong resets every instance and retries
// with a fresh one (§4).
func TestDroppedInstanceIsResetAndRetried(t *testing.T) {
	h := startFloor(t, nil)
	first := do(t, h, "api", authed())
	if err := h.rpc.closeInstance(testContext(t), first.InstanceID); err != nil {
		t.Fatal(err)
	}
	res := do(t, h, "api", authed())
	if res.Status != 200 || res.Retries != 1 {
		t.Fatalf("status %d retries %d failure %v; want 200 after one retry", res.Status, res.Retries, res.Failure)
	}
	// go-pdk uses __seq__ as the instance id (§4), so the fresh instance
	// of the same config gets the same id back.
	var kinds []string
	for _, c := range h.Control() {
		kinds = append(kinds, c.Kind)
	}
	if strings.Join(kinds, ",") != "start,reset,start" {
		t.Errorf("control steps = %v, want start,reset,start", kinds)
	}
	// The failed attempt's calls count too: nothing was answered on it.
	if !sameCalls(res.Calls, floorCalls) {
		t.Errorf("calls %v", res.Calls)
	}
}

func TestRespawnAfterCrash(t *testing.T) {
	h := startFloor(t, nil)
	if res := do(t, h, "api", authed()); res.Status != 200 {
		t.Fatalf("status %d", res.Status)
	}
	p := h.Process()
	oldPID := p.PID()
	gen, err := p.Kill(syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(testContext(t), gen); err != nil {
		t.Fatal(err)
	}
	if p.Generation() != gen+1 || p.PID() == oldPID {
		t.Errorf("generation %d pid %d after killing generation %d pid %d", p.Generation(), p.PID(), gen, oldPID)
	}
	// The instance lived in the dead process: the event's connection is
	// closed, Kong resets and retries on the new process. Pooled
	// connections to the dead process are not reused.
	res := do(t, h, "api", authed())
	if res.Status != 200 || res.Retries != 1 {
		t.Fatalf("after respawn: status %d retries %d failure %v", res.Status, res.Retries, res.Failure)
	}
	if res := do(t, h, "api", authed()); res.Status != 200 || res.Retries != 0 {
		t.Errorf("second request after respawn: status %d retries %d", res.Status, res.Retries)
	}
	if exits := p.Exits(); len(exits) != 1 || !strings.Contains(exits[0], "killed") {
		t.Errorf("exits = %v", exits)
	}
}

func TestExit(t *testing.T) {
	h := startFloor(t, map[string]any{"require_auth": true})
	f := startFront(t, h)
	resp, err := f.Client().Get("https://api.test/private")
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := f.ExchangeOf(resp)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="floor"` {
		t.Errorf("exit response %d %v", resp.StatusCode, resp.Header)
	}
	want := map[string]int{"kong.request.get_path": 1, "kong.request.get_header": 1, "kong.response.exit": 1}
	if res := ex.Result; res.Exit == nil || string(res.Exit.Body) != `{"message":"Unauthorized"}` ||
		!sameCalls(res.Calls, want) || res.Consumer != nil || res.Retries != 0 {
		t.Errorf("result %+v, calls %v", res, res.Calls)
	}
	// The exit's connection was dropped, not pooled: the next request works.
	if res := do(t, h, "api", authed()); res.Status != 200 {
		t.Errorf("after an exit: status %d failure %v", res.Status, res.Failure)
	}
	// Kong raises on a status outside 100–599, which becomes a 500.
	if err := h.SetConfig("api", map[string]any{"require_auth": true, "exit_status": 700}); err != nil {
		t.Fatal(err)
	}
	res := do(t, h, "api", &Request{Host: "api.test"})
	if res.Status != 500 || res.Failure == nil || !strings.Contains(res.Failure.Error(), "between 100 and 599") {
		t.Errorf("exit 700: status %d failure %v", res.Status, res.Failure)
	}
}

// A PDK call Kong cannot answer ends the request with 500 and no retry.
func TestPDKFailuresGive500(t *testing.T) {
	tests := []struct {
		probe, want string
		notImpl     bool
	}{
		{probe: "kong.nginx.no_such_method", want: `method "kong.nginx.no_such_method" not found`},
		{probe: "kong.response.get_status", want: "cannot be called in access phase"},
		{probe: "kong.response.get_headers", want: "cannot be called in access phase"},
		{probe: "kong.node.get_memory_stats", want: "not implemented", notImpl: true},
	}
	h := startFloor(t, nil)
	for _, tt := range tests {
		t.Run(tt.probe, func(t *testing.T) {
			if err := h.SetConfig("api", map[string]any{"probe": tt.probe}); err != nil {
				t.Fatal(err)
			}
			res := do(t, h, "api", authed())
			if res.Status != 500 || res.Failure == nil || !strings.Contains(res.Failure.Error(), tt.want) {
				t.Fatalf("status %d failure %v, want 500 %q", res.Status, res.Failure, tt.want)
			}
			if errors.Is(res.Failure, ErrNotImplemented) != tt.notImpl {
				t.Errorf("ErrNotImplemented = %v", !tt.notImpl)
			}
			if res.Retries != 0 || res.Calls["kong.client.authenticate"] != 0 {
				t.Errorf("retries %d calls %v: the event must be abandoned", res.Retries, res.Calls)
			}
			if !res.Log("err", tt.want) {
				t.Errorf("no error log entry: %v", res.Logs)
			}
		})
	}
	if err := h.SetConfig("api", nil); err != nil {
		t.Fatal(err)
	}
	if res := do(t, h, "api", authed()); res.Status != 200 {
		t.Errorf("plugin unusable after the failures: %d %v", res.Status, res.Failure)
	}
}

// A failing cmd_start_instance (here go-pdk cannot decode the config)
// gives 500 without a retry (§7).
func TestStartInstanceFailureGives500(t *testing.T) {
	h := startFloor(t, map[string]any{"consumer_id": 42})
	res := do(t, h, "api", authed())
	if res.Status != 500 || res.Failure == nil || !strings.Contains(res.Failure.Error(), "starting instance") {
		t.Fatalf("status %d failure %v", res.Status, res.Failure)
	}
	if st := h.Stats(); st.Starts != 1 || st.Resets != 0 || len(res.Calls) != 0 {
		t.Errorf("starts %d resets %d calls %v, want one failed start only", st.Starts, st.Resets, res.Calls)
	}
	if err := h.SetConfig("api", map[string]any{"consumer_id": "33333333-3333-4333-8333-333333333333"}); err != nil {
		t.Fatal(err)
	}
	if res := do(t, h, "api", authed()); res.Status != 200 {
		t.Errorf("after fixing the config: %d %v", res.Status, res.Failure)
	}
}

func BenchmarkFloorDo(b *testing.B) {
	h := startFloor(b, nil)
	req := authed()
	for b.Loop() {
		res, err := h.Do(testContext(b), "api", req)
		if err != nil || res.Status != 200 {
			b.Fatal(err, res.Failure)
		}
	}
	b.ReportMetric(float64(h.Stats().RoundTrips)/float64(h.Stats().Requests), "pdk-calls/op")
}

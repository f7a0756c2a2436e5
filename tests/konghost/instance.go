package konghost

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// instances is Kong 3.9's running_instances table (plugin.lua@3.9.3
// L228-304, kong/PROTOCOL.md §4): one entry per plugin entity id.
type instances struct {
	mu sync.Mutex
	m  map[string]*instanceInfo
}

type instanceInfo struct {
	id       int32 // 0 while being started
	seq      int64
	pluginID string
	started  bool          // set with plugin_name in Kong: reset only drops these
	ready    chan struct{} // closed when a start attempt ends
}

func newInstances() *instances { return &instances{m: map[string]*instanceInfo{}} }

// claimTimeout is Kong's wait for another coroutine's start: 0.1 s steps,
// up to 10 s, then "Could not claim instance_id".
const claimTimeout = 10 * time.Second

// instanceID is get_instance_id: reuse the instance while __seq__ and
// __plugin_id match; otherwise start a new one and only then close the old
// one, ignoring the close result.
func (h *Host) instanceID(ctx context.Context, svc Service, conf map[string]any) (int32, error) {
	key := svc.PluginID
	seq := conf["__seq__"].(int64)
	deadline := time.Now().Add(claimTimeout)
	t := h.inst
	for {
		t.mu.Lock()
		info := t.m[key]
		if info != nil && info.id == 0 {
			ch := info.ready
			t.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Until(deadline)):
				t.mu.Lock()
				if t.m[key] == info {
					delete(t.m, key)
				}
				t.mu.Unlock()
				//lint:ignore ST1005 Kong's own message, kept verbatim for log matching.
				return 0, fmt.Errorf("Could not claim instance_id for %s (key: %s)", h.info.Name, key)
			}
			continue
		}
		if info != nil && info.seq == seq && info.pluginID == key {
			id := info.id
			t.mu.Unlock()
			return id, nil
		}
		var old int32
		if info == nil {
			info = &instanceInfo{seq: seq}
			t.m[key] = info
		} else {
			old = info.id // "make it evident that we're changing it"
			info.id = 0
		}
		ready := make(chan struct{})
		info.ready = ready
		t.mu.Unlock()

		id, err := h.rpc.startInstance(ctx, conf)
		h.recordControl(ControlEvent{Kind: "start", Service: svc.Name, InstanceID: id, Seq: seq, Err: err})
		t.mu.Lock()
		if err != nil {
			// "remove claim, some other thread might succeed", then error().
			if t.m[key] == info {
				delete(t.m, key)
			}
			close(ready)
			t.mu.Unlock()
			return 0, fmt.Errorf("starting instance: %w", err)
		}
		info.id, info.seq, info.pluginID, info.started = id, seq, key, true
		close(ready)
		t.mu.Unlock()
		if old != 0 {
			cerr := h.rpc.closeInstance(ctx, old)
			h.recordControl(ControlEvent{Kind: "close", Service: svc.Name, InstanceID: old, Err: cerr})
		}
		return id, nil
	}
}

// reset is reset_instance(plugin_name): forget every started instance of
// the plugin (Kong also tells the other workers). A first start still in
// progress has no plugin_name yet in Kong and survives.
func (h *Host) reset() {
	t := h.inst
	t.mu.Lock()
	for k, info := range t.m {
		if info.started {
			delete(t.m, k)
		}
	}
	t.mu.Unlock()
	h.recordControl(ControlEvent{Kind: "reset"})
}

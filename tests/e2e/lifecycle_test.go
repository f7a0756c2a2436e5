package e2e

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestInstancesChangeUnderLoad: while several clients keep calling two
// services, service a's configuration changes again and again (Kong starts
// a new instance, then closes the old one, kong/PROTOCOL.md §4)
// and service b's instance disappears from under Kong (what go-pdk's
// expireInstances does to every instance older than 60 s on any close,
// kong/PROTOCOL.md §4). No request may be answered wrongly.
//
// Version k of a's config has realm "v<k>", reads the token from header
// "x-token-<k>" and hides it. A client sends its token in every
// x-token-* header, so the answer says which version served it: a 200
// lacks exactly x-token-<k> upstream, a 401 carries realm "v<k>". k must
// be a version that was in force at some moment of the request: at least
// the one applied when it was sent, at most the one announced when it came
// back.
func TestInstancesChangeUnderLoad(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	cons := e.consumer(konghost.Consumer{Username: "bob"})
	const pk, versions = "pk-life-0123456789", 8
	confA := func(k int) map[string]any {
		return map[string]any{"provision_key": pk, "realm": fmt.Sprintf("v%d", k),
			"auth_header_name": fmt.Sprintf("x-token-%d", k), "hide_credentials": true}
	}
	e.service(konghost.ServiceSpec{Name: "a", Host: "a.test", Config: confA(0)})
	e.service(konghost.ServiceSpec{Name: "b", Host: "b.test", Config: map[string]any{"provision_key": pk}})
	c := harness.CreateClient(t, db, "bob", "web")
	tokA := e.grant("a.test", c, pk, "u-a", "").AccessToken
	tokB := e.grant("b.test", c, pk, "u-b", "").AccessToken

	var applied, announced atomic.Int64 // config version of a
	var bInstance atomic.Int32          // b's instance, as last seen
	var mu sync.Mutex
	var failures []string
	counts := map[string]int{}
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}

	// check sends one request of kind i%3 and verifies its answer.
	hc := e.Front.Client()
	check := func(i int) {
		kind := []string{"a valid", "a invalid", "b valid"}[i%3]
		var req *http.Request
		if kind == "b valid" {
			req, _ = http.NewRequest("GET", "https://b.test/r", nil)
			req.Header.Set("Authorization", "Bearer "+tokB)
		} else {
			tok := tokA
			if kind == "a invalid" {
				tok = "no-such-token-" + fmt.Sprint(i)
			}
			req, _ = http.NewRequest("GET", "https://a.test/r", nil)
			for k := 0; k <= versions; k++ {
				req.Header.Set(fmt.Sprintf("x-token-%d", k), tok)
			}
		}
		lo := applied.Load()
		resp, err := hc.Do(req)
		if err != nil {
			fail("%s: %v", kind, err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		hi := announced.Load()
		mu.Lock()
		counts[kind]++
		mu.Unlock()
		ex, _ := e.Front.ExchangeOf(resp)

		switch kind {
		case "b valid":
			var ec konghost.Echo
			if resp.StatusCode != 200 || json.Unmarshal(body, &ec) != nil {
				fail("b: %d %s, want 200", resp.StatusCode, body)
			} else if got, _ := ec.Header("x-consumer-id"); got != cons.ID {
				fail("b: X-Consumer-ID %q", got)
			}
			if ex != nil {
				bInstance.Store(ex.Result.InstanceID)
			}
		case "a valid":
			var ec konghost.Echo
			if resp.StatusCode != 200 || json.Unmarshal(body, &ec) != nil {
				fail("a valid (versions %d..%d): %d %s, want 200", lo, hi, resp.StatusCode, body)
				return
			}
			var hidden []int
			for k := 0; k <= versions; k++ {
				v, ok := ec.Header(fmt.Sprintf("x-token-%d", k))
				switch {
				case !ok:
					hidden = append(hidden, k)
				case v != tokA:
					fail("a valid: x-token-%d changed to %q", k, v)
				}
			}
			if len(hidden) != 1 || int64(hidden[0]) < lo || int64(hidden[0]) > hi {
				fail("a valid: hidden headers %v, want exactly one version in %d..%d", hidden, lo, hi)
			}
			if got, _ := ec.Header("x-authenticated-userid"); got != "u-a" {
				fail("a valid: X-Authenticated-Userid %q", got)
			}
		case "a invalid":
			ch := resp.Header.Get("WWW-Authenticate")
			ok := false
			for k := lo; k <= hi; k++ {
				ok = ok || ch == invalidChallenge(fmt.Sprintf("v%d", k))
			}
			if resp.StatusCode != 401 || !ok || !strings.Contains(string(body), `"invalid_token"`) {
				fail("a invalid (versions %d..%d): %d %q %s", lo, hi, resp.StatusCode, ch, body)
			}
		}
	}

	const workers, duration = 8, 1500 * time.Millisecond
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i += workers {
				select {
				case <-stop:
					return
				default:
				}
				check(i)
			}
		}()
	}

	begin := time.Now()
	drops := 0
	for k := 1; k <= versions; k++ {
		time.Sleep(duration / (versions + 2))
		announced.Store(int64(k))
		if err := e.Host.SetConfig("a", confA(k)); err != nil {
			t.Fatal(err)
		}
		applied.Store(int64(k))
		if k%3 == 0 {
			if id := bInstance.Load(); id != 0 && dropInstance(e.Host.Process().Socket(), id) == nil {
				drops++
			}
		}
	}
	time.Sleep(duration - time.Since(begin))
	close(stop)
	wg.Wait()

	for _, f := range failures {
		t.Error(f)
	}
	for _, kind := range []string{"a valid", "a invalid", "b valid"} {
		if counts[kind] == 0 {
			t.Errorf("no %q request completed", kind)
		}
	}
	st := e.Host.Stats()
	t.Logf("requests %v; instance starts %d, closes %d, resets %d, retries %d; b's instance dropped %d times",
		counts, st.Starts, st.Closes, st.Resets, st.Retries, drops)
	if st.Closes == 0 {
		t.Error("no config change closed an instance")
	}
	if drops == 0 || st.Retries == 0 {
		t.Errorf("b's instance dropped %d times, %d retries: the drop was not exercised", drops, st.Retries)
	}
	// After the storm, the last version serves a, and b still works.
	r := e.get("https://a.test/r", "", fmt.Sprintf("x-token-%d", versions), "bad")
	if r.Header.Get("WWW-Authenticate") != invalidChallenge(fmt.Sprintf("v%d", versions)) {
		t.Errorf("final config not in force: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := e.get("https://b.test/r", tokB); r.StatusCode != 200 {
		t.Errorf("b after the storm: %d", r.StatusCode)
	}
}

// TestDroppedInstanceIsRetried: when go-pdk has forgotten an instance Kong
// still uses, the request is not lost: the host resets and retries, and the
// client sees the normal answer.
func TestDroppedInstanceIsRetried(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	e.consumer(konghost.Consumer{Username: "bob"})
	const pk = "pk-drop-0123456789"
	e.service(konghost.ServiceSpec{Name: "a", Host: "a.test", Config: map[string]any{"provision_key": pk}})
	e.service(konghost.ServiceSpec{Name: "b", Host: "b.test", Config: map[string]any{"provision_key": pk, "realm": "b"}})
	c := harness.CreateClient(t, db, "bob", "web")
	tokA := e.grant("a.test", c, pk, "u", "").AccessToken
	tokB := e.grant("b.test", c, pk, "u", "").AccessToken
	first := e.get("https://b.test/r", tokB)
	if first.StatusCode != 200 {
		t.Fatalf("b: %d", first.StatusCode)
	}
	// Closing a's old instance after a config change also expires b's
	// instance in go-pdk once b's is older than 60 s; the effect is that
	// b's instance is gone, which is reproduced here directly.
	if err := dropInstance(e.Host.Process().Socket(), e.result(first).InstanceID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, token string
		status, retries  int
	}{
		{"valid token on b, instance gone", "https://b.test/r", tokB, 200, 1},
		{"valid token on a, instance re-created", "https://a.test/r", tokA, 200, 0},
		{"bad token on b", "https://b.test/r", "nope", 401, 0},
	}
	for _, tt := range tests {
		r := e.get(tt.url, tt.token)
		res := e.result(r)
		if r.StatusCode != tt.status || res.Retries != tt.retries {
			t.Errorf("%s: status %d retries %d, want %d and %d", tt.name, r.StatusCode, res.Retries, tt.status, tt.retries)
		}
	}
}

// dropInstance sends cmd_close_instance for id on a connection of its own,
// as another Kong worker (or go-pdk's own expiry) would.
func dropInstance(socket string, id int32) error {
	msg, err := proto.Marshal(&pb.RpcCall{Sequence: 1, Call: &pb.RpcCall_CmdCloseInstance{
		CmdCloseInstance: &pb.CmdCloseInstance{InstanceId: id}}})
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("unix", socket, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	frame := binary.LittleEndian.AppendUint32(nil, uint32(len(msg)))
	if _, err := c.Write(append(frame, msg...)); err != nil {
		return err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("closing instance %d: %w", id, err) // go-pdk closes on "no plugin instance"
	}
	b := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	var ret pb.RpcReturn
	if err := proto.Unmarshal(b, &ret); err != nil {
		return err
	}
	if st := ret.GetInstanceStatus(); st == nil || st.InstanceId != id {
		return fmt.Errorf("closing instance %d: unexpected return %v", id, &ret)
	}
	return nil
}

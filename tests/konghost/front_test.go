package konghost

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestFloorPathThroughFront(t *testing.T) {
	h := startFloor(t, map[string]any{"consumer_id": "0b6c8f3e-2a55-4c3a-9a51-5d9b3f6f1a11"})
	f := startFront(t, h)
	client := f.Client()
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			req, _ := http.NewRequest("POST", scheme+"://api.test/api//./items/%7Eme?b=2&a=1&a=3",
				strings.NewReader("grant_type=password&username=u"))
			req.Header.Set("Authorization", "Bearer abc")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Consumer-Custom-ID", "spoofed") // must be removed
			req.Header.Set("X-Anonymous-Consumer", "true")    // must be removed
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			ex, ok := f.ExchangeOf(resp)
			if !ok {
				t.Fatal("no exchange recorded for the response")
			}
			e, err := DecodeEcho(resp)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			wantHeaders := map[string]string{
				"x-consumer-id":           "0b6c8f3e-2a55-4c3a-9a51-5d9b3f6f1a11",
				"x-consumer-username":     "floor-user",
				"x-credential-identifier": "floor-client",
				"x-authenticated-scope":   " ", // Kong sends "" as a single space
				"x-floor-request":         "/api/items/~me auth=yes",
				"authorization":           "Bearer abc",
				"x-forwarded-proto":       scheme,
			}
			for name, want := range wantHeaders {
				if got, ok := e.Header(name); !ok || got != want {
					t.Errorf("upstream %s = %q (sent %v), want %q", name, got, ok, want)
				}
			}
			for _, name := range []string{"x-consumer-custom-id", "x-anonymous-consumer"} {
				if v, ok := e.Header(name); ok {
					t.Errorf("upstream %s = %q, want it removed", name, v)
				}
			}
			if e.Method != "POST" || e.Path != "/api/items/~me" || strings.Join(e.Query["a"], ",") != "1,3" {
				t.Errorf("echo method/path/query = %s %s %v", e.Method, e.Path, e.Query)
			}
			if e.Form["grant_type"][0] != "password" || e.Body != "grant_type=password&username=u" {
				t.Errorf("echo body %q form %v", e.Body, e.Form)
			}
			if e.Consumer == nil || e.Consumer.Username != "floor-user" || e.Credential == nil || e.Credential.ID != "floor-client" {
				t.Errorf("echo consumer %+v credential %+v", e.Consumer, e.Credential)
			}
			if res := ex.Result; !sameCalls(res.Calls, floorCalls) || res.RoundTrips != 4 {
				t.Errorf("calls = %v (%d round trips), want %v", res.Calls, res.RoundTrips, floorCalls)
			}
			if ex.Request.Scheme != scheme {
				t.Errorf("scheme seen by Kong = %q", ex.Request.Scheme)
			}
		})
	}
	st := h.Stats()
	if st.Requests != 2 || st.RoundTrips != 8 || st.Calls["kong.client.authenticate"] != 2 {
		t.Errorf("aggregated stats = %+v", st)
	}
	if st.Starts != 1 || st.Closes != 0 {
		t.Errorf("instances started %d closed %d, want one instance reused", st.Starts, st.Closes)
	}
}

func TestFrontRouting(t *testing.T) {
	h := startFloor(t, nil)
	if _, err := h.AddService(ServiceSpec{Name: "admin", Host: "api.test", PathPrefix: "/admin"}); err != nil {
		t.Fatal(err)
	}
	f := startFront(t, h)
	tests := []struct {
		url, service string
		status       int
	}{
		{"http://api.test/x", "api", 200},
		{"http://API.test/admin/users", "admin", 200},
		{"http://other.test/x", "", 404},
	}
	for _, tt := range tests {
		resp, err := f.Client().Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d (%s), want %d", tt.url, resp.StatusCode, body, tt.status)
			continue
		}
		if tt.service == "" {
			continue
		}
		if ex, ok := f.ExchangeOf(resp); !ok || ex.Service != tt.service {
			t.Errorf("%s routed to %+v, want %s", tt.url, ex, tt.service)
		}
	}
}

// Many requests at once each need their own connection; the instance is
// started once, concurrent requests waiting for the claim (§4).
func TestConcurrentRequests(t *testing.T) {
	h := startFloor(t, nil)
	f := startFront(t, h)
	client := f.Client()
	const workers, each = 16, 5
	var wg sync.WaitGroup
	errs := make(chan string, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				req, _ := http.NewRequest("GET", "https://api.test/c", nil)
				req.Header.Set("Authorization", "Bearer x")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				e, err := DecodeEcho(resp)
				if err != nil || resp.StatusCode != 200 {
					errs <- resp.Status
					continue
				}
				if v, _ := e.Header("x-floor-request"); v != "/c auth=yes" {
					errs <- "x-floor-request " + v
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	st := h.Stats()
	if st.Requests != workers*each || st.RoundTrips != 4*workers*each {
		t.Errorf("stats %+v", st)
	}
	if st.Starts != 1 {
		t.Errorf("%d instances started, want 1", st.Starts)
	}
}

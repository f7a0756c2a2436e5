package httpfront

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkForwardAuthHTTP is forward auth of a cached token behind
// net/http on loopback, server and client in this process, 8 requests at
// once over keep-alive connections; BenchmarkForwardAuthHTTPFloor is the
// same with tests/floorhttp's handler (200 and four identity headers, no
// logic). Their ratio is what the bench's forward-auth row measures
// between two processes, without the process noise.
func BenchmarkForwardAuthHTTP(b *testing.B) {
	s, token, _ := newForwardAuthService(b, `{"provision_key":"pk-bench-0123456789","service_id":"orders"}`)
	benchHTTP(b, http.HandlerFunc(s.ForwardAuth), token)
}

// BenchmarkForwardAuthHTTPUpstreamJWT is BenchmarkForwardAuthHTTP with
// upstream_jwt on: the JWT, signed once (the first request), is one
// header more in every answer. The bench's upstream JWT row is the ratio
// of the two between processes.
func BenchmarkForwardAuthHTTPUpstreamJWT(b *testing.B) {
	s, token, _ := newForwardAuthService(b, `{"provision_key":"pk-bench-0123456789","service_id":"orders","upstream_jwt":true}`)
	benchHTTP(b, http.HandlerFunc(s.ForwardAuth), token)
}

func BenchmarkForwardAuthHTTPFloor(b *testing.B) {
	identity := map[string]string{
		"X-Consumer-Id":           "5c3c0000-0000-4000-8000-0000000000b0",
		"X-Consumer-Username":     "bob",
		"X-Credential-Identifier": "0123456789abcdefghijklmnopqrstuv",
		"X-Authenticated-Userid":  "user-1",
	}
	benchHTTP(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range identity {
			w.Header().Set(k, v)
		}
		w.WriteHeader(http.StatusOK)
	}), "any")
}

func benchHTTP(b *testing.B, h http.Handler, token string) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS 2 = 8 at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", srv.URL+"/services/orders/auth", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/orders?page=2")
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("X-Consumer-Username") != "bob" {
				b.Errorf("forward auth answered %d %v", resp.StatusCode, resp.Header)
				return
			}
		}
	})
}

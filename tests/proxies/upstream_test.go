package proxies

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// echoed is what the protected API received.
type echoed struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  string              `json:"query"`
	Header map[string][]string `json:"header"` // lower-case names
	Body   string              `json:"body"`
}

// has reports whether the API got header name (any case), and its value.
func (e echoed) has(name string) (string, bool) {
	v, ok := e.Header[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	return strings.Join(v, ","), true
}

// upstream is the API behind the proxies: it answers every request with
// what it received, as JSON, and remembers the paths it saw.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]bool
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{seen: map[string]bool{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e := echoed{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: map[string][]string{}, Body: string(body)}
		for k, v := range r.Header {
			e.Header[strings.ToLower(k)] = v
		}
		u.mu.Lock()
		u.seen[r.URL.Path] = true
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(e)
	}))
	t.Cleanup(u.Close)
	return u
}

// reached reports whether a request for path got to the API.
func (u *upstream) reached(path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[path]
}

// addr is host:port.
func (u *upstream) addr() string { return strings.TrimPrefix(u.URL, "http://") }

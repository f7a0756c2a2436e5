package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAuthRouteAgreesWithMux: forward auth's route ahead of the ServeMux
// takes a request only when the mux would have sent it to the same
// service's forward auth, so a path that the mux redirects, unescapes or
// routes elsewhere still gets the mux's answer.
func TestAuthRouteAgreesWithMux(t *testing.T) {
	var routed string // the service the mux's forward-auth route saw
	mux := http.NewServeMux()
	mux.HandleFunc("/services/{service}/auth", func(w http.ResponseWriter, r *http.Request) {
		routed = r.PathValue("service")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})

	for _, tc := range []struct {
		request string // the request line
		taken   bool   // authRoute answers it without the mux
	}{
		{"GET /services/api/auth HTTP/1.1", true},
		{"HEAD /services/api/auth HTTP/1.1", true},
		{"POST /services/api/auth?x=1 HTTP/1.1", true},
		{"GET /services/my%20api/auth HTTP/1.1", true},
		{"GET /services/a%2Fb/auth HTTP/1.1", false}, // one escaped segment: the mux unescapes it
		{"GET /services/%61pi/auth HTTP/1.1", false}, // needless escape: RawPath is set
		{"GET /services/api/auth/ HTTP/1.1", false},  // not the route
		{"GET /services/api//auth HTTP/1.1", false},  // redirected to the clean path
		{"GET /services/./auth HTTP/1.1", false},     // redirected
		{"GET /services/../auth HTTP/1.1", false},    // redirected
		{"GET /services//auth HTTP/1.1", false},      // redirected
		{"GET /services/a/b/auth HTTP/1.1", false},   // two segments
		{"GET /x/services/api/auth HTTP/1.1", false}, // another path
		{"GET /services/api/oauth2/token HTTP/1.1", false},
		{"CONNECT /services/api/auth HTTP/1.1", false}, // matched on the host as well
		{"OPTIONS * HTTP/1.1", false},
	} {
		t.Run(tc.request, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.request + "\r\nHost: gw\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			name, taken := authService(r)
			if taken != tc.taken {
				t.Fatalf("taken = %v (%q), want %v", taken, name, tc.taken)
			}
			routed = ""
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if taken && (routed != name || rec.Code != http.StatusOK) {
				t.Errorf("authRoute took it for service %q; the mux answers %d for service %q", name, rec.Code, routed)
			}
		})
	}
}

// TestExtAuthzRoute: every path Envoy's HTTP ext_authz can send after the
// path_prefix /services/NAME/ext-authz reaches NAME's ext_authz with the
// client's path as spelled, never the mux (which redirects a path with
// "//", "." or ".." segments to its cleaned form).
func TestExtAuthzRoute(t *testing.T) {
	for _, tc := range []struct {
		request    string // the request line
		name, path string // "" name: left to the mux
	}{
		{"GET /services/orders/ext-authz HTTP/1.1", "orders", ""},
		{"GET /services/orders/ext-authz/ HTTP/1.1", "orders", "/"},
		{"POST /services/orders/ext-authz/orders/17?page=2 HTTP/1.1", "orders", "/orders/17"},
		{"GET /services/orders/ext-authz/a//b HTTP/1.1", "orders", "/a//b"},
		{"GET /services/orders/ext-authz/a/./b/../c HTTP/1.1", "orders", "/a/./b/../c"},
		{"GET /services/orders/ext-authz/../../other/auth HTTP/1.1", "orders", "/../../other/auth"},
		{"GET /services/orders/ext-authz/a%2Fb/%2e%2e HTTP/1.1", "orders", "/a%2Fb/%2e%2e"},
		{"GET /services/%6Frders/ext-authz/x HTTP/1.1", "orders", "/x"},
		{"GET http://gw/services/orders/ext-authz//x HTTP/1.1", "orders", "//x"},
		{"GET /services/orders/ext-authzed HTTP/1.1", "", ""},
		{"GET /services/orders/auth HTTP/1.1", "", ""},
		{"GET /services//ext-authz/x HTTP/1.1", "", ""},
		{"GET /services/a/b/ext-authz/x HTTP/1.1", "", ""},
		{"GET /x/services/orders/ext-authz HTTP/1.1", "", ""},
		{"CONNECT /services/orders/ext-authz HTTP/1.1", "", ""},
	} {
		t.Run(tc.request, func(t *testing.T) {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.request + "\r\nHost: gw\r\n\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			name, path, ok := extAuthzRoute(r)
			if ok != (tc.name != "") || name != tc.name || path != tc.path {
				t.Errorf("extAuthzRoute = %q, %q, %v; want %q, %q", name, path, ok, tc.name, tc.path)
			}
		})
	}
}

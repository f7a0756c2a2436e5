package httpfront

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/store"
)

// TestForwardAuthRememberedHeaders: the headers kept with a token (the
// memo of forward auth and of Envoy's HTTP ext_authz) are those the
// engine's decision gives, request after request and front by front:
// forward auth never sends X-Envoy-Auth-Headers-To-Remove, Envoy always
// does; the token in the query under hide_credentials is not the token in
// the header; and a revoked token is refused at once.
func TestForwardAuthRememberedHeaders(t *testing.T) {
	s, token, cached := newForwardAuthService(t, `{"provision_key":"pk-bench-0123456789","service_id":"orders","hide_credentials":true}`)
	inHeader := func(target string) *http.Request {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}
	extAuthz := func(w http.ResponseWriter, r *http.Request) {
		s.ExtAuthz(w, r, strings.TrimPrefix(r.URL.Path, "/authz"))
	}
	for _, tc := range []struct {
		name   string
		serve  http.HandlerFunc
		req    func() *http.Request
		remove string // X-Envoy-Auth-Headers-To-Remove holds this among others; "" = absent
	}{
		{"forward auth", s.ForwardAuth, func() *http.Request { return inHeader("http://serve/auth") }, ""},
		{"envoy http", extAuthz, func() *http.Request { return inHeader("http://serve/authz/things") }, "authorization"},
		{"envoy http, token in the query", extAuthz, func() *http.Request {
			return httptest.NewRequest("GET", "http://serve/authz/things?access_token="+token, nil)
		}, "x-anonymous-consumer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				w := httptest.NewRecorder()
				tc.serve(w, tc.req())
				h := w.Result().Header
				if w.Code != 200 || h.Get("X-Consumer-Username") != "bob" || h.Get("X-Credential-Identifier") != "app" ||
					h.Get("X-Authenticated-Userid") != "u" {
					t.Fatalf("request %d: %d %v", i+1, w.Code, h)
				}
				rm := h.Get("X-Envoy-Auth-Headers-To-Remove")
				switch {
				case tc.remove == "" && rm != "":
					t.Fatalf("request %d: forward auth sent X-Envoy-Auth-Headers-To-Remove: %s", i+1, rm)
				case tc.remove != "" && !containsName(rm, tc.remove):
					t.Fatalf("request %d: X-Envoy-Auth-Headers-To-Remove %q, want %s among them", i+1, rm, tc.remove)
				case tc.remove != "authorization" && containsName(rm, "authorization"):
					t.Fatalf("request %d: the token came in the query, yet the auth header is removed: %q", i+1, rm)
				}
			}
		})
	}

	digest := store.DigestOf(token)
	if _, err := cached.Revoke(t.Context(), store.Revocation{Access: &digest}); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	s.ForwardAuth(w, inHeader("http://serve/auth"))
	if w.Code != 401 || w.Header().Get("X-Consumer-Username") != "" {
		t.Fatalf("a revoked token: %d %v", w.Code, w.Header())
	}
}

// containsName reports whether the comma-separated list holds name.
func containsName(list, name string) bool {
	for n := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

package kongaccess

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/plugin"
)

func TestPDKCallCounts(t *testing.T) {
	v := newKongEnv(t)
	svc := v.config("")
	hide := v.config(`{"hide_credentials":true}`)
	route := v.config(`{"service_id":null}`)
	anon := v.config(`{"anonymous":"` + testConsumer.ID + `"}`)
	accept := v.config(`{"accept_http_if_already_terminated":true}`)
	invalid := v.config(`{"provision_key":null}`)
	jwt := v.config(`{"upstream_jwt":true}`)
	jwtAnon := v.config(`{"upstream_jwt":true,"anonymous":"` + testConsumer.ID + `"}`)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"authenticated_userid":"user-1"}`)
	}))
	defer backend.Close()
	login := v.config(`{"authenticate_url":"` + backend.URL + `"}`)
	tok := v.issue(svc)
	bearer := func(f *fakePDK) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer " + tok} }
	warm := v.pdk()
	bearer(warm)
	Access(svc, warm) // fill the consumer cache
	if warm.exited {
		t.Fatalf("warm-up answered %d %s", warm.status, warm.answer)
	}
	Access(invalid, v.pdk()) // the first request logs the config error

	type req struct {
		conf  *plugin.Config
		setup func(f *fakePDK)
	}
	// A second engine over the same store has the token and client cached
	// but no consumer yet.
	cold := func() *plugin.Config { return v.configOn(v.newEngine(), "") }
	for _, tc := range []struct {
		name  string
		r     req
		calls []string
	}{
		{"invalid config", req{invalid, func(f *fakePDK) {}}, []string{"Exit"}},
		{"bearer in header", req{svc, bearer}, []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in header, hide_credentials", req{hide, bearer}, []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"consumer not cached", req{cold(), bearer},
			[]string{"Path", "Header", "LoadConsumer", "Authenticate", "SetUpstreamHeaders"}},
		// The upstream JWT is one more header of the same call, signed
		// on first use, then taken from the token's cache entry.
		{"bearer in header, upstream_jwt, first use", req{jwt, bearer}, []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in header, upstream_jwt, cached", req{jwt, bearer}, []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"anonymous, bad token, upstream_jwt", req{jwtAnon, func(f *fakePDK) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer x"} }},
			[]string{"Path", "HasCredential", "Header", "ForwardedIP", "Authenticate", "SetUpstreamHeaders"}},
		{"jwks endpoint", req{svc, func(f *fakePDK) { f.path = "/oauth2/jwks" }}, []string{"Path", "Method", "Exit"}},
		{"metadata endpoint", req{svc, func(f *fakePDK) {
			f.path, f.headers["host"] = "/orders/.well-known/oauth-authorization-server", []string{"api.example.com"}
		}}, []string{"Path", "Method", "Scheme", "Header", "Exit"}},
		{"plugin on a route", req{route, bearer}, []string{"Path", "Header", "ServiceID", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in query", req{svc, func(f *fakePDK) { f.path, f.query = "/api", "access_token="+tok }},
			[]string{"Path", "Header", "Method", "RawQuery", "Authenticate", "SetUpstreamHeaders"}},
		{"bearer in query, hide_credentials", req{hide, func(f *fakePDK) { f.path, f.query = "/api", "access_token="+tok }},
			[]string{"Path", "Header", "Method", "RawQuery", "Authenticate", "SetUpstreamHeaders", "SetUpstreamRawQuery"}},
		{"bearer in form body", req{svc, func(f *fakePDK) {
			f.method, f.path = "POST", "/api"
			f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
			f.body = []byte("access_token=" + tok)
		}}, []string{"Path", "Header", "Method", "RawQuery", "Header", "RawBody", "Authenticate", "SetUpstreamHeaders"}},
		// A token without a valid check value may be a legacy one: it is
		// looked up within its address's budget, so the address is asked.
		{"invalid token", req{svc, func(f *fakePDK) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer x"} }},
			[]string{"Path", "Header", "ForwardedIP", "Exit"}},
		{"no token", req{svc, func(f *fakePDK) { f.path = "/api" }}, []string{"Path", "Header", "Method", "RawQuery", "Exit"}},
		{"anonymous, other plugin authenticated", req{anon, func(f *fakePDK) { f.path, f.hasCredential = "/api", true }},
			[]string{"Path", "HasCredential", "SetUpstreamHeaders"}},
		{"anonymous, valid token", req{anon, bearer}, []string{"Path", "HasCredential", "Header", "Authenticate", "SetUpstreamHeaders"}},
		{"anonymous, bad token", req{anon, func(f *fakePDK) { f.path = "/api"; f.headers["authorization"] = []string{"Bearer x"} }},
			[]string{"Path", "HasCredential", "Header", "ForwardedIP", "Authenticate", "SetUpstreamHeaders"}},
		{"token endpoint, GET", req{svc, func(f *fakePDK) { f.path = "/oauth2/token" }}, []string{"Path", "Method", "Exit"}},
		{"token endpoint, HTTPS", req{svc, tokenForm}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "Exit"}},
		{"token endpoint, terminated TLS", req{accept, func(f *fakePDK) {
			tokenForm(f)
			f.scheme, f.trustedIP = "http", true
			f.headers["x-forwarded-proto"] = []string{"https"}
		}}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "ClientIP", "IsTrustedIP", "Exit"}},
		{"token endpoint, route plugin", req{route, tokenForm}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "ServiceID", "Exit"}},
		{"token endpoint, query only", req{svc, func(f *fakePDK) {
			tokenForm(f)
			f.query, f.body = string(f.body), nil
			delete(f.headers, "content-type")
		}}, []string{"Path", "Method", "Headers", "RawQuery", "Scheme", "Exit"}},
		{"token endpoint, username and password", req{login, func(f *fakePDK) {
			tokenForm(f)
			f.body = []byte(url.Values{"grant_type": {"password"}, "client_id": {"app"}, "client_secret": {testSecret},
				"username": {"alice"}, "password": {"pw"}}.Encode())
		}}, []string{"Path", "Method", "Headers", "RawQuery", "RawBody", "Scheme", "ForwardedIP", "Exit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.t = t
			f := v.pdk()
			tc.r.setup(f)
			Access(tc.r.conf, f)
			if f.status != 0 && f.status != 200 && strings.Contains(tc.name, "password") {
				t.Errorf("answered %d %s", f.status, f.answer)
			}
			if !slices.Equal(f.calls, tc.calls) {
				t.Errorf("calls %v (%d), want %v (%d)", f.calls, len(f.calls), tc.calls, len(tc.calls))
			}
		})
	}
}

// TestPanicIsRecovered: a panic in any PDK call (a read inside the engine
// or a call that carries out its decision) is answered with one 500, and
// the next request works.
func TestPanicIsRecovered(t *testing.T) {
	v := newKongEnv(t)
	c := v.config("")
	tok := v.issue(c)
	for _, method := range []string{"Path", "Header", "Authenticate", "SetUpstreamHeaders", "Exit"} {
		t.Run(method, func(t *testing.T) {
			v.t = t
			f := v.pdk()
			f.path, f.panicOn = "/api", method
			f.headers["authorization"] = []string{"Bearer " + tok}
			if method == "Exit" {
				f.headers["authorization"] = []string{"Bearer invalid"} // answered with Exit
			}
			Access(c, f) // must not panic
			exits := strings.Count(strings.Join(f.calls, " "), "Exit")
			switch {
			case method == "Exit" && exits != 1:
				t.Errorf("Exit called %d times", exits)
			case method != "Exit" && (f.status != 500 || !strings.Contains(string(f.answer), "An unexpected error occurred")):
				t.Errorf("got %d %s", f.status, f.answer)
			}
			next := v.pdk()
			next.path = "/api"
			next.headers["authorization"] = []string{"Bearer " + tok}
			Access(c, next)
			if next.exited {
				t.Errorf("the next request answered %d %s", next.status, next.answer)
			}
		})
	}
}

package e2e

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// PDK method names as they cross the socket.
const (
	mPath        = "kong.request.get_path"
	mHeader      = "kong.request.get_header"
	mHeaders     = "kong.request.get_headers"
	mMethod      = "kong.request.get_method"
	mRawQuery    = "kong.request.get_raw_query"
	mRawBody     = "kong.request.get_raw_body"
	mScheme      = "kong.request.get_scheme"
	mClientIP    = "kong.client.get_ip"
	mForwardedIP = "kong.client.get_forwarded_ip" // the throttles' client address
	mTrusted     = "kong.ip.is_trusted"
	mService     = "kong.router.get_service"
	mAuth        = "kong.client.authenticate"
	mCredential  = "kong.client.get_credential"
	mLoad        = "kong.client.load_consumer"
	mSetHeaders  = "kong.service.request.set_headers"
	mSetRawQuery = "kong.service.request.set_raw_query"
	mExit        = "kong.response.exit"
	mLogErr      = "kong.log.err"
)

// TestPDKRoundTrips: every PDK call is a socket round trip, so the number
// per request is what a Kong node pays in latency. The counts are the
// table in plugin/access.go, measured through the real socket.
func TestPDKRoundTrips(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	e := start(t, db)
	e.consumer(konghost.Consumer{Username: "bob"})
	e.consumer(konghost.Consumer{Username: "carol"})
	e.consumer(konghost.Consumer{Username: "anon-user"})
	const pk = "pk-rt-0123456789"
	for _, s := range []konghost.ServiceSpec{
		{Name: "svc", Host: "svc.test"},
		{Name: "hide", Host: "hide.test", Config: map[string]any{"hide_credentials": true}},
		{Name: "route", Host: "route.test", Scope: konghost.ScopeRoute},
		{Name: "anon", Host: "anon.test", Config: map[string]any{"anonymous": "anon-user"}},
		{Name: "term", Host: "term.test", Config: map[string]any{"accept_http_if_already_terminated": true}},
		{Name: "bad", Host: "bad.test", Config: map[string]any{"provision_key": nil}},
	} {
		if s.Config == nil {
			s.Config = map[string]any{}
		}
		if _, set := s.Config["provision_key"]; !set {
			s.Config["provision_key"] = pk
		}
		e.service(s)
	}
	if err := e.Host.SetTrustedIPs("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	bob := harness.CreateClient(t, db, "bob", "web")
	carol := harness.CreateClient(t, db, "carol", "web")
	tok := func(host string, c harness.Client) string { return e.grant(host, c, pk, "u", "").AccessToken }
	svcTok, hideTok, routeTok, anonTok := tok("svc.test", bob), tok("hide.test", bob), tok("route.test", bob), tok("anon.test", bob)
	carolTok := tok("svc.test", carol)

	bearer := func(t string) http.Header { return http.Header{"Authorization": {"Bearer " + t}} }
	form := func(v url.Values) string { return v.Encode() }
	grant := form(passwordForm(bob, pk, "u", ""))
	formCT := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	tests := []struct {
		name          string
		method, url   string
		header        http.Header
		body          string
		warm          bool // send once before measuring (caches filled)
		status        int
		want          map[string]int
		logErrOnFirst bool
	}{
		{name: "bearer in header, consumer not cached yet", url: "http://svc.test/x", header: bearer(carolTok), status: 200,
			want: calls(mPath, mHeader, mLoad, mAuth, mSetHeaders)},
		{name: "bearer in header, consumer cached", url: "http://svc.test/x", header: bearer(svcTok), warm: true, status: 200,
			want: calls(mPath, mHeader, mAuth, mSetHeaders)},
		{name: "bearer in header, hide_credentials", url: "http://hide.test/x", header: bearer(hideTok), warm: true, status: 200,
			want: calls(mPath, mHeader, mAuth, mSetHeaders)},
		{name: "bearer in header, plugin on a route", url: "http://route.test/x", header: bearer(routeTok), warm: true, status: 200,
			want: calls(mPath, mHeader, mService, mAuth, mSetHeaders)},
		{name: "bearer in the query, GET", url: "http://svc.test/x?access_token=" + svcTok, warm: true, status: 200,
			want: calls(mPath, mHeader, mMethod, mRawQuery, mAuth, mSetHeaders)},
		{name: "bearer in the query, hide_credentials", url: "http://hide.test/x?a=1&access_token=" + hideTok, warm: true, status: 200,
			want: calls(mPath, mHeader, mMethod, mRawQuery, mAuth, mSetHeaders, mSetRawQuery)},
		{name: "bearer in a form body, POST", method: "POST", url: "http://svc.test/x", header: formCT,
			body: "access_token=" + svcTok, warm: true, status: 200,
			want: calls(mPath, mHeader, mMethod, mRawQuery, mHeader, mRawBody, mAuth, mSetHeaders)},
		// A token without a valid check value may be legacy: it is looked
		// up within its address's budget, so the address is asked.
		{name: "invalid token in the header", url: "http://svc.test/x", header: bearer("nope"), status: 401,
			want: calls(mPath, mHeader, mForwardedIP, mExit)},
		{name: "no token, GET", url: "http://svc.test/x", status: 401,
			want: calls(mPath, mHeader, mMethod, mRawQuery, mExit)},
		{name: "anonymous, valid token", url: "http://anon.test/x", header: bearer(anonTok), warm: true, status: 200,
			want: calls(mPath, mCredential, mHeader, mAuth, mSetHeaders)},
		{name: "anonymous, bad token", url: "http://anon.test/x", header: bearer("nope"), warm: true, status: 200,
			want: calls(mPath, mCredential, mHeader, mForwardedIP, mAuth, mSetHeaders)},
		{name: "token endpoint, GET", url: "https://svc.test/oauth2/token", status: 405,
			want: calls(mPath, mMethod, mExit)},
		{name: "token endpoint, password grant", method: "POST", url: "https://svc.test/oauth2/token", header: formCT, body: grant, status: 200,
			want: calls(mPath, mMethod, mHeaders, mRawQuery, mRawBody, mScheme, mExit)},
		{name: "token endpoint, plain HTTP behind a trusted TLS terminator", method: "POST", url: "http://term.test/oauth2/token",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-Proto": {"https"}}, body: grant, status: 200,
			want: calls(mPath, mMethod, mHeaders, mRawQuery, mRawBody, mScheme, mClientIP, mTrusted, mExit)},
		{name: "token endpoint, plugin on a route", method: "POST", url: "https://route.test/oauth2/token", header: formCT, body: grant, status: 200,
			want: calls(mPath, mMethod, mHeaders, mRawQuery, mRawBody, mScheme, mService, mExit)},
		{name: "token endpoint, body of another type", method: "POST", url: "https://svc.test/oauth2/token?client_id=" + bob.ID,
			header: http.Header{"Content-Type": {"text/plain"}}, body: grant, status: 400,
			// The secret is in the unread body: a failed client
			// authentication, counted against the client_id and address.
			want: calls(mPath, mMethod, mHeaders, mRawQuery, mScheme, mForwardedIP, mExit)},
		{name: "token endpoint, no client_id (not counted)", method: "POST", url: "https://svc.test/oauth2/token",
			header: formCT, body: "grant_type=password", status: 400,
			want: calls(mPath, mMethod, mHeaders, mRawQuery, mRawBody, mScheme, mExit)},
		{name: "invalid plugin configuration", url: "http://bad.test/x", header: bearer(svcTok), status: 500,
			want: calls(mExit), logErrOnFirst: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send := func() (reply, *konghost.Result) {
				method := tt.method
				if method == "" {
					method = "GET"
				}
				req, err := http.NewRequest(method, tt.url, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				maps.Copy(req.Header, tt.header)
				r := do(t, e.hc, req)
				return r, e.result(r)
			}
			if tt.warm || tt.logErrOnFirst {
				_, res := send()
				if tt.logErrOnFirst {
					want := maps.Clone(tt.want)
					want[mLogErr]++
					if !maps.Equal(res.Calls, want) {
						t.Errorf("first request: calls %v, want %v", res.Calls, want)
					}
				}
			}
			r, res := send()
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", r.StatusCode, tt.status, r.body)
			}
			n := 0
			for _, c := range tt.want {
				n += c
			}
			if !maps.Equal(res.Calls, tt.want) || res.RoundTrips != n {
				t.Errorf("%d round trips %v, want %d %v", res.RoundTrips, res.Calls, n, tt.want)
			}
		})
	}
}

func calls(methods ...string) map[string]int {
	m := map[string]int{}
	for _, x := range methods {
		m[x]++
	}
	return m
}

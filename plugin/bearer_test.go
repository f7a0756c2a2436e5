package plugin

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

const invalidDesc = "The access token is invalid or has expired"

func TestBearerExtraction(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	cust := v.config(`{"auth_header_name":"x_token"}`)
	tok := str(v.issue(c), "access_token")
	for _, tc := range []struct {
		name      string
		conf      *Config
		method    string
		header    map[string]string
		query, ct string
		body      string
		ok        bool
		wantCode  string
	}{
		{"Bearer", c, "GET", map[string]string{"authorization": "Bearer " + tok}, "", "", "", true, ""},
		{"bearer lower case", c, "GET", map[string]string{"authorization": "bearer " + tok}, "", "", "", true, ""},
		{"token keyword", c, "GET", map[string]string{"authorization": "Token " + tok}, "", "", "", true, ""},
		{"raw header value", c, "GET", map[string]string{"authorization": tok}, "", "", "", true, ""},
		{"three parts", c, "GET", map[string]string{"authorization": "Bearer " + tok + " x"}, "", "", "", false, "invalid_token"},
		{"custom header", cust, "GET", map[string]string{"x-token": "Bearer " + tok}, "", "", "", true, ""},
		{"custom header: Authorization not read", cust, "GET", map[string]string{"authorization": "Bearer " + tok}, "", "", "", false, "invalid_request"},
		{"query", c, "GET", nil, "a=1&access_token=" + tok, "", "", true, ""},
		{"header wins over query", c, "GET", map[string]string{"authorization": "Bearer nope"}, "access_token=" + tok, "", "", false, "invalid_token"},
		{"repeated query argument", c, "GET", nil, "access_token=" + tok + "&access_token=" + tok, "", "", false, "invalid_request"},
		{"form body on POST", c, "POST", nil, "", "application/x-www-form-urlencoded", "access_token=" + tok, true, ""},
		{"json body on PUT", c, "PUT", nil, "", "application/json", `{"access_token":"` + tok + `"}`, true, ""},
		{"json number is not a token", c, "PATCH", nil, "", "application/json", `{"access_token":12}`, false, "invalid_request"},
		{"body wins over query", c, "POST", nil, "access_token=" + tok, "application/x-www-form-urlencoded", "access_token=bad", false, "invalid_token"},
		{"body ignored on DELETE", c, "DELETE", nil, "", "application/x-www-form-urlencoded", "access_token=" + tok, false, "invalid_request"},
		{"body ignored on GET", c, "GET", nil, "", "application/x-www-form-urlencoded", "access_token=" + tok, false, "invalid_request"},
		{"nothing", c, "GET", nil, "", "", "", false, "invalid_request"},
		{"scheme alone is a raw token", c, "GET", map[string]string{"authorization": "Bearer"}, "access_token=" + tok, "", "", false, "invalid_token"},
		{"Basic header is a raw token", c, "GET", map[string]string{"authorization": basic("app", testSecret)}, "access_token=" + tok, "", "", false, "invalid_token"},
		// docs/endpoints.md "Where we differ": an empty header counts as absent.
		{"empty header: query read", c, "GET", map[string]string{"authorization": ""}, "access_token=" + tok, "", "", true, ""},
		{"empty query argument", c, "GET", nil, "access_token=", "", "", false, "invalid_request"},
		{"bare query argument", c, "GET", nil, "access_token", "", "", false, "invalid_request"},
		{"query on POST without body", c, "POST", nil, "access_token=" + tok, "", "", true, ""},
		{"json array is not a token", c, "POST", nil, "", "application/json", `{"access_token":["` + tok + `"]}`, false, "invalid_request"},
		{"multipart body on POST", c, "POST", nil, "", "multipart/form-data; boundary=XyZ",
			"--XyZ\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\n" + tok + "\r\n--XyZ--\r\n", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.apiRequest(tc.method, tc.query, tc.header, tc.ct, tc.body)
			access(tc.conf, f)
			if tc.ok {
				expectProxied(t, f)
				return
			}
			if f.status != 401 || str(f.json(), "error") != tc.wantCode {
				t.Errorf("got %d %s, want 401 %s", f.status, f.respBody, tc.wantCode)
			}
		})
	}
}

func TestBearerErrors(t *testing.T) {
	v := newEnv(t)
	plain := v.config("")
	realm := v.config(`{"realm":"my api"}`)
	for _, tc := range []struct {
		name, token   string
		conf          *Config
		code, desc    string
		wantChallenge string
	}{
		{"missing", "", plain, "invalid_request", "The access token is missing", `Bearer`},
		{"missing, realm", "", realm, "invalid_request", "The access token is missing", `Bearer realm="my api"`},
		{"invalid", "nope", plain, "invalid_token", invalidDesc, `Bearer error="invalid_token", error_description="` + invalidDesc + `"`},
		{"invalid, realm", "nope", realm, "invalid_token", invalidDesc, `Bearer realm="my api", error="invalid_token", error_description="` + invalidDesc + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.proxy(tc.conf, tc.token)
			f.expectError(401, tc.code, tc.desc)
			if got := f.respHeader("WWW-Authenticate"); got != tc.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantChallenge)
			}
			if f.authCalls != 0 {
				t.Error("Authenticate called on a failed request")
			}
		})
	}
}

func TestBearerExpiry(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"token_expiration":10}`)
	tok := str(v.issue(c), "access_token")
	v.advance(10*time.Second + 900*time.Millisecond) // valid while now - issued <= 10 s, in whole seconds
	expectProxied(t, v.proxy(c, tok))
	v.advance(200 * time.Millisecond)
	v.proxy(c, tok).expectError(401, "invalid_token", invalidDesc)
}

func TestBearerServiceScoping(t *testing.T) {
	v := newEnv(t)
	svc1 := v.config("")
	svc2 := v.config(`{"service_id":"svc-2"}`)
	global := v.config(`{"global_credentials":true}`)
	global2 := v.config(`{"global_credentials":true, "service_id":"svc-2"}`)
	anonSvc := v.config(`{"anonymous":"` + testConsumer.ID + `"}`)
	scoped := str(v.issue(svc1), "access_token")
	glob := str(v.issue(global), "access_token")

	expectProxied(t, v.proxy(svc1, scoped))
	v.proxy(svc2, scoped).expectError(401, "invalid_token", invalidDesc)
	v.proxy(global2, scoped).expectError(401, "invalid_token", invalidDesc)
	expectProxied(t, v.proxy(global, scoped)) // same service
	expectProxied(t, v.proxy(global2, glob))

	for _, conf := range []*Config{svc1, anonSvc} { // even in anonymous mode
		f := v.proxy(conf, glob)
		f.expectError(401, "invalid_token", "The access token is global, but the current plugin is configured without 'global_credentials'")
		if got := f.respHeader("WWW-Authenticate"); got != `Bearer error="invalid_token", error_description="`+invalidDesc+`"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
	}
}

func TestUpstreamHeaders(t *testing.T) {
	v := newEnv(t)
	v.client("nocustom", testSecret, "bob", "confidential")
	c := v.config("")
	tok := str(v.issue(c, "scope", "email profile"), "access_token")
	f := v.kong()
	f.path = "/api"
	f.headers["authorization"] = []string{"Bearer " + tok}
	f.headers["x-anonymous-consumer"] = []string{"true"} // spoofed
	access(c, f)
	expectProxied(t, f)
	want := map[string]string{
		hConsumerID: testConsumer.ID, hConsumerCustomID: "c-42", hConsumerUsername: "alice",
		hCredentialID: "app", hAnonymous: "<cleared>", hAuthenticatedScope: "email profile",
		hAuthenticatedUserID: "user-1", "Authorization": "<untouched>",
	}
	for h, w := range want {
		if got := f.up(h); got != w {
			t.Errorf("%s = %q, want %q", h, got, w)
		}
	}
	if *f.authed != testConsumer || *f.authCred != (Credential{ID: "app", ConsumerID: testConsumer.ID}) {
		t.Errorf("Authenticate(%+v, %+v)", f.authed, f.authCred)
	}

	// A consumer without custom_id and a token without scope clear them.
	bob := Consumer{ID: "bob-id", Username: "bob"}
	tok = str(v.issue(c, "client_id", "nocustom", "scope", "<del>"), "access_token")
	f = v.kong()
	f.path = "/api"
	f.consumers["bob"] = bob
	f.headers["authorization"] = []string{"Bearer " + tok}
	access(c, f)
	expectProxied(t, f)
	if f.up(hConsumerCustomID) != "<cleared>" || f.up(hAuthenticatedScope) != "<cleared>" || f.up(hConsumerID) != "bob-id" {
		t.Errorf("headers %v", f.upstream)
	}

	// A consumer without username: X-Consumer-Username cleared, the
	// client-sent copy does not reach the upstream.
	v.client("nameless", testSecret, "carol-id", "confidential")
	tok = str(v.issue(c, "client_id", "nameless", "scope", "profile email"), "access_token")
	f = v.kong()
	f.path = "/api"
	f.consumers["carol-id"] = Consumer{ID: "carol-id", CustomID: "c-7"}
	f.headers["authorization"] = []string{"Bearer " + tok}
	f.headers["x-consumer-username"] = []string{"admin"}
	access(c, f)
	expectProxied(t, f)
	if f.up(hConsumerUsername) != "<cleared>" || f.up(hConsumerCustomID) != "c-7" ||
		f.up(hCredentialID) != "nameless" || f.up(hAuthenticatedScope) != "profile email" {
		t.Errorf("headers %v", f.upstream)
	}
}

func TestBearerClientOrConsumerGone(t *testing.T) {
	v := newEnv(t)
	v.client("ghostly", testSecret, "ghost-consumer", "confidential")
	v.client("doomed", testSecret, testConsumer.ID, "confidential")
	c := v.config("")
	ghost := str(v.issue(c, "client_id", "ghostly"), "access_token")
	v.proxy(c, ghost).expectError(401, "invalid_token", invalidDesc)
	if !strings.Contains(v.logs(), `"ghostly"`) {
		t.Errorf("missing consumer not logged with the client id: %q", v.logs())
	}
	doomed := str(v.issue(c, "client_id", "doomed"), "access_token")
	expectProxied(t, v.proxy(c, doomed))
	if err := v.st.DeleteClient(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	v.proxy(c, doomed).expectError(401, "invalid_token", invalidDesc)
}

func TestRevokedTokenRefused(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	tok := str(v.issue(c), "access_token")
	d := digestOfStr(tok)
	if _, err := v.st.Revoke(context.Background(), revocationOf(d)); err != nil {
		t.Fatal(err)
	}
	v.proxy(c, tok).expectError(401, "invalid_token", invalidDesc)
}

// TestHideCredentialsDetails (kong/BEHAVIOUR.md, hide_credentials): the header
// is removed when the token came from it; otherwise the access_token query
// argument and, for a non-GET form body, the body argument, whichever
// carried the token. JSON and multipart bodies are left alone.
func TestHideCredentialsDetails(t *testing.T) {
	v := newEnv(t)
	hide := v.config(`{"hide_credentials":true}`)
	cust := v.config(`{"hide_credentials":true, "auth_header_name":"x-api-token"}`)
	tok := str(v.issue(hide), "access_token")
	form := "application/x-www-form-urlencoded; charset=utf-8"
	for _, tc := range []struct {
		name        string
		conf        *Config
		method      string
		header      map[string]string
		query, ct   string
		body        string
		wantRemoved []string // upstream headers removed
		wantKept    []string // upstream headers not touched
		wantQuery   any      // string, or nil: not rewritten
		wantBody    any      // string, or nil: not rewritten
		wantProxied bool
	}{
		{"header token: query argument kept", hide, "GET", map[string]string{"authorization": "Bearer " + tok}, "access_token=x&a=1", "", "",
			[]string{"Authorization"}, nil, nil, nil, true},
		{"custom header removed, Authorization kept", cust, "GET", map[string]string{"x-api-token": "token " + tok, "authorization": "Basic abc"}, "", "", "",
			[]string{"X-Api-Token"}, []string{"Authorization"}, nil, nil, true},
		// Kong strips the query and body instead (found_in.authorization_header
		// is false), leaving the credential in the header: we remove it.
		{"raw header value removed", hide, "GET", map[string]string{"authorization": tok}, "", "", "",
			[]string{"Authorization"}, nil, nil, nil, true},
		{"body token: query argument also removed", hide, "POST", nil, "access_token=stale&a=1", form, "access_token=" + tok + "&keep=1",
			nil, []string{"Authorization"}, "a=1", "keep=1", true},
		{"DELETE form body stripped though not read for the token", hide, "DELETE", nil, "access_token=" + tok + "&z=2", form, "access_token=x&keep=1",
			nil, nil, "z=2", "keep=1", true},
		{"GET form body not stripped", hide, "GET", nil, "access_token=" + tok, form, "access_token=x",
			nil, nil, "", nil, true},
		{"multipart body not stripped", hide, "PUT", nil, "access_token=" + tok, "multipart/form-data; boundary=XyZ", "--XyZ--\r\n",
			nil, nil, "", nil, true},
		{"anonymous path strips too", v.config(`{"hide_credentials":true, "anonymous":"` + testConsumer.ID + `"}`), "GET", nil, "access_token=bad&a=1", "", "",
			nil, nil, "a=1", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.apiRequest(tc.method, tc.query, tc.header, tc.ct, tc.body)
			access(tc.conf, f)
			if tc.wantProxied && f.exited {
				t.Fatalf("answered %d %s, want proxied", f.status, f.respBody)
			}
			for _, h := range tc.wantRemoved {
				if got := f.up(h); got != "<cleared>" {
					t.Errorf("%s upstream = %q, want removed", h, got)
				}
			}
			for _, h := range tc.wantKept {
				if got := f.up(h); got != "<untouched>" {
					t.Errorf("%s upstream = %q, want untouched", h, got)
				}
			}
			switch {
			case tc.wantQuery == nil && f.upQuery != nil:
				t.Errorf("query rewritten to %q", *f.upQuery)
			case tc.wantQuery != nil && (f.upQuery == nil || *f.upQuery != tc.wantQuery):
				t.Errorf("query = %v, want %q", f.upQuery, tc.wantQuery)
			}
			switch {
			case tc.wantBody == nil && f.upBody != nil:
				t.Errorf("body rewritten to %q", f.upBody)
			case tc.wantBody != nil && string(f.upBody) != tc.wantBody:
				t.Errorf("body = %q, want %q", f.upBody, tc.wantBody)
			}
		})
	}
}

func TestHideCredentials(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"hide_credentials":true}`)
	tok := str(v.issue(c), "access_token")

	f := v.proxy(c, tok)
	expectProxied(t, f)
	if f.up("Authorization") != "<cleared>" {
		t.Errorf("Authorization not removed: %q", f.up("Authorization"))
	}

	f = v.kong()
	f.path, f.query = "/api", "a=1&access_token="+tok+"&b=x%20y"
	access(c, f)
	expectProxied(t, f)
	if f.upQuery == nil || *f.upQuery != "a=1&b=x%20y" {
		t.Errorf("upstream query = %v", f.upQuery)
	}

	f = v.kong()
	f.method, f.path = "POST", "/api"
	f.headers["content-type"] = []string{"application/x-www-form-urlencoded"}
	f.body = []byte(url.Values{"access_token": {tok}, "keep": {"1"}}.Encode())
	access(c, f)
	expectProxied(t, f)
	if string(f.upBody) != "keep=1" || f.upQuery != nil {
		t.Errorf("upstream body = %q, query = %v", f.upBody, f.upQuery)
	}

	// JSON bodies are not rewritten (Kong does not either).
	f = v.kong()
	f.method, f.path = "POST", "/api"
	f.headers["content-type"] = []string{"application/json"}
	f.body = []byte(`{"access_token":"` + tok + `"}`)
	access(c, f)
	expectProxied(t, f)
	if f.upBody != nil {
		t.Errorf("JSON body rewritten: %q", f.upBody)
	}

	// Without hide_credentials nothing is stripped.
	plain := v.config("")
	f = v.proxy(plain, tok)
	expectProxied(t, f)
	if f.up("Authorization") != "<untouched>" {
		t.Errorf("Authorization touched without hide_credentials")
	}
}

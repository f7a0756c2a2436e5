package plugin

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"mime/multipart"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestTokenEndpointPaths(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	for _, tc := range []struct {
		path    string
		isToken bool
	}{
		{"/oauth2/token", true},
		{"/oauth2/token/", true},
		{"/some/prefix/oauth2/token", true},
		{"/oauth2/tokens", false},
		{"/oauth2/token/x", false},
		{"/oauth2", false},
	} {
		f := v.tokenReq(passwordForm())
		f.path = tc.path
		access(c, f)
		got := f.status == 200 && str(f.json(), "access_token") != ""
		if got != tc.isToken {
			t.Errorf("%s: token endpoint = %v, want %v (status %d %s)", tc.path, got, tc.isToken, f.status, f.respBody)
		}
	}
}

func TestTokenEndpointRejectsOtherMethodsBeforeHTTPS(t *testing.T) {
	v := newEnv(t)
	for _, tc := range []struct{ realm, challenge string }{
		{"", `Bearer error="invalid_method", error_description="The HTTP method GET is invalid for the token endpoint"`},
		{"test-oauth2", `Bearer realm="test-oauth2", error="invalid_method", error_description="The HTTP method GET is invalid for the token endpoint"`},
	} {
		c := v.config(`{"realm":"` + tc.realm + `"}`)
		f := v.tokenReq(passwordForm())
		f.method, f.scheme = "GET", "http"
		access(c, f)
		f.expectError(405, "invalid_method", "The HTTP method GET is invalid for the token endpoint")
		if got := f.respHeader("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
		}
	}
}

func TestTokenEndpointHTTPS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		accept     bool
		trusted    bool
		proto      []string
		wantStatus int
		wantDesc   string
	}{
		{"plain http", false, true, []string{"https"}, 400, "You must use HTTPS"},
		{"terminated, trusted", true, true, []string{"https"}, 200, ""},
		{"terminated, trusted, upper case", true, true, []string{"HTTPS"}, 200, ""},
		{"terminated, untrusted peer", true, false, []string{"https"}, 400, "You must use HTTPS"},
		{"terminated, forwarded http", true, true, []string{"http"}, 400, "You must use HTTPS"},
		{"terminated, no header", true, true, nil, 400, "You must use HTTPS"},
		{"two headers", true, true, []string{"https", "https"}, 400, "Only one X-Forwarded-Proto header allowed"},
		{"comma list", true, true, []string{"https, http"}, 400, "Only one X-Forwarded-Proto header allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			c := v.config(`{"accept_http_if_already_terminated":` + map[bool]string{true: "true", false: "false"}[tc.accept] + `}`)
			f := v.tokenReq(passwordForm("state", "st-1"))
			f.scheme, f.trustedIP = "http", tc.trusted
			if tc.proto != nil {
				f.headers["x-forwarded-proto"] = tc.proto
			}
			access(c, f)
			m := f.json()
			if tc.wantStatus == 200 {
				if f.status != 200 {
					t.Fatalf("got %d %v", f.status, m)
				}
				return
			}
			f.expectError(400, "access_denied", tc.wantDesc)
			if m["state"] != "st-1" {
				t.Errorf("state not echoed: %v", m)
			}
		})
	}
}

func TestTokenParametersAndEncodings(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	mp := func(fields map[string]string) ([]byte, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for k, val := range fields {
			w.WriteField(k, val)
		}
		w.Close()
		return b.Bytes(), w.FormDataContentType()
	}
	multiBody, multiCT := mp(map[string]string{"grant_type": "password", "client_id": "app", "client_secret": testSecret,
		"provision_key": testProvisionKey, "authenticated_userid": "u", "state": "m"})
	for _, tc := range []struct {
		name, query, ct string
		body            []byte
		wantStatus      int
		wantState       any
	}{
		{"form", "", "application/x-www-form-urlencoded", []byte(passwordForm("state", "f").Encode()), 200, "f"},
		{"json", "", "application/json; charset=utf-8",
			[]byte(`{"grant_type":"password","client_id":"app","client_secret":"` + testSecret + `","provision_key":"` + testProvisionKey + `","authenticated_userid":"u","state":"j"}`), 200, "j"},
		{"multipart", "", multiCT, multiBody, 200, "m"},
		{"query only", passwordForm("state", "q").Encode(), "", nil, 200, "q"},
		{"body wins over query", passwordForm("provision_key", "wrong", "state", "q").Encode(), "application/x-www-form-urlencoded",
			[]byte(url.Values{"provision_key": {testProvisionKey}, "state": {"b"}}.Encode()), 200, "b"},
		{"unparsable json is ignored", "state=q", "application/json", []byte(`{"grant_type":`), 400, "q"},
		{"unknown content type ignored", passwordForm("state", "q").Encode(), "text/plain", []byte("grant_type=nope"), 200, "q"},
		{"state without value", passwordForm().Encode() + "&state", "", nil, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.kong()
			f.method, f.path, f.query, f.body = "POST", "/oauth2/token", tc.query, tc.body
			if tc.ct != "" {
				f.headers["content-type"] = []string{tc.ct}
			}
			access(c, f)
			m := f.json()
			if f.status != tc.wantStatus || m["state"] != tc.wantState {
				t.Errorf("got %d %v, want %d with state %v", f.status, m, tc.wantStatus, tc.wantState)
			}
		})
	}
}

func TestTokenRequestLimits(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	f := v.tokenReq(passwordForm("pad", strings.Repeat("x", 70<<10)))
	f.query = "state=s"
	access(c, f)
	f.expectError(400, "invalid_request", "Request body too large")
	if f.json()["state"] != "s" {
		t.Errorf("state not echoed")
	}

	// More than 1000 parameters, wherever they are: one answer, which
	// still echoes state.
	var members []string
	for i := range 1001 {
		members = append(members, fmt.Sprintf(`"p%d":1`, i))
	}
	mp := "--b\r\nContent-Disposition: form-data; name=\"state\"\r\n\r\ns\r\n" +
		strings.Repeat("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n", 1001) + "--b--\r\n"
	for _, tc := range []struct {
		name, contentType, body, query string
	}{
		{"form body", "application/x-www-form-urlencoded", "state=s&" + strings.Repeat("a=1&", 2000), ""},
		{"JSON body", "application/json", `{"state":"s",` + strings.Join(members, ",") + "}", ""},
		{"multipart body", "multipart/form-data; boundary=b", mp, ""},
		{"query", "application/x-www-form-urlencoded", "", "state=s&" + strings.Repeat("a=1&", 2000)},
	} {
		f = v.tokenReq(passwordForm())
		f.headers["content-type"] = []string{tc.contentType}
		f.body, f.query = []byte(tc.body), tc.query
		access(c, f)
		f.expectError(400, "invalid_request", "Too many parameters")
		if f.json()["state"] != "s" {
			t.Errorf("%s: state not echoed: %s", tc.name, f.respBody)
		}
	}

	// Exactly 1000 parameters are not more than 1000, in any body.
	grant := passwordForm()
	names := slices.Sorted(maps.Keys(grant))
	for i := len(names); i < 1000; i++ {
		names = append(names, fmt.Sprintf("p%d", i))
	}
	value := func(n string) string {
		if v := grant.Get(n); v != "" {
			return v
		}
		return "1"
	}
	var formB, jsonB, multiB strings.Builder
	for i, n := range names {
		if i > 0 {
			formB.WriteString("&")
			jsonB.WriteString(",")
		}
		formB.WriteString(url.QueryEscape(n) + "=" + url.QueryEscape(value(n)))
		fmt.Fprintf(&jsonB, "%q:%q", n, value(n))
		fmt.Fprintf(&multiB, "--b\r\nContent-Disposition: form-data; name=%q\r\n\r\n%s\r\n", n, value(n))
	}
	multiB.WriteString("--b--\r\n")
	for _, tc := range []struct{ name, contentType, body string }{
		{"form body", "application/x-www-form-urlencoded", formB.String()},
		{"JSON body", "application/json", "{" + jsonB.String() + "}"},
		{"multipart body", "multipart/form-data; boundary=b", multiB.String()},
	} {
		f = v.tokenReq(passwordForm())
		f.headers["content-type"] = []string{tc.contentType}
		f.body = []byte(tc.body)
		access(c, f)
		if f.status != 200 {
			t.Errorf("%s with 1000 parameters: %d %s, want 200", tc.name, f.status, f.respBody)
		}
	}
}

func TestTokenResponseHeadersAndShape(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	for _, form := range []url.Values{passwordForm(), passwordForm("client_secret", "wrong")} {
		f := v.tokenReq(form)
		access(c, f)
		for h, want := range map[string]string{
			"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Pragma": "no-cache",
		} {
			if got := f.respHeader(h); got != want {
				t.Errorf("status %d: %s = %q, want %q", f.status, h, got, want)
			}
		}
	}
	m := v.issue(c)
	token := regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	if !token.MatchString(str(m, "access_token")) || !token.MatchString(str(m, "refresh_token")) ||
		m["token_type"] != "bearer" || m["expires_in"] != float64(7200) || len(m) != 4 {
		t.Errorf("token response %v", m)
	}
}

func TestTokensAreNotStoredInUsableForm(t *testing.T) {
	v := newEnv(t)
	m := v.issue(v.config(""))
	v.st.Close() // flush the WAL into the file
	var all []byte
	matches, _ := filepath.Glob(v.dbPath + "*")
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatal("store file is empty")
	}
	for _, secret := range []string{str(m, "access_token"), str(m, "refresh_token"), testSecret} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("the store file holds a plaintext secret")
		}
	}
}

func TestClientAuthentication(t *testing.T) {
	v := newEnv(t)
	v.client("noredirect", testSecret, testConsumer.ID, "confidential")
	v.client("withredirect", testSecret, testConsumer.ID, "confidential", "https://app.example/cb")
	v.client("colon", "se:cr:et", testConsumer.ID, "confidential")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	noBody := passwordForm("client_id", "<del>", "client_secret", "<del>")
	c := v.config("")
	cust := v.config(`{"auth_header_name":"x-oauth"}`)
	// Kong reads x_oauth as $http_x_oauth, which the X-OAuth a client
	// sends fills: the underscore spelling names the same header.
	under := v.config(`{"auth_header_name":"X_OAuth"}`)
	for _, tc := range []struct {
		name       string
		conf       *Config
		form       url.Values
		header     string // Authorization (or x-oauth for cust and under)
		wantStatus int
		wantCode   string
		wantDesc   string
		wantBasic  bool
	}{
		{"body id and secret", c, passwordForm(), "", 200, "", "", false},
		{"body pair wins over header", c, passwordForm(), basic("app", "wrong"), 200, "", "", false},
		{"basic header", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), basic("app", testSecret), 200, "", "", false},
		{"basic header, lower-case scheme", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), "basic " + basic("app", testSecret)[6:], 200, "", "", false},
		{"basic header, wrong secret", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), basic("app", "wrong"), 401, "invalid_client", "Invalid client authentication", true},
		{"basic header, unknown client", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), basic("nobody", "x"), 401, "invalid_client", "Invalid client authentication", true},
		{"basic header, garbage", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), "Basic !!!", 401, "invalid_client", "Invalid client authentication", true},
		// Kong's Basic parsing (kong/BEHAVIOUR.md): the regex
		// `\s*[Bb]asic\s*(.+)` is not anchored, ngx.decode_base64 stops at
		// the first "=", the result is split once on ":" and not URL-decoded.
		{"basic header, regex not anchored", c, noBody, "Foo Basic " + b64("app:"+testSecret), 200, "", "", false},
		{"basic header, no space after Basic", c, noBody, "Basic" + b64("app:"+testSecret), 200, "", "", false},
		{"basic header, padding optional", c, noBody, "Basic " + strings.TrimRight(b64("pub:"), "="), 200, "", "", false},
		{"basic header, bytes after padding ignored", c, noBody, "Basic " + b64("pub:") + "!junk", 200, "", "", false},
		{"basic header, length 4n+1 refused", c, noBody, "Basic " + b64("app:"+testSecret) + "A", 401, "invalid_client", "Invalid client authentication", true},
		{"basic header, not URL-decoded", c, noBody, basic("ap%70", testSecret), 401, "invalid_client", "Invalid client authentication", true},
		{"basic header, split once on colon", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), basic("colon", "se:cr:et"), 200, "", "", false},
		{"basic header, no colon: no secret", c, noBody, "Basic " + b64("app"), 401, "invalid_client", "Invalid client authentication", true},
		{"basic header, empty id", c, noBody, basic("", testSecret), 401, "invalid_client", "Invalid client authentication", true},
		{"basic header, public client without colon", c, noBody, "Basic " + b64("pub"), 200, "", "", false},
		{"basic header, public client with empty secret", c, noBody, basic("pub", ""), 200, "", "", false},
		// Always 400, never the Basic challenge (kong/BEHAVIOUR.md).
		{"basic header, public client with secret", c, noBody, basic("pub", "s3cret"), 400, "invalid_request", "client_secret is disallowed for public clients", false},
		{"header present: body client_id alone ignored", c, passwordForm("client_secret", "<del>"), "Bearer xyz", 401, "invalid_client", "Invalid client authentication", true},
		{"custom auth header carries Basic", cust, passwordForm("client_id", "<del>", "client_secret", "<del>"), basic("app", testSecret), 200, "", "", false},
		{"custom auth header named with underscores", under, passwordForm("client_id", "<del>", "client_secret", "<del>"), basic("app", testSecret), 200, "", "", false},
		{"wrong secret in body", c, passwordForm("client_secret", "wrong"), "", 400, "invalid_client", "Invalid client authentication", false},
		{"confidential without secret", c, passwordForm("client_secret", "<del>"), "", 400, "invalid_client", "Invalid client authentication", false},
		{"unknown client", c, passwordForm("client_id", "ghost"), "", 400, "invalid_client", "Invalid client authentication", false},
		{"no client at all", c, passwordForm("client_id", "<del>", "client_secret", "<del>"), "", 400, "invalid_client", "Invalid client authentication", false},
		{"public client without secret", c, passwordForm("client_id", "pub", "client_secret", "<del>"), "", 200, "", "", false},
		{"public client, blank secret", c, passwordForm("client_id", "pub", "client_secret", "  "), "", 200, "", "", false},
		{"public client with secret", c, passwordForm("client_id", "pub", "client_secret", "s3cret"), "", 400, "invalid_request", "client_secret is disallowed for public clients", false},
		// §9: redirect URIs play no part in the password grant.
		{"client without redirect_uris", c, passwordForm("client_id", "noredirect"), "", 200, "", "", false},
		{"unregistered redirect_uri ignored", c, passwordForm("client_id", "withredirect", "redirect_uri", "https://evil.example/"), "", 200, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.tokenReq(tc.form)
			if tc.header != "" {
				name := "authorization"
				if tc.conf == cust || tc.conf == under {
					name = "x-oauth"
				}
				f.headers[name] = []string{tc.header}
			}
			access(tc.conf, f)
			if tc.wantStatus == 200 {
				if f.status != 200 {
					t.Fatalf("got %d %s", f.status, f.respBody)
				}
				return
			}
			f.expectError(tc.wantStatus, tc.wantCode, tc.wantDesc)
			gotBasic := f.respHeader("WWW-Authenticate") == `Basic realm="OAuth2.0"`
			if gotBasic != tc.wantBasic {
				t.Errorf("WWW-Authenticate = %q", f.respHeader("WWW-Authenticate"))
			}
		})
	}
	if strings.Contains(v.logs(), testSecret) {
		t.Error("a client secret reached the log")
	}
}

// TestClientAuthenticationJSONValues: parameters that are not strings, as
// a JSON body can send them. Step 1 of kong/BEHAVIOUR.md needs
// both client_id and client_secret truthy (false is not); a secret that
// did not qualify is not presented at all.
func TestClientAuthenticationJSONValues(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	for _, tc := range []struct {
		name           string
		extra          map[string]any
		status         int
		wantCode, desc string
	}{
		{"confidential, numeric secret", map[string]any{"client_secret": 12}, 400, "invalid_client", "Invalid client authentication"},
		{"confidential, secret false", map[string]any{"client_secret": false}, 400, "invalid_client", "Invalid client authentication"},
		{"confidential, secret null", map[string]any{"client_secret": jsonNull}, 400, "invalid_client", "Invalid client authentication"},
		{"numeric client_id", map[string]any{"client_id": 12}, 400, "invalid_client", "Invalid client authentication"},
		{"client_id false", map[string]any{"client_id": false}, 400, "invalid_client", "Invalid client authentication"},
		{"public, numeric secret", map[string]any{"client_id": "pub", "client_secret": 12}, 400, "invalid_request", "client_secret is disallowed for public clients"},
		{"public, secret true", map[string]any{"client_id": "pub", "client_secret": true}, 400, "invalid_request", "client_secret is disallowed for public clients"},
		{"public, secret false: not presented", map[string]any{"client_id": "pub", "client_secret": false}, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.jsonTokenReq(passwordJSON(tc.extra))
			access(c, f)
			if tc.status == 200 {
				if f.status != 200 {
					t.Fatalf("got %d %s", f.status, f.respBody)
				}
				return
			}
			f.expectError(tc.status, tc.wantCode, tc.desc)
		})
	}
}

// TestBasicHeaderFirstValue: of a repeated auth header, the token endpoint
// reads the first value, like kong.request.get_header.
func TestBasicHeaderFirstValue(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	for _, tc := range []struct {
		name   string
		values []string
		status int
	}{
		{"valid first", []string{basic("app", testSecret), basic("app", "wrong")}, 200},
		{"valid second", []string{basic("app", "wrong"), basic("app", testSecret)}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.tokenReq(passwordForm("client_id", "<del>", "client_secret", "<del>"))
			f.headers["authorization"] = tc.values
			access(c, f)
			if f.status != tc.status {
				t.Errorf("got %d %s, want %d", f.status, f.respBody, tc.status)
			}
		})
	}
}

// TestTokenErrorPrecedence (kong/BEHAVIOUR.md): the HTTPS
// failure wins; then the last of unsupported_grant_type, the client lookup
// and the secret check; the grant's own checks only when none is left.
func TestTokenErrorPrecedence(t *testing.T) {
	v := newEnv(t)
	c := v.config("")
	noBody := func(extra ...string) url.Values {
		return passwordForm(append([]string{"client_id", "<del>", "client_secret", "<del>"}, extra...)...)
	}
	for _, tc := range []struct {
		name           string
		form           url.Values
		header         string // Authorization
		plainHTTP      bool
		status         int // 400 when 0
		wantCode, desc string
	}{
		{name: "plain HTTP wins over every other error", form: url.Values{"client_id": {"ghost"}, "grant_type": {"x"}}, header: basic("ghost", "x"), plainHTTP: true,
			wantCode: "access_denied", desc: "You must use HTTPS"},
		{name: "unsupported grant, Basic client wrong secret", form: noBody("grant_type", "<del>"), header: basic("app", "wrong"), status: 401,
			wantCode: "invalid_client", desc: "Invalid client authentication"},
		{name: "unsupported grant, Basic client unknown", form: noBody("grant_type", "implicit"), header: basic("ghost", "x"), status: 401,
			wantCode: "invalid_client", desc: "Invalid client authentication"},
		{name: "unsupported grant, valid Basic client", form: noBody("grant_type", "<del>"), header: basic("app", testSecret),
			wantCode: "unsupported_grant_type", desc: "Invalid grant_type"},
		{name: "unsupported grant, public client", form: passwordForm("grant_type", "<del>", "client_id", "pub", "client_secret", "<del>"),
			wantCode: "unsupported_grant_type", desc: "Invalid grant_type"},
		{name: "unsupported grant, public client with a secret", form: passwordForm("grant_type", "<del>", "client_id", "pub", "client_secret", "x"),
			wantCode: "invalid_request", desc: "client_secret is disallowed for public clients"},
		{name: "unsupported grant, bad provision key", form: passwordForm("grant_type", "client_credentials", "provision_key", "bad"),
			wantCode: "unsupported_grant_type", desc: "Invalid grant_type"},
		{name: "bad client, bad scope", form: passwordForm("client_id", "ghost", "scope", "admin"),
			wantCode: "invalid_client", desc: "Invalid client authentication"},
		{name: "bad scope, bad provision key", form: passwordForm("scope", "admin", "provision_key", "bad"),
			wantCode: "invalid_provision_key", desc: "Invalid provision_key"},

		// Kong spec 1809-1825: client error overwrites unsupported_grant_type.
		{"no grant_type, client without secret", url.Values{"client_id": {"app"}, "scope": {"email"}, "response_type": {"code"}}, "", false, 0, "invalid_client", "Invalid client authentication"},
		{"no grant_type, valid client", passwordForm("grant_type", "<del>"), "", false, 0, "unsupported_grant_type", "Invalid grant_type"},
		{"authorization_code", passwordForm("grant_type", "authorization_code"), "", false, 0, "unsupported_grant_type", "Invalid grant_type"},
		{"client_credentials", passwordForm("grant_type", "client_credentials"), "", false, 0, "unsupported_grant_type", "Invalid grant_type"},
		{"implicit", passwordForm("grant_type", "implicit"), "", false, 0, "unsupported_grant_type", "Invalid grant_type"},
		{"bad grant and bad client", passwordForm("grant_type", "x", "client_secret", "bad"), "", false, 0, "invalid_client", "Invalid client authentication"},
		{"bad client and bad provision key", passwordForm("client_secret", "bad", "provision_key", "bad"), "", false, 0, "invalid_client", "Invalid client authentication"},
		{"bad provision key and no user", passwordForm("provision_key", "bad", "authenticated_userid", "<del>"), "", false, 0, "invalid_provision_key", "Invalid provision_key"},
		{"no user and bad scope", passwordForm("authenticated_userid", "<del>", "scope", "admin"), "", false, 0, "invalid_authenticated_userid", "Missing authenticated_userid parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.use(t)
			f := v.tokenReq(tc.form)
			if tc.header != "" {
				f.headers["authorization"] = []string{tc.header}
			}
			if tc.plainHTTP {
				f.scheme = "http"
			}
			access(c, f)
			status := tc.status
			if status == 0 {
				status = 400
			}
			f.expectError(status, tc.wantCode, tc.desc)
			if got, want := f.respHeader("WWW-Authenticate") != "", status == 401; got != want {
				t.Errorf("WWW-Authenticate = %q", f.respHeader("WWW-Authenticate"))
			}
		})
	}
}

// TestStateEchoedVerbatim: state is echoed in every token-endpoint answer,
// errors included, whatever JSON value it is (kong/BEHAVIOUR.md
// §3.4 step 0: response_params.state = parameters.state).
func TestStateEchoedVerbatim(t *testing.T) {
	v := newEnv(t)
	v.e.throttle = nil // dozens of failures for one client on purpose
	c := v.config("")
	answers := []struct {
		name   string
		extra  map[string]any
		status int
	}{
		{"success", nil, 200},
		{"unsupported_grant_type", map[string]any{"grant_type": "implicit"}, 400},
		{"invalid_client", map[string]any{"client_secret": "wrong"}, 400},
		{"public client with secret", map[string]any{"client_id": "pub", "client_secret": "x"}, 400},
		{"invalid_provision_key", map[string]any{"provision_key": "bad"}, 400},
		{"invalid_authenticated_userid", map[string]any{"authenticated_userid": " "}, 400},
		{"invalid_scope", map[string]any{"scope": "admin"}, 400},
		{"invalid refresh_token", map[string]any{"grant_type": "refresh_token", "refresh_token": "nope"}, 400},
	}
	states := []struct {
		name  string
		value any
		want  any // as decoded from the answer
	}{
		{"string", "xyz", "xyz"},
		{"empty string", "", ""},
		{"number", 42, float64(42)},
		{"false", false, false},
		{"array", []any{"a", 1}, []any{"a", float64(1)}},
		{"object", map[string]any{"k": "v"}, map[string]any{"k": "v"}},
	}
	for _, a := range answers {
		for _, st := range states {
			t.Run(a.name+"/"+st.name, func(t *testing.T) {
				v.use(t)
				body := passwordJSON(a.extra)
				body["state"] = st.value
				f := v.jsonTokenReq(body)
				access(c, f)
				m := f.json()
				got, ok := m["state"]
				if f.status != a.status || !ok || !reflect.DeepEqual(got, st.want) {
					t.Errorf("got %d state %#v (present %v), want %d state %#v", f.status, got, ok, a.status, st.want)
				}
			})
		}
	}
	// No state sent: none answered.
	f := v.jsonTokenReq(passwordJSON(map[string]any{"client_secret": "wrong"}))
	access(c, f)
	if _, ok := f.json()["state"]; ok {
		t.Errorf("state answered though none was sent: %s", f.respBody)
	}
}

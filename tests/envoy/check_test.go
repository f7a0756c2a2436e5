package envoy

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/oauth2-password/oauth2-password/tests/fwdauth"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// identityHeaders are the upstream headers serve answers for on every
// allowed request, in the lower case Envoy uses: each is set or removed,
// never left as the client sent it.
var identityHeaders = func() []string {
	h := make([]string, len(fwdauth.IdentityHeaders))
	for i, name := range fwdauth.IdentityHeaders {
		h[i] = strings.ToLower(name)
	}
	return h
}()

// outcome is what Envoy does with serve's answer, from either front.
type outcome struct {
	allowed bool
	// Allowed: the upstream request's changes.
	set          map[string]string // headers set (overwriting)
	removed      []string          // headers removed
	queryRemoved []string          // query parameters removed
	// Denied: the client's answer.
	status int
	header map[string]string // lower-case names
	body   []byte
	code   code.Code // gRPC only
}

// fromCheck reads a CheckResponse as Envoy's gRPC ext_authz filter does:
// OK allows with ok_response's mutations; any other status denies with
// denied_response.
func fromCheck(t *testing.T, r *authv3.CheckResponse) outcome {
	t.Helper()
	o := outcome{code: code.Code(r.GetStatus().GetCode())}
	if r.GetErrorResponse() != nil {
		t.Fatalf("Check answered error_response: Envoy would apply failure_mode_allow to it: %v", r)
	}
	if o.code == code.Code_OK {
		ok := r.GetOkResponse()
		o.allowed, o.set = true, map[string]string{}
		for _, h := range ok.GetHeaders() {
			if m := h.ProtoReflect(); m.Has(m.Descriptor().Fields().ByName("append")) {
				t.Errorf("header %s uses the deprecated append field", h.GetHeader().GetKey())
			}
			if h.GetAppendAction().String() != "OVERWRITE_IF_EXISTS_OR_ADD" {
				t.Errorf("header %s: append_action %v, want OVERWRITE_IF_EXISTS_OR_ADD (a client's copy must not survive)", h.GetHeader().GetKey(), h.GetAppendAction())
			}
			o.set[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		o.removed, o.queryRemoved = ok.GetHeadersToRemove(), ok.GetQueryParametersToRemove()
		return o
	}
	d := r.GetDeniedResponse()
	if d == nil {
		t.Fatalf("Check denied (%v) without denied_response: the client would get a bare 403", o.code)
	}
	o.status, o.body, o.header = int(d.GetStatus().GetCode()), []byte(d.GetBody()), map[string]string{}
	for _, h := range d.GetHeaders() {
		o.header[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return o
}

// fromHTTP reads an HTTP ext_authz answer as Envoy does with envoy.yaml's
// settings: 200 allows, copying allowed_upstream_headers to the upstream
// request and removing those named in x-envoy-auth-headers-to-remove;
// anything else goes to the client.
func fromHTTP(t *testing.T, res *http.Response) outcome {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{code: -1}
	if res.StatusCode == http.StatusOK {
		o.allowed, o.set = true, map[string]string{}
		for _, h := range identityHeaders {
			if v := res.Header.Get(h); v != "" {
				o.set[h] = v
			}
		}
		if rm := res.Header.Get("X-Envoy-Auth-Headers-To-Remove"); rm != "" {
			for _, h := range strings.Split(rm, ",") {
				o.removed = append(o.removed, strings.TrimSpace(h))
			}
		}
		return o
	}
	o.status, o.body, o.header = res.StatusCode, body, map[string]string{}
	for k := range res.Header {
		o.header[strings.ToLower(k)] = res.Header.Get(k)
	}
	return o
}

// want is what a client of Envoy, or its upstream, must see.
type want struct {
	allowed bool
	set     map[string]string // identity headers set; every other one is removed
	removed []string          // other headers removed upstream (the credential)
	query   []string          // query parameters removed upstream

	status     int
	code       code.Code // gRPC status of a denial
	errCode    string    // the JSON body's "error"
	message    string    // the JSON body's "message"
	challenge  string    // WWW-Authenticate, exactly
	retryAfter bool
}

func (w want) assert(t *testing.T, o outcome) {
	t.Helper()
	if o.allowed != w.allowed {
		t.Fatalf("allowed = %v, want %v (status %d, body %s)", o.allowed, w.allowed, o.status, o.body)
	}
	if w.allowed {
		for _, h := range identityHeaders {
			v, isSet := o.set[h]
			isRemoved := slices.Contains(o.removed, h)
			switch wv, want := w.set[h]; {
			case want && (v != wv || isRemoved):
				t.Errorf("upstream %s = %q (removed %v), want %q", h, v, isRemoved, wv)
			case !want && (isSet || !isRemoved):
				t.Errorf("upstream %s: set %q, removed %v; want it removed so a client's copy cannot reach the upstream", h, v, isRemoved)
			}
		}
		for _, h := range []string{"authorization"} {
			if got, want := slices.Contains(o.removed, h), slices.Contains(w.removed, h); got != want {
				t.Errorf("upstream %s removed = %v, want %v", h, got, want)
			}
		}
		if !slices.Equal(o.queryRemoved, w.query) {
			t.Errorf("query parameters removed upstream: %q, want %q", o.queryRemoved, w.query)
		}
		return
	}
	if o.status != w.status {
		t.Errorf("client status %d, want %d (body %s)", o.status, w.status, o.body)
	}
	if o.code != -1 && o.code != w.code {
		t.Errorf("gRPC status %v, want %v", o.code, w.code)
	}
	if ct := o.header["content-type"]; !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content-type %q, want application/json", ct)
	}
	var body struct{ Error, Message string }
	if err := json.Unmarshal(o.body, &body); err != nil {
		t.Errorf("body %q is not JSON: %v", o.body, err)
	}
	if body.Error != w.errCode || !strings.Contains(body.Message, w.message) {
		t.Errorf("body %s, want error %q, message containing %q", o.body, w.errCode, w.message)
	}
	if got := o.header["www-authenticate"]; w.challenge != "" && got != w.challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, w.challenge)
	}
	if got := o.header["retry-after"] != ""; got != w.retryAfter {
		t.Errorf("Retry-After present = %v, want %v", got, w.retryAfter)
	}
}

const invalidTokenChallenge = `error="invalid_token", error_description="The access token is invalid or has expired"`

// TestExtAuthz: every case of forward auth, through gRPC Check and through
// the HTTP ext_authz endpoint, against the real serve binary: the client
// and the upstream see what a Kong user and a Kong upstream see.
func TestExtAuthz(t *testing.T) {
	s := newStack(t, pg.NewDatabase(t))

	valid := s.issue("orders", "user-1", "email")
	noScope := s.issue("orders", "user-2", "")
	hiddenTok := s.issue("hidden", "user-3", "")
	globalTok := s.issue("global-a", "user-4", "")
	revoked := s.issue("orders", "user-5", "")
	shortTok := s.issue("short", "user-6", "")
	// Cache it first, so that revocation must evict it.
	if o := fromCheck(t, s.check("orders", envoyRequest{path: "/orders", header: map[string]string{"authorization": "Bearer " + revoked.AccessToken}})); !o.allowed {
		t.Fatalf("fresh token denied: %d %s", o.status, o.body)
	}
	s.revoke("orders", revoked.AccessToken)
	// The short token lives one second: wait until it has expired.
	time.Sleep(time.Until(shortTok.expired()))

	bob := func(cred, user, scope string) map[string]string {
		m := map[string]string{"x-consumer-id": harness.ConsumerID, "x-consumer-username": "bob",
			"x-consumer-custom-id": "crm-17", "x-credential-identifier": cred, "x-authenticated-userid": user}
		if scope != "" {
			m["x-authenticated-scope"] = scope
		}
		return m
	}
	bearer := func(tok string) map[string]string { return map[string]string{"authorization": "Bearer " + tok} }
	unauthorized := func(challenge string) want {
		return want{status: 401, code: code.Code_UNAUTHENTICATED, errCode: "invalid_token", challenge: challenge}
	}
	cases := []struct {
		name     string
		service  string
		req      envoyRequest
		want     want
		grpcOnly string // why the HTTP front cannot do it
	}{
		{name: "valid", service: "orders", req: envoyRequest{path: "/orders/17?page=2", header: bearer(valid.AccessToken)},
			want: want{allowed: true, set: bob(s.client.ID, "user-1", "email")}},
		{name: "valid, header_map (encode_raw_headers)", service: "orders", req: envoyRequest{path: "/orders", header: bearer(valid.AccessToken), rawHeaders: true},
			want: want{allowed: true, set: bob(s.client.ID, "user-1", "email")}, grpcOnly: "header_map is gRPC's"},
		{name: "valid, path as the client spelled it", service: "orders", req: envoyRequest{path: "/orders//17/./x/../y?page=2", header: bearer(valid.AccessToken)},
			want: want{allowed: true, set: bob(s.client.ID, "user-1", "email")}},
		{name: "missing, path as the client spelled it", service: "orders", req: envoyRequest{path: "/a/../orders//17"},
			want: want{status: 401, code: code.Code_UNAUTHENTICATED, errCode: "invalid_request", challenge: `Bearer realm="shop"`}},
		{name: "valid, token scheme in another case", service: "orders", req: envoyRequest{method: "DELETE", path: "/orders/17", header: map[string]string{"authorization": "bearer " + valid.AccessToken}},
			want: want{allowed: true, set: bob(s.client.ID, "user-1", "email")}},
		{name: "valid, access_token in the query", service: "orders", req: envoyRequest{path: "/orders?access_token=" + noScope.AccessToken + "&page=2"},
			want: want{allowed: true, set: bob(s.client.ID, "user-2", "")}},
		{name: "missing", service: "orders", req: envoyRequest{path: "/orders"},
			want: want{status: 401, code: code.Code_UNAUTHENTICATED, errCode: "invalid_request", challenge: `Bearer realm="shop"`}},
		{name: "missing, POST without body", service: "orders", req: envoyRequest{method: "POST", path: "/orders", header: map[string]string{"content-type": "application/x-www-form-urlencoded"}},
			want: want{status: 401, code: code.Code_UNAUTHENTICATED, errCode: "invalid_request", challenge: `Bearer realm="shop"`}},
		{name: "malformed", service: "orders", req: envoyRequest{path: "/orders", header: map[string]string{"authorization": "Bearer a b c"}},
			want: unauthorized(`Bearer realm="shop", ` + invalidTokenChallenge)},
		{name: "unknown", service: "orders", req: envoyRequest{path: "/orders", header: bearer(otherFirstChar(valid.AccessToken))},
			want: unauthorized(`Bearer realm="shop", ` + invalidTokenChallenge)},
		{name: "expired", service: "short", req: envoyRequest{path: "/orders", header: bearer(shortTok.AccessToken)},
			want: unauthorized(`Bearer ` + invalidTokenChallenge)},
		{name: "revoked", service: "orders", req: envoyRequest{path: "/orders", header: bearer(revoked.AccessToken)},
			want: unauthorized(`Bearer realm="shop", ` + invalidTokenChallenge)},
		{name: "wrong service", service: "hidden", req: envoyRequest{path: "/orders", header: bearer(valid.AccessToken)},
			want: unauthorized(`Bearer ` + invalidTokenChallenge)},
		{name: "global token on another global service", service: "global-b", req: envoyRequest{path: "/orders", header: bearer(globalTok.AccessToken)},
			want: want{allowed: true, set: bob(s.client.ID, "user-4", "")}},
		{name: "global token on a service without global_credentials", service: "orders", req: envoyRequest{path: "/orders", header: bearer(globalTok.AccessToken)},
			want: unauthorized(`Bearer realm="shop", ` + invalidTokenChallenge)},
		{name: "anonymous, no token", service: "anon", req: envoyRequest{path: "/orders"},
			want: want{allowed: true, set: map[string]string{"x-consumer-id": "guest", "x-consumer-username": "guest", "x-anonymous-consumer": "true"}}},
		{name: "anonymous, bad token", service: "anon", req: envoyRequest{path: "/orders", header: bearer("nope")},
			want: want{allowed: true, set: map[string]string{"x-consumer-id": "guest", "x-consumer-username": "guest", "x-anonymous-consumer": "true"}}},
		{name: "hide_credentials, header", service: "hidden", req: envoyRequest{path: "/orders", header: bearer(hiddenTok.AccessToken)},
			want: want{allowed: true, set: bob(s.client.ID, "user-3", ""), removed: []string{"authorization"}}},
		{name: "hide_credentials, query", service: "hidden", req: envoyRequest{path: "/orders?page=2&access_token=" + hiddenTok.AccessToken},
			want:     want{allowed: true, set: bob(s.client.ID, "user-3", ""), query: []string{"access_token"}},
			grpcOnly: "Envoy's HTTP ext_authz cannot change the query"},
		{name: "spoofed identity headers", service: "orders", req: envoyRequest{path: "/orders", header: map[string]string{
			"authorization": "Bearer " + noScope.AccessToken, "x-consumer-id": "admin", "x-consumer-username": "admin",
			"x-authenticated-scope": "admin", "x-anonymous-consumer": "false", "x-credential-identifier": "forged"}},
			want: want{allowed: true, set: bob(s.client.ID, "user-2", "")}},
	}
	for _, c := range cases {
		t.Run("grpc/"+c.name, func(t *testing.T) {
			c.want.assert(t, fromCheck(t, s.check(c.service, c.req)))
		})
		if c.grpcOnly != "" {
			continue // c.grpcOnly says why
		}
		t.Run("http/"+c.name, func(t *testing.T) {
			c.want.assert(t, fromHTTP(t, s.extAuthz(c.service, c.req)))
		})
	}
}

// TestExtAuthzService: a route that names no SERVICE, or one serve does
// not have, is a configuration error the client sees as 500 (gRPC) or 404
// (HTTP), with a body that says which; never a gRPC error, never allowed.
func TestExtAuthzService(t *testing.T) {
	s := newStack(t, pg.NewDatabase(t))
	tok := s.issue("orders", "user-1", "")
	req := envoyRequest{path: "/orders", header: map[string]string{"authorization": "Bearer " + tok.AccessToken}}
	for _, c := range []struct{ service, message string }{
		{"", `context_extensions "service"`},
		{"nosuch", "unknown service nosuch"},
	} {
		o := fromCheck(t, s.check(c.service, req))
		var body struct{ Message string }
		_ = json.Unmarshal(o.body, &body)
		if o.allowed || o.status != 500 || o.code != code.Code_INTERNAL || !strings.Contains(body.Message, c.message) {
			t.Errorf("service %q: allowed %v, %d %v %s; want 500 INTERNAL naming %q", c.service, o.allowed, o.status, o.code, o.body, c.message)
		}
	}
	for _, path := range []string{"/orders", "//orders/../x"} {
		req.path = path
		o := fromHTTP(t, s.extAuthz("nosuch", req))
		if o.allowed || o.status != 404 || !strings.Contains(string(o.body), "nosuch") {
			t.Errorf("HTTP ext_authz of an unknown service, path %s: %d %s, want 404 naming it", path, o.status, o.body)
		}
	}
}

// TestGRPCHealth: Envoy's gRPC health check of the authz cluster sees
// SERVING once the store is open, for the server and for the
// Authorization service.
func TestGRPCHealth(t *testing.T) {
	s := newStack(t, pg.NewDatabase(t))
	hc := grpc_health_v1.NewHealthClient(s.conn)
	for _, name := range []string{"", "envoy.service.auth.v3.Authorization"} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			res, err := hc.Check(t.Context(), &grpc_health_v1.HealthCheckRequest{Service: name})
			if err == nil && res.GetStatus() == grpc_health_v1.HealthCheckResponse_SERVING {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("health of %q: %v %v, want SERVING", name, res, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

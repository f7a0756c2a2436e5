package envoy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// pg is this package's PostgreSQL; the outage test stops and restarts
// it, so no test here runs in parallel with another.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// services are the SERVICEs every suite here serves: one per behaviour of
// the plugin configuration that changes what Envoy is told.
var services = []string{
	"    orders:\n      provision_key: pk-orders-0123456789\n      scopes: [email, profile]\n      realm: shop\n      accept_http_if_already_terminated: true",
	"    hidden:\n      provision_key: pk-hidden-0123456789\n      hide_credentials: true\n      accept_http_if_already_terminated: true",
	"    anon:\n      provision_key: pk-anon-0123456789\n      anonymous: guest\n      accept_http_if_already_terminated: true",
	"    global-a:\n      provision_key: pk-global-a-0123456789\n      global_credentials: true\n      accept_http_if_already_terminated: true",
	"    global-b:\n      provision_key: pk-global-b-0123456789\n      global_credentials: true\n      accept_http_if_already_terminated: true",
	"    short:\n      provision_key: pk-short-0123456789\n      token_expiration: 1\n      accept_http_if_already_terminated: true",
}

// stack is serve with its HTTP and gRPC listeners, one client of consumer
// bob, and a gRPC connection such as Envoy keeps to its authz cluster.
type stack struct {
	t      *testing.T
	db     string
	serve  *harness.Serve
	client harness.Client
	authz  authv3.AuthorizationClient
	conn   *grpc.ClientConn
}

func newStack(t *testing.T, db string, flags ...string) *stack {
	t.Helper()
	grpcAddr := harness.FreeAddr(t)
	s := &stack{t: t, db: db}
	s.serve = harness.StartServe(t, db, harness.ServeConfig(services...), append([]string{"-grpc", grpcAddr}, flags...)...)
	s.client = harness.CreateClient(t, db, "bob", "web")
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.conn, s.authz = conn, authv3.NewAuthorizationClient(conn)
	return s
}

// issued is a token endpoint answer.
type issued struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	at          time.Time
}

// expired is when the token has expired for sure: lifetimes count whole
// seconds of the issuing second (as Kong's do), so one more second.
func (t issued) expired() time.Time {
	return time.Unix(t.at.Unix()+int64(t.ExpiresIn)+1, 0)
}

// issue gets a token for user from service's token endpoint, as a client
// behind Envoy reaches it (TLS ended at Envoy, which says so in
// X-Forwarded-Proto).
func (s *stack) issue(service, user, scope string) issued {
	s.t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {s.client.ID}, "client_secret": {s.client.Secret},
		"provision_key": {"pk-" + service + "-0123456789"}, "authenticated_userid": {user}}
	if scope != "" {
		form.Set("scope", scope)
	}
	var tok issued
	status, body := s.post("/services/"+service+"/oauth2/token", form)
	tok.at = time.Now() // not before the token's issued_at
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		s.t.Fatalf("token endpoint of %s answered %d %s", service, status, body)
	}
	return tok
}

// revoke revokes a token at service's revocation endpoint (RFC 7009).
func (s *stack) revoke(service, token string) {
	s.t.Helper()
	form := url.Values{"token": {token}, "client_id": {s.client.ID}, "client_secret": {s.client.Secret}}
	if status, body := s.post("/services/"+service+"/oauth2/revoke", form); status != 200 {
		s.t.Fatalf("revocation endpoint answered %d %s", status, body)
	}
}

func (s *stack) post(path string, form url.Values) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.serve.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// envoyRequest is one client request as Envoy sees it.
type envoyRequest struct {
	method, path string // path with its query, as on the request line
	header       map[string]string
	rawHeaders   bool // Envoy's encode_raw_headers: header_map instead of headers
}

// checkRequest is the CheckRequest Envoy's gRPC ext_authz filter sends for
// r on a route whose context_extensions name service ("" = none): header
// names lower-cased, pseudo-headers included, the path with its query.
func checkRequest(service string, r envoyRequest) *authv3.CheckRequest {
	method := r.method
	if method == "" {
		method = "GET"
	}
	h := map[string]string{":authority": "api.example.com", ":method": method, ":path": r.path, ":scheme": "https",
		"x-forwarded-proto": "https", "x-request-id": "3f1c0b8e-7a51-4a70-9a5e-1b2c3d4e5f60", "user-agent": "curl/8.5.0"}
	for k, v := range r.header {
		h[strings.ToLower(k)] = v
	}
	hr := &authv3.AttributeContext_HttpRequest{Id: h["x-request-id"], Method: method, Path: r.path,
		Host: "api.example.com", Scheme: "https", Protocol: "HTTP/1.1", Size: -1}
	if r.rawHeaders {
		hm := &corev3.HeaderMap{}
		for k, v := range h {
			hm.Headers = append(hm.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
		hr.HeaderMap = hm
	} else {
		hr.Headers = h
	}
	attrs := &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51324}}}}},
		Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "10.0.0.2", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8443}}}}},
		Request: &authv3.AttributeContext_Request{Http: hr},
	}
	if service != "" {
		attrs.ContextExtensions = map[string]string{"service": service}
	}
	return &authv3.CheckRequest{Attributes: attrs}
}

// check sends r to serve's gRPC Check as Envoy would.
func (s *stack) check(service string, r envoyRequest) *authv3.CheckResponse {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.authz.Check(ctx, checkRequest(service, r))
	if err != nil {
		s.t.Fatalf("Check answered a gRPC error (Envoy would count a failed check): %v", err)
	}
	return resp
}

// extAuthz sends r to serve's HTTP ext_authz endpoint as Envoy's
// http_service with path_prefix /services/SERVICE/ext-authz does: the
// original method, the prefix then the original path and query, the
// headers Envoy always sends (Host, Authorization) and those of
// allowed_headers, and no body.
func (s *stack) extAuthz(service string, r envoyRequest) *http.Response {
	s.t.Helper()
	method := r.method
	if method == "" {
		method = "GET"
	}
	req, err := http.NewRequest(method, s.serve.URL+"/services/"+service+"/ext-authz"+r.path, http.NoBody)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Host = "api.example.com"
	for k, v := range r.header {
		if allowedHeaders[strings.ToLower(k)] {
			req.Header.Set(k, v)
		}
	}
	// Envoy follows no redirect: one is the answer.
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { res.Body.Close() })
	return res
}

// allowedHeaders are the client headers envoy.yaml's HTTP filter sends
// (Envoy adds Host, Method, Path and Content-Length itself).
var allowedHeaders = map[string]bool{"authorization": true}

// otherFirstChar is tok with its first character changed: a token of the
// same shape that was never issued ("x" + tok[1:] is tok itself when tok
// starts with "x").
func otherFirstChar(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}

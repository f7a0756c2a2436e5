package jwt

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// services of the serve tests: each changes what reaches the upstream.
var services = []string{
	"    orders:\n      provision_key: pk-orders-0123456789\n      scopes: [email, profile]\n      upstream_jwt: true\n      upstream_jwt_ttl: 60\n      accept_http_if_already_terminated: true",
	"    custom:\n      provision_key: pk-custom-0123456789\n      upstream_jwt: true\n      upstream_jwt_header: X-Identity\n      accept_http_if_already_terminated: true",
	"    anon:\n      provision_key: pk-anon-0123456789\n      upstream_jwt: true\n      anonymous: guest\n      accept_http_if_already_terminated: true",
	"    short:\n      provision_key: pk-short-0123456789\n      upstream_jwt: true\n      token_expiration: 1\n      accept_http_if_already_terminated: true",
}

// server is serve with its gRPC listener and one client of bob.
type server struct {
	t      *testing.T
	serve  *harness.Serve
	client harness.Client
	authz  authv3.AuthorizationClient
}

func startServe(t *testing.T, db string, client *harness.Client, keys ...string) *server {
	t.Helper()
	grpcAddr := harness.FreeAddr(t)
	args := []string{"-grpc", grpcAddr, "-issuer", issuer}
	for _, k := range keys {
		args = append(args, "-signing-key", k)
	}
	s := &server{t: t, serve: harness.StartServe(t, db, harness.ServeConfig(services...), args...)}
	if client == nil {
		s.client = harness.CreateClient(t, db, "bob", "web")
	} else {
		s.client = *client
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s.authz = authv3.NewAuthorizationClient(conn)
	return s
}

func (s *server) post(path string, form url.Values) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.serve.URL+path, strings.NewReader(form.Encode()))
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

// issue is a password grant for user on service.
func (s *server) issue(service, user string) (token string, expiresIn int64) {
	s.t.Helper()
	status, body := s.post("/services/"+service+"/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {s.client.ID},
		"client_secret": {s.client.Secret}, "provision_key": {"pk-" + service + "-0123456789"}, "authenticated_userid": {user}, "scope": {"email"}})
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if status != 200 || json.Unmarshal(body, &tr) != nil {
		s.t.Fatalf("grant on %s: %d %s", service, status, body)
	}
	return tr.AccessToken, tr.ExpiresIn
}

// proxyHeaders are the headers the example proxies copy from the forward
// auth answer to the upstream request (nginx: proxy_set_header NAME
// $upstream_http_NAME, which removes the header when the answer lacks it;
// Traefik authResponseHeaders; Caddy copy_headers).
var proxyHeaders = []string{"Authorization", "X-Identity", "X-Consumer-ID", "X-Consumer-Username", "X-Authenticated-Userid", "X-Authenticated-Scope"}

// viaForwardAuth is a proxy with forward auth: it asks serve, then sends
// the client's request upstream with the answer's headers, or stops with
// serve's status.
func (s *server) viaForwardAuth(u *upstream, service string, client http.Header) (claims, int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.serve.URL+"/services/"+service+"/auth", nil)
	req.Header = client.Clone()
	req.Header.Set("X-Forwarded-Method", "GET")
	req.Header.Set("X-Forwarded-Uri", "/api")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		return claims{}, res.StatusCode, "forward auth"
	}
	up := client.Clone()
	for _, h := range proxyHeaders {
		up.Del(h)
		if v := res.Header.Get(h); v != "" {
			up.Set(h, v)
		}
	}
	return u.call(s.t, up)
}

// viaEnvoy is Envoy with gRPC ext_authz: Check, then the client's request
// upstream with ok_response's headers set and headers_to_remove removed.
func (s *server) viaEnvoy(u *upstream, service string, client http.Header) (claims, int, string) {
	s.t.Helper()
	h := map[string]string{":authority": "api.example.com", ":method": "GET", ":path": "/api", ":scheme": "https", "x-forwarded-proto": "https"}
	for k := range client {
		h[strings.ToLower(k)] = client.Get(k)
	}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.9", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 51324}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/api", Host: "api.example.com", Scheme: "https", Protocol: "HTTP/1.1", Headers: h}},
		ContextExtensions: map[string]string{"service": service},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.authz.Check(ctx, req)
	if err != nil {
		s.t.Fatal(err)
	}
	if codes.Code(resp.GetStatus().GetCode()) != codes.OK {
		return claims{}, int(resp.GetDeniedResponse().GetStatus().GetCode()), "ext_authz"
	}
	up := client.Clone()
	ok := resp.GetOkResponse()
	for _, o := range ok.GetHeaders() {
		up.Set(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	for _, k := range ok.GetHeadersToRemove() {
		up.Del(k)
	}
	return u.call(s.t, up)
}

type front func(s *server, u *upstream, service string, client http.Header) (claims, int, string)

var fronts = map[string]front{"forward auth": (*server).viaForwardAuth, "envoy grpc": (*server).viaEnvoy}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestServePhantomTokens: through forward auth and Envoy's gRPC ext_authz,
// every request with a valid opaque token reaches the upstream with a JWT
// the upstream verifies against our JWKS, with the token's claims; an
// expired or revoked token never yields one; a JWT the client sends is
// removed or replaced.
func TestServePhantomTokens(t *testing.T) {
	t.Parallel()
	db := harness.SQLiteURL(t)
	s := startServe(t, db, nil, keyFile(t, "ed25519"))
	jwks := s.serve.URL + "/.well-known/jwks.json"
	orders := newUpstream(t, jwks, "Authorization", "orders")
	custom := newUpstream(t, jwks, "X-Identity", "custom")
	anon := newUpstream(t, jwks, "Authorization", "anon")
	short := newUpstream(t, jwks, "Authorization", "short")

	var clientJWTs []string // JWTs clients sent: none may reach an upstream
	for name, via := range fronts {
		t.Run(name, func(t *testing.T) {
			s.t = t
			tok, _ := s.issue("orders", "user-7")
			issuedAt := time.Now().Unix()
			c, status, why := via(s, orders, "orders", bearer(tok))
			if status != 200 {
				t.Fatalf("valid token: upstream answered %d: %s", status, why)
			}
			if c.Subject != "user-7" || c.ClientID != s.client.ID || c.Scope != "email" || c.ConsumerID != harness.ConsumerID ||
				c.ConsumerUsername != "bob" || c.ConsumerCustomID != "crm-17" || c.ID == "" {
				t.Errorf("claims %+v", c)
			}
			if exp := c.Expiry.Time().Unix(); exp > issuedAt+61 || exp < issuedAt+55 {
				t.Errorf("exp %d, want about 60 s after %d (upstream_jwt_ttl)", exp, issuedAt)
			}

			// The operator's own header: the client's copy is replaced.
			ctok, _ := s.issue("custom", "user-8")
			h := bearer(ctok)
			f := forged(t)
			clientJWTs = append(clientJWTs, f)
			h.Set("X-Identity", "Bearer "+f)
			if c, status, why := via(s, custom, "custom", h); status != 200 || c.Subject != "user-8" {
				t.Errorf("own header, a forged JWT sent by the client: %d %s %+v", status, why, c)
			}

			// A JWT of ours, replayed by a client (or a forged one) where
			// the anonymous consumer lets the request through: removed.
			for _, jwt := range []string{forged(t), s.jwtOf(t, "orders")} {
				clientJWTs = append(clientJWTs, jwt)
				_, status, why := via(s, anon, "anon", bearer(jwt))
				if status != 401 || why != "no Bearer JWT (header \"\")" {
					t.Errorf("anonymous with a client's JWT: upstream answered %d %q; want it to see no JWT", status, why)
				}
			}

			// Revoked: no JWT, the proxy stops the request.
			if status, body := s.post("/services/orders/oauth2/revoke", url.Values{"token": {tok},
				"client_id": {s.client.ID}, "client_secret": {s.client.Secret}}); status != 200 {
				t.Fatalf("revoke: %d %s", status, body)
			}
			if _, status, _ := via(s, orders, "orders", bearer(tok)); status != 401 {
				t.Errorf("revoked token: %d, want 401 before the upstream", status)
			}

			// A JWT never outlives its opaque token; once that has expired
			// there is none.
			stok, _ := s.issue("short", "user-9")
			at := time.Now()
			if c, status, why := via(s, short, "short", bearer(stok)); status == 200 {
				if exp := c.Expiry.Time(); exp.After(at.Add(2 * time.Second)) {
					t.Errorf("JWT exp %v outlives its 1 s opaque token issued at %v", exp, at)
				}
			} else if status != 401 || why != "forward auth" && why != "ext_authz" && !strings.Contains(why, "token is expired") {
				// 401 from the proxy (the opaque token ended) or from the
				// upstream (its JWT ended with it) are both right.
				t.Errorf("short token: upstream answered %d %s", status, why)
			}
			for deadline := at.Add(10 * time.Second); ; {
				if _, status, _ := via(s, short, "short", bearer(stok)); status == 401 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("an expired token still reached the upstream")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	for _, u := range []*upstream{orders, custom, anon, short} {
		u.mu.Lock()
		for _, jwt := range clientJWTs {
			if slices.Contains(u.seen, "Bearer "+jwt) {
				t.Errorf("a JWT sent by a client reached the upstream of %s", u.URL)
			}
		}
		u.mu.Unlock()
	}
}

// jwtOf is a genuine JWT of ours for service, as an upstream would see it.
func (s *server) jwtOf(t *testing.T, service string) string {
	tok, _ := s.issue(service, "user-r")
	req, _ := http.NewRequest("GET", s.serve.URL+"/services/"+service+"/auth", nil)
	req.Header = bearer(tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	jwt, ok := strings.CutPrefix(res.Header.Get("Authorization"), "Bearer ")
	if res.StatusCode != 200 || !ok {
		t.Fatalf("forward auth: %d, Authorization %q", res.StatusCode, res.Header.Get("Authorization"))
	}
	return jwt
}

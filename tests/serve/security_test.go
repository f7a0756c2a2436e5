package serve

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestIntrospectionOnlyForTheTokensClientUnlessGranted: RFC 7662 §4.
// Another client of the service gets {"active":false} for a token it was
// not issued, exactly as for an unknown token, until the operator grants
// it the service with the CLI; `clients get` shows the grant (and no
// secret); withdrawn, it is gone. Bad credentials are 401 (RFC 7662 §2.3).
func TestIntrospectionOnlyForTheTokensClientUnlessGranted(t *testing.T) {
	db := harness.SQLiteURL(t)
	app := harness.CreateClient(t, db, "bob", "web")
	rs := harness.CreateClient(t, db, "bob", "orders-api")
	s := harness.StartServeTLS(t, db, ordersConfig, "-cache-sync-interval", "100ms")
	tk := grant(t, s, "orders", app, "user-7", "email")
	basic := func(c harness.Client) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))
	}
	introspect := func(svc string, c harness.Client) answer {
		t.Helper()
		return post(t, s, "/services/"+svc+"/oauth2/introspect", url.Values{"token": {tk.Access}}, "Authorization", basic(c))
	}
	unknown := post(t, s, "/services/orders/oauth2/introspect", url.Values{"token": {"never-issued-0123456789abcdef"}}, "Authorization", basic(rs))
	if unknown.status != 200 || string(unknown.body) != `{"active":false}` {
		t.Fatalf("unknown token: %d %s", unknown.status, unknown.body)
	}
	if a := introspect("orders", app); a.json(t)["active"] != true {
		t.Fatalf("the token's own client: %d %s", a.status, a.body)
	}
	if a := introspect("orders", rs); a.status != unknown.status || string(a.body) != string(unknown.body) {
		t.Errorf("another client: %d %s, want the unknown-token answer", a.status, a.body)
	}

	show := func(args ...string) map[string]any {
		t.Helper()
		var m map[string]any
		out := harness.CLI(t, db, args...)
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%v printed %q", args, out)
		}
		if strings.Contains(string(out), rs.Secret) || m["client_secret"] != nil {
			t.Errorf("%v shows the secret: %s", args, out)
		}
		return m
	}
	got := show("clients", "grant-introspection", rs.ID, "--service", "orders")
	if fmt.Sprint(got["introspect_services"]) != "[orders]" {
		t.Errorf("grant-introspection printed %v", got)
	}
	if got := show("clients", "get", rs.ID); fmt.Sprint(got["introspect_services"]) != "[orders]" || got["client_id"] != rs.ID {
		t.Errorf("clients get after the grant: %v", got)
	}
	waitFor(t, "the grant to reach serve", func() bool { return introspect("orders", rs).json(t)["active"] == true })
	// The grant is for orders: at billing the token is not even bound.
	if a := introspect("billing", rs); string(a.body) != `{"active":false}` {
		t.Errorf("granted client at another service: %d %s", a.status, a.body)
	}
	show("clients", "revoke-introspection", rs.ID, "--service", "orders")
	waitFor(t, "the withdrawal to reach serve", func() bool { return string(introspect("orders", rs).body) == `{"active":false}` })
	if got := show("clients", "get", rs.ID); got["introspect_services"] != nil {
		t.Errorf("clients get after the withdrawal: %v", got)
	}

	for name, a := range map[string]answer{
		"basic": post(t, s, "/services/orders/oauth2/introspect", url.Values{"token": {tk.Access}}, "Authorization",
			"Basic "+base64.StdEncoding.EncodeToString([]byte(rs.ID+":wrong"))),
		"body": post(t, s, "/services/orders/oauth2/introspect", url.Values{"token": {tk.Access}, "client_id": {rs.ID}, "client_secret": {"wrong"}}),
	} {
		if a.status != 401 || a.json(t)["error"] != "invalid_client" || a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("bad credentials (%s): %d %v %s, want 401 invalid_client with a challenge", name, a.status, a.header, a.body)
		}
	}
	_, stderr, code := harness.RunCLI(t, db, "clients", "grant-introspection", "no-such-client", "--service", "orders")
	if code != 1 || !strings.Contains(string(stderr), "no-such-client") {
		t.Errorf("grant to an unknown client: exit %d %s", code, stderr)
	}
	if _, _, code := harness.RunCLI(t, db, "clients", "grant-introspection", rs.ID); code != 2 {
		t.Errorf("grant without --service: exit %d, want 2", code)
	}
	// A name no request can reach (clients and proxies resolve dot
	// segments), and a public client, which introspection refuses: the
	// grant would be shown and never work.
	if _, _, code := harness.RunCLI(t, db, "clients", "grant-introspection", rs.ID, "--service", ".."); code != 2 {
		t.Errorf("grant for service ..: exit %d, want 2", code)
	}
	pub := harness.CreateClient(t, db, "bob", "spa", "--public")
	_, stderr, code = harness.RunCLI(t, db, "clients", "grant-introspection", pub.ID, "--service", "orders")
	if code != 1 || !strings.Contains(string(stderr), "public client") {
		t.Errorf("grant to a public client: exit %d %s, want 1 saying it is public", code, stderr)
	}
	if out := show("clients", "get", pub.ID); out["introspect_services"] != nil {
		t.Errorf("the public client was granted %v", out["introspect_services"])
	}
}

// waitFor polls cond until it holds (a change made by the CLI reaches
// serve through the change feed) or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCredentialsInTheQueryStringAreRefused: RFC 6749 §2.3.1, serve reads
// credentials from the body only. A request carrying one in its URL is
// 400 invalid_request, and nothing was issued or revoked.
func TestCredentialsInTheQueryStringAreRefused(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	s := harness.StartServeTLS(t, db, ordersConfig)
	tk := grant(t, s, "orders", c, "user-7", "email")
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {"u"},
		"client_id": {c.ID}, "client_secret": {c.Secret}}
	for _, tc := range []struct{ endpoint, inQuery string }{
		{"token", "client_secret"}, {"token", "provision_key"}, {"token", "password"},
		{"token", "refresh_token"}, {"revoke", "client_secret"}, {"introspect", "client_secret"},
		// RFC 7009 §2.1 and RFC 7662 §2.1: the token to revoke or
		// introspect is a credential of the entity-body as well.
		{"revoke", "token"}, {"introspect", "token"},
	} {
		body := url.Values{}
		for k, v := range form {
			body[k] = v
		}
		value := body.Get(tc.inQuery)
		if value == "" {
			value = tk.Refresh
		}
		body.Del(tc.inQuery)
		if tc.inQuery != "token" {
			body.Set("token", tk.Refresh)
		}
		a := post(t, s, "/services/orders/oauth2/"+tc.endpoint+"?"+url.Values{tc.inQuery: {value}}.Encode(), body)
		m := a.json(t)
		if a.status != 400 || m["error"] != "invalid_request" || m["access_token"] != nil {
			t.Errorf("%s with %s in the query: %d %s, want 400 invalid_request", tc.endpoint, tc.inQuery, a.status, a.body)
		}
	}
	// The refresh token was neither revoked nor used: it still refreshes.
	a := post(t, s, "/services/orders/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tk.Refresh},
		"client_id": {c.ID}, "client_secret": {c.Secret}})
	if a.status != 200 {
		t.Errorf("the refresh token after the refused requests: %d %s", a.status, a.body)
	}
}

// TestMethodNotAllowedNamesPost: RFC 9110 §15.5.6, a 405 says which method
// works.
func TestMethodNotAllowedNamesPost(t *testing.T) {
	s := harness.StartServe(t, harness.SQLiteURL(t), ordersConfig)
	for _, ep := range []string{"token", "revoke", "introspect"} {
		if a := get(t, s, "/services/orders/oauth2/"+ep); a.status != 405 || a.header.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d Allow=%q, want 405 with Allow: POST", ep, a.status, a.header.Get("Allow"))
		}
	}
}

// TestTricklingBodyIsCutOff: a token request whose body arrives at one byte
// a second is cut off within -read-timeout, not held for as long as the
// client cares to trickle.
func TestTricklingBodyIsCutOff(t *testing.T) {
	const readTimeout = 2 * time.Second
	s := harness.StartServe(t, harness.SQLiteURL(t), ordersConfig, "-read-timeout", readTimeout.String())
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /services/orders/oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
	answered := make(chan *http.Response, 1)
	go func() {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- nil
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		answered <- res
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case res := <-answered:
			took := time.Since(start)
			if took > readTimeout+time.Second {
				t.Fatalf("cut off after %v, want within the read timeout %v", took, readTimeout)
			}
			if res != nil && res.StatusCode != http.StatusRequestTimeout {
				t.Errorf("answer %d, want 408 (or the connection closed)", res.StatusCode)
			}
			// As every token-endpoint answer (RFC 6749 §5.1).
			if res != nil && (res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache") {
				t.Errorf("408 with Cache-Control %q, Pragma %q; want no-store, no-cache", res.Header.Get("Cache-Control"), res.Header.Get("Pragma"))
			}
			return
		case <-tick.C:
			if time.Since(start) > 3*readTimeout {
				t.Fatalf("still trickling after %v: the body was not cut off", time.Since(start))
			}
			_, _ = conn.Write([]byte("a"))
		}
	}
}

// TestUnreadableBodyIs400: a body that cannot be read (here a chunk
// length that is not hex) is the client's error: 400 invalid_request
// with no-store, as every answer of these endpoints, not a 500 of ours.
func TestUnreadableBodyIs400(t *testing.T) {
	s := harness.StartServe(t, harness.SQLiteURL(t), ordersConfig)
	for _, ep := range []string{"token", "revoke", "introspect"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /services/orders/oauth2/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Transfer-Encoding: chunked\r\n\r\nzz\r\ntoken=abc\r\n0\r\n\r\n", ep)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", ep, err)
		}
		body, _ := io.ReadAll(res.Body)
		conn.Close()
		if res.StatusCode != 400 || !strings.Contains(string(body), `"invalid_request"`) {
			t.Errorf("%s: %d %s, want 400 invalid_request", ep, res.StatusCode, body)
		}
		if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: Cache-Control %q, Pragma %q; want no-store, no-cache", ep, res.Header.Get("Cache-Control"), res.Header.Get("Pragma"))
		}
	}
}

// TestIdleHTTP2ConnectionsDoNotHoldTheBound: under TLS a client that
// offers HTTP/2 gets HTTP/1.1, whose idle connections the bound closes to
// make room: two clients idling on a server bounded to two connections
// do not keep a third out (HTTP/2 connections stayed until -idle-timeout).
func TestIdleHTTP2ConnectionsDoNotHoldTheBound(t *testing.T) {
	s := harness.StartServeTLS(t, harness.SQLiteURL(t), ordersConfig, "-max-connections", "2", "-idle-timeout", "60s")
	addr := strings.TrimPrefix(s.URL, "https://")
	for range 2 {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Fatalf("serve negotiated %s", p)
		}
		// One request, then the connection idles.
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	client := s.Client
	client.Timeout = 5 * time.Second
	start := time.Now()
	res, err := client.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with the bound held by idle connections: %v after %v", err, time.Since(start))
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.ProtoMajor != 1 {
		t.Errorf("/healthz: %d over %s, want 200 over HTTP/1.1", res.StatusCode, res.Proto)
	}
}

// TestIdleConnectionsDoNotStarveHealthz: 200 idle keep-alive connections
// (each has had one answer and stays open), /healthz still answers within
// a second; also with the connection bound below 200, where idle
// connections are closed to make room.
func TestIdleConnectionsDoNotStarveHealthz(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"default bound", nil},
		{"bound below the idle count", []string{"-max-connections", "50"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := harness.StartServe(t, harness.SQLiteURL(t), ordersConfig, tc.flags...)
			addr := strings.TrimPrefix(s.URL, "http://")
			conns := make([]net.Conn, 200)
			done := make(chan error, len(conns))
			defer func() {
				for _, c := range conns {
					if c != nil {
						c.Close()
					}
				}
			}()
			for i := range conns {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns[i] = c
				go func() {
					if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
						done <- err
						return
					}
					res, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err == nil {
						_, err = io.Copy(io.Discard, res.Body)
						res.Body.Close()
					}
					done <- err // the connection stays open (idle) unless the server closes it
				}()
			}
			for range conns {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("an idle connection's first request: %v", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("the 200 connections were not all answered")
				}
			}
			client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			start := time.Now()
			res, err := client.Get(s.URL + "/healthz")
			if err != nil {
				t.Fatalf("/healthz with 200 idle connections open: %v after %v", err, time.Since(start))
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("/healthz: %d", res.StatusCode)
			}
		})
	}
}

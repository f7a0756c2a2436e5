package serve

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestConfigErrors: a bad config file exits 2 with one line naming the
// field, before anything listens.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, config, want string
	}{
		{"no provision_key", "services:\n  orders:\n    scopes: [a]\n", "services.orders: provision_key: required field missing"},
		{"wrong type", "services:\n  orders:\n    provision_key: pk-0123456789abcdef\n    token_expiration: soon\n", "services.orders: token_expiration: expected an integer"},
		{"unknown field", "services:\n  orders:\n    provision_key: pk-0123456789abcdef\n    scope: [a]\n", "services.orders.scope: unknown field"},
		{"bad service name", "services:\n  \"or ders\":\n    provision_key: pk-0123456789abcdef\n", `"or ders" is not a service name`},
		{"no services", "trusted_ips: []\n", "services: at least one service is required"},
		{"bad trusted ip", "trusted_ips: [nowhere]\nservices:\n  orders:\n    provision_key: pk-0123456789abcdef\n", `trusted_ips[0]: "nowhere" is not an IP address`},
		{"unknown top-level key", "service:\n  orders: {}\n", "field service not found"},
		{"authenticate_url in plain http off the host", "services:\n  orders:\n    provision_key: pk-0123456789abcdef\n    authenticate_url: http://login.example/check\n",
			"services.orders: authenticate_url: must be https, or http to a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := harness.RunCLI(t, harness.SQLiteURL(t), "serve", "-config", path, "-http", "127.0.0.1:0")
			lines := strings.Split(strings.TrimSpace(string(stderr)), "\n")
			last := lines[len(lines)-1]
			if code != 2 || !strings.Contains(last, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, stderr, tc.want)
			}
		})
	}
	_, stderr, code := harness.RunCLI(t, "", "serve")
	if code != 2 || !strings.Contains(string(stderr), "-config FILE is required") {
		t.Errorf("no -config: exit %d %q", code, stderr)
	}
}

// TestNotReadyUntilTheStoreOpens: with its database unreachable, serve is
// alive (/healthz) but not ready (/readyz 503), and answers requests 503
// within the store timeout instead of hanging.
func TestNotReadyUntilTheStoreOpens(t *testing.T) {
	s := harness.LaunchServe(t, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", ordersConfig, "-store-timeout", "300ms")
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(s.URL + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("/healthz %d", res.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never listened")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if a := get(t, s, "/readyz"); a.status != 503 {
		t.Errorf("/readyz %d %s", a.status, a.body)
	}
	start := time.Now()
	a := get(t, s, "/services/orders/auth", "Authorization", "Bearer whatever")
	if a.status != 503 || a.json(t)["error"] != "temporarily_unavailable" || a.header.Get("Retry-After") == "" {
		t.Errorf("forward auth without a store: %d %v %s", a.status, a.header, a.body)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %v", took)
	}
}

// TestShutdownFinishesInFlightRequests: SIGTERM while a token request is
// in flight (its handler waits for the body): every listener, the SPOE
// agent's too, stops accepting at once, the request still gets its answer,
// and serve exits 0.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	db := harness.SQLiteURL(t)
	c := harness.CreateClient(t, db, "bob", "web")
	spoeAddr := harness.FreeAddr(t)
	s := harness.StartServeTLS(t, db, ordersConfig, "-spoe", spoeAddr)
	body := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {"u"},
		"client_id": {c.ID}, "client_secret": {c.Secret}}.Encode()

	u, _ := url.Parse(s.URL)
	conn, err := tls.Dial("tcp", u.Host, s.Client.Transport.(*http.Transport).TLSClientConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// With Expect: 100-continue the server says "100 Continue" when the
	// handler starts reading the body: from then on the request is in
	// flight.
	fmt.Fprintf(conn, "POST /services/orders/oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", u.Host, len(body))
	br := bufio.NewReader(conn)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 100 {
		t.Fatalf("no 100 Continue: %v %v", res, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(t) }()
	// The listeners close at once; the request is still in flight.
	waitRefused(t, u.Host)
	waitRefused(t, spoeAddr)
	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatalf("sending the body: %v", err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the in-flight request: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("in-flight request answered %d", res.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve exited with %v after SIGTERM", err)
	}
}

// waitRefused waits until addr refuses new connections.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("serve still accepts connections after SIGTERM")
}

package ha

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

const provisionKey = "pk-ha-suite-0123456789"

// node is one gateway process: it issues tokens by the password grant and
// validates bearer tokens, answering with HTTP statuses.
type node interface {
	// issue runs a password grant for user: the status, the access token
	// (on 200) and the error code (otherwise).
	issue(ctx context.Context, user string) (status int, access, code string, err error)
	// validate presents token and returns the status: 200 allowed, 401
	// refused, 503 store unavailable.
	validate(ctx context.Context, token string) (int, error)
	// metrics is the URL of the process's /metrics.
	metrics(t testing.TB) string
}

// newPrimary is a throwaway PostgreSQL server, stopped when the test ends.
func newPrimary(t *testing.T) *pgtest.Server {
	t.Helper()
	s, err := pgtest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// serveNode is `oauth2-password serve` with one service, api.
type serveNode struct {
	s          *harness.Serve
	client     harness.Client
	metricsURL string
}

var serveConfig = harness.ServeConfig("  api:\n    provision_key: \"" + provisionKey + "\"\n    accept_http_if_already_terminated: true")

func startServe(t *testing.T, dbURL string, client harness.Client, flags ...string) *serveNode {
	t.Helper()
	addr := harness.FreeAddr(t)
	s := harness.StartServe(t, dbURL, serveConfig, append([]string{"-metrics", addr}, flags...)...)
	return &serveNode{s: s, client: client, metricsURL: "http://" + addr + "/metrics"}
}

func (n *serveNode) issue(ctx context.Context, user string) (int, string, string, error) {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {user},
		"client_id": {n.client.ID}, "client_secret": {n.client.Secret}}
	req, _ := http.NewRequestWithContext(ctx, "POST", n.s.URL+"/services/api/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := n.s.Client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	tr, err := harness.DecodeToken(resp)
	return tr.Status, tr.AccessToken, tr.Error, err
}

func (n *serveNode) validate(ctx context.Context, token string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", n.s.URL+"/services/api/auth", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := n.s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (n *serveNode) metrics(testing.TB) string { return n.metricsURL }

// kongNode is the plugin under the Kong-side test host, through its real
// socket, with one service (api.test) and the client's consumer.
type kongNode struct {
	st     *harness.Stack
	client harness.Client
	http   *http.Client
}

func startKong(t *testing.T, dbURL string, client harness.Client, flags ...string) *kongNode {
	t.Helper()
	st := harness.Start(t, dbURL, append([]string{"-metrics", "127.0.0.1:0"}, flags...)...)
	if _, err := st.Host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Host.AddService(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: map[string]any{"provision_key": provisionKey}}); err != nil {
		t.Fatal(err)
	}
	st.WaitStore(t, "api")
	hc := st.Front.Client()
	hc.Timeout = 30 * time.Second
	return &kongNode{st: st, client: client, http: hc}
}

func (n *kongNode) issue(ctx context.Context, user string) (int, string, string, error) {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {user},
		"client_id": {n.client.ID}, "client_secret": {n.client.Secret}}
	req, _ := http.NewRequestWithContext(ctx, "POST", "https://api.test/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	tr, err := harness.DecodeToken(resp)
	return tr.Status, tr.AccessToken, tr.Error, err
}

func (n *kongNode) validate(ctx context.Context, token string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://api.test/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		var echo konghost.Echo
		if err := json.Unmarshal(b, &echo); err != nil || echo.Consumer == nil || echo.Consumer.Username != "bob" {
			return 0, fmt.Errorf("proxied without the consumer: %s", b)
		}
	}
	return resp.StatusCode, nil
}

func (n *kongNode) metrics(t testing.TB) string { return n.st.MetricsURL(t) }

// waitListening waits until the node's change_listener_up gauge is 1.
func waitListening(t *testing.T, n node, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	url := n.metrics(t)
	for {
		_, m := harness.Scrape(t, url)
		if m["oauth2_password_change_listener_up"] == 1 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("oauth2_password_change_listener_up is %v after %v, want 1", m["oauth2_password_change_listener_up"], within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

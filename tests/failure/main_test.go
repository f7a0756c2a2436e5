package failure

import (
	"context"
	"encoding/json"
	"errors"
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

// pg is this package's own PostgreSQL: tests stop and restart it, so none
// of them runs in parallel with another.
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

const (
	provisionKey = "pk-failure-suite-0123456789"
	tokenURL     = "https://api.test/oauth2/token"
	apiURL       = "http://api.test/orders"
)

// stack is the real plugin with one consumer, one service ("api", host
// api.test) and one confidential client.
type stack struct {
	*harness.Stack
	t      *testing.T
	client harness.Client
	http   *http.Client
}

func newStack(t *testing.T, dbURL string, flags ...string) *stack {
	t.Helper()
	return newStackConfig(t, dbURL, map[string]any{"provision_key": provisionKey}, flags...)
}

// newStackConfig is newStack with another plugin config on the service.
func newStackConfig(t *testing.T, dbURL string, config map[string]any, flags ...string) *stack {
	t.Helper()
	st := harness.Start(t, dbURL, flags...)
	if _, err := st.Host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Host.AddService(konghost.ServiceSpec{Name: "api", Host: "api.test", Config: config}); err != nil {
		t.Fatal(err)
	}
	c := harness.CreateClient(t, dbURL, "bob", "web")
	hc := st.Front.Client()
	hc.Timeout = 30 * time.Second // no request may hang a test
	return &stack{Stack: st, t: t, client: c, http: hc}
}

// passwordForm is a valid password grant for the stack's client.
func (s *stack) passwordForm(user string) url.Values {
	return url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {user}, "client_id": {s.client.ID}, "client_secret": {s.client.Secret}}
}

func (s *stack) refreshForm(refresh string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {s.client.ID}, "client_secret": {s.client.Secret}}
}

// post sends a token request and decodes the answer.
func (s *stack) post(form url.Values) (harness.TokenResponse, http.Header, error) {
	resp, err := s.http.PostForm(tokenURL, form)
	if err != nil {
		return harness.TokenResponse{}, nil, err
	}
	tr, err := harness.DecodeToken(resp)
	return tr, resp.Header, err
}

// postFrom sends a token request as if from the client address ip (the
// Kong-side host's own Do, which lets the test choose the peer).
func (s *stack) postFrom(ip string, form url.Values) (harness.TokenResponse, http.Header, error) {
	res, err := s.Host.Do(context.Background(), "api", &konghost.Request{Method: "POST", Scheme: "https", Host: "api.test",
		Path: "/oauth2/token", ClientIP: ip, Body: []byte(form.Encode()),
		Header: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}})
	if err != nil {
		return harness.TokenResponse{}, nil, err
	}
	if res.Exit == nil {
		return harness.TokenResponse{}, nil, fmt.Errorf("token request not answered: %v", res.Failure)
	}
	var tr harness.TokenResponse
	if err := json.Unmarshal(res.Exit.Body, &tr); err != nil {
		return tr, nil, fmt.Errorf("status %d, body %q: %w", res.Status, res.Exit.Body, err)
	}
	tr.Status = res.Status
	return tr, res.Exit.Header, nil
}

// mustIssue runs a password grant that must succeed.
func (s *stack) mustIssue(user string) harness.TokenResponse {
	s.t.Helper()
	tr, _, err := s.post(s.passwordForm(user))
	if err != nil {
		s.t.Fatal(err)
	}
	if tr.Status != 200 || tr.AccessToken == "" {
		s.t.Fatalf("password grant: %d %s %s", tr.Status, tr.Error, tr.ErrorDescription)
	}
	return tr
}

// validate sends a proxied request with the token and returns the status
// (200: proxied, authenticated as bob).
func (s *stack) validate(token string) (int, error) {
	req, err := http.NewRequest("GET", apiURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode == 200 {
		var echo konghost.Echo
		if err := json.Unmarshal(body, &echo); err != nil {
			return 0, err
		}
		if echo.Consumer == nil || echo.Consumer.Username != "bob" {
			return 0, fmt.Errorf("proxied without the consumer: %s", body)
		}
	}
	return resp.StatusCode, nil
}

func (s *stack) mustValidate(token string, want int) {
	s.t.Helper()
	got, err := s.validate(token)
	if err != nil {
		s.t.Fatal(err)
	}
	if got != want {
		s.t.Fatalf("validation answered %d, want %d", got, want)
	}
}

// errorBody decodes an OAuth error answer: {"error": ...}.
func errorBody(resp *http.Response) (map[string]any, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("status %d, body %q is not JSON: %w", resp.StatusCode, b, err)
	}
	if code, _ := m["error"].(string); code == "" {
		return m, fmt.Errorf("status %d, body %s has no error code", resp.StatusCode, b)
	}
	return m, nil
}

// noCrash asserts the plugin process never died nor panicked.
func noCrash(t *testing.T, s *stack, gen int) {
	t.Helper()
	p := s.Host.Process()
	if g := p.Generation(); g != gen {
		t.Errorf("the plugin process was respawned (generation %d → %d; exits %v)", gen, g, p.Exits())
	}
	for _, line := range p.Output() {
		if strings.Contains(line, "panic") || strings.Contains(line, "DATA RACE") {
			t.Errorf("plugin output: %s", line)
		}
	}
}

// within runs f until it returns nil or the deadline passes.
func within(d time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// wallTime logs how long the test took (the suite's budget is reported).
func wallTime(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { t.Logf("wall time %v", time.Since(start).Round(10*time.Millisecond)) })
}

// harnessSQLite is a fresh embedded store.
func harnessSQLite(t *testing.T) string { return harness.SQLiteURL(t) }

// decodeTokenResp reads a token-endpoint answer.
func decodeTokenResp(resp *http.Response) (harness.TokenResponse, error) {
	return harness.DecodeToken(resp)
}

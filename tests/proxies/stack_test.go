package proxies

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/fwdauth"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

const (
	provisionKey = "pk-proxies-0123456789"
	// realm is the service's realm, so that a challenge is told from a
	// proxy's own.
	realm = "orders-api"
)

// services is serve's config for the proxies: `orders` behind them, and
// `short`, whose tokens (shared through global_credentials) expire after
// two seconds, for the expired-token case, and `open`, which lets a request
// without a token through as the anonymous consumer guest. The proxies end TLS and say so
// in X-Forwarded-Proto from a trusted peer (loopback), hence
// accept_http_if_already_terminated.
const services = `  orders:
    provision_key: ` + provisionKey + `
    scopes: [orders.read, orders.write]
    accept_http_if_already_terminated: true
    global_credentials: true
    realm: ` + realm + `
  short:
    provision_key: ` + provisionKey + `
    accept_http_if_already_terminated: true
    global_credentials: true
    token_expiration: 2
  open:
    provision_key: ` + provisionKey + `
    anonymous: guest`

// identityHeaders are the headers forward auth answers with, and those a
// client must never be able to set at the upstream.
var identityHeaders = fwdauth.IdentityHeaders

// backend is serve with its clients, and the API the proxies protect.
type backend struct {
	serve *harness.Serve
	db    string
	api   *upstream
	bob   harness.Client // consumer bob: id, username, custom_id in the config
	carol harness.Client // consumer carol: in no config entry, so no custom_id
}

func startBackend(t *testing.T, dbURL string, flags ...string) *backend {
	t.Helper()
	b := &backend{db: dbURL, api: startUpstream(t)}
	b.bob = harness.CreateClient(t, dbURL, "bob", "web")
	b.carol = harness.CreateClient(t, dbURL, "carol", "mobile")
	b.serve = harness.StartServe(t, dbURL, harness.ServeConfig(services), flags...)
	return b
}

func (b *backend) serveAddr() string { return strings.TrimPrefix(b.serve.URL, "http://") }

func passwordForm(c harness.Client, user, scope string) url.Values {
	f := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey},
		"authenticated_userid": {user}, "client_id": {c.ID}, "client_secret": {c.Secret}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// token gets a token through the proxy's /oauth2/token.
func (p *proxy) token(t *testing.T, form url.Values) harness.TokenResponse {
	t.Helper()
	return postToken(t, p.hc, p.url+"/oauth2/token", form, "")
}

// postToken sends a token request, with X-Forwarded-Proto if not "".
func postToken(t *testing.T, hc *http.Client, endpoint string, form url.Values, forwardedProto string) harness.TokenResponse {
	t.Helper()
	req, err := http.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if forwardedProto != "" {
		req.Header.Set("X-Forwarded-Proto", forwardedProto)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := harness.DecodeToken(resp)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// mustToken is a password grant through the proxy that must succeed.
func (p *proxy) mustToken(t *testing.T, c harness.Client, user, scope string) harness.TokenResponse {
	t.Helper()
	tr := p.token(t, passwordForm(c, user, scope))
	if tr.Status != 200 || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("%s: password grant through the proxy: %d %s %s", p.name, tr.Status, tr.Error, tr.ErrorDescription)
	}
	return tr
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request through the proxy; token "" sends no Authorization.
func (p *proxy) do(t *testing.T, method, path, token string, header http.Header, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// echo decodes what the API received; the answer must be the API's.
func (a answer) echo(t *testing.T) echoed {
	t.Helper()
	var e echoed
	if a.status != 200 || json.Unmarshal(a.body, &e) != nil || e.Header == nil {
		t.Fatalf("want the API's answer, got %d %s", a.status, bytes.TrimSpace(a.body))
	}
	return e
}

// jsonBody decodes a JSON answer.
func (a answer) jsonBody(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d %q is not JSON: %v", a.status, a.body, err)
	}
	return m
}

// post sends a form with HTTP Basic client authentication (RFC 6749
// §2.3.1), as the RFC 7009 and RFC 7662 examples do.
func (p *proxy) post(t *testing.T, path string, c harness.Client, form url.Values) answer {
	t.Helper()
	req, err := http.NewRequest("POST", p.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := p.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

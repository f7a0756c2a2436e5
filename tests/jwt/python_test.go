package jwt

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/proxies"
	"github.com/oauth2-password/oauth2-password/tests/tlscert"
)

// pythonConfig is serve's config behind nginx: the SERVICE deploy/nginx
// routes (orders), with upstream JWTs, tokens that end before a JWT's
// upstream_jwt_ttl (so that exp is the opaque token's expiry), and the
// anonymous consumer, so that a request without a valid token reaches the
// upstream and shows what a client's own JWT becomes.
const pythonConfig = `trusted_ips: ["127.0.0.1/32", "::1/128"]
consumers:
  - username: bob
    id: ` + harness.ConsumerID + `
    custom_id: crm-17
  - username: guest
services:
  orders:
    provision_key: pk-orders-0123456789
    scopes: [orders.read, orders.write]
    accept_http_if_already_terminated: true
    upstream_jwt: true
    token_expiration: 120
    anonymous: guest
`

// pyAnswer is what upstream.py answers: the Authorization header it got,
// and the claims and JOSE header PyJWT verified, or why it refused.
type pyAnswer struct {
	Seen   *string `json:"seen"`
	Claims struct {
		Iss              string `json:"iss"`
		Sub              string `json:"sub"`
		Aud              string `json:"aud"`
		Exp              int64  `json:"exp"`
		ClientID         string `json:"client_id"`
		Scope            string `json:"scope"`
		ConsumerUsername string `json:"consumer_username"`
	} `json:"claims"`
	Header struct {
		Alg, Kid, Typ string
	} `json:"header"`
	Error string `json:"error"`
}

// TestPythonUpstream: the README's nginx setup (deploy/nginx/nginx.conf
// with docs/upstream-jwt.md's two lines for the JWT) in front of serve, and
// a Python upstream that verifies every request's JWT with PyJWT's
// PyJWKClient against our JWKS, with the lines of the docs' snippet. The
// upstream sees the token's claims; a client's own JWT never reaches it;
// after a rotation PyJWT verifies the old key's JWTs and the new key's.
func TestPythonUpstream(t *testing.T) {
	t.Parallel()
	// PyJWT verifies EdDSA and ES256 only with cryptography (Debian installs
	// python3-jwt with it, a Recommends).
	py := debianPython(t, "import jwt.algorithms; assert jwt.algorithms.has_crypto", "python3-jwt python3-cryptography")
	checkSnippet(t)
	db := harness.SQLiteURL(t)
	oldKey, newKey := keyFile(t, "ed25519"), keyFile(t, "es256")
	serveAddr := harness.FreeAddr(t)
	startServe := func(keys ...string) *harness.Serve {
		args := []string{"-http", serveAddr, "-issuer", issuer}
		for _, k := range keys {
			args = append(args, "-signing-key", k)
		}
		s := harness.LaunchServe(t, db, pythonConfig, args...)
		s.URL = "http://" + serveAddr // the later -http wins: one address across restarts
		s.WaitReady(t)
		return s
	}
	serve := startServe(oldKey)
	client := harness.CreateClient(t, db, "bob", "web")
	up := startPython(t, py, "http://"+serveAddr+"/.well-known/jwks.json", issuer, "orders")
	ngx := startJWTNginx(t, serveAddr, up)

	// through sends a GET through nginx with Authorization: Bearer tok
	// (none for ""), and returns nginx's status and the upstream's answer
	// (nil when the upstream did not answer).
	through := func(base string, hc *http.Client, tok string) (int, *pyAnswer) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/api/orders", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var a pyAnswer
		if json.Unmarshal(b, &a) != nil || !strings.Contains(string(b), `"seen"`) {
			return res.StatusCode, nil
		}
		return res.StatusCode, &a
	}
	grant := func() (string, int64) {
		t.Helper()
		res, err := ngx.hc.PostForm(ngx.url+"/oauth2/token", url.Values{"grant_type": {"password"}, "provision_key": {"pk-orders-0123456789"},
			"authenticated_userid": {"user-py"}, "client_id": {client.ID}, "client_secret": {client.Secret}, "scope": {"orders.read"}})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var tr harness.TokenResponse
		if err := json.NewDecoder(res.Body).Decode(&tr); err != nil || res.StatusCode != 200 || tr.AccessToken == "" {
			t.Fatalf("grant through nginx: %d %v", res.StatusCode, err)
		}
		return tr.AccessToken, time.Now().Unix() + int64(tr.ExpiresIn)
	}

	tok, tokEnd := grant()
	status, a := through(ngx.url, ngx.hc, tok)
	if status != 200 || a == nil {
		t.Fatalf("valid token: nginx %d, upstream %+v", status, a)
	}
	c := a.Claims
	if c.Iss != issuer || c.Sub != "user-py" || c.Aud != "orders" || c.ClientID != client.ID || c.Scope != "orders.read" || c.ConsumerUsername != "bob" {
		t.Errorf("claims PyJWT verified: %+v", c)
	}
	// The opaque token ends (120 s) before upstream_jwt_ttl (300 s): the
	// JWT ends with it, not later.
	if c.Exp > tokEnd || c.Exp < tokEnd-5 {
		t.Errorf("exp %d, want the opaque token's expiry %d", c.Exp, tokEnd)
	}
	if a.Header.Alg != "EdDSA" || a.Header.Typ != "at+jwt" {
		t.Errorf("JOSE header %+v", a.Header)
	}
	oldJWT, oldKid := strings.TrimPrefix(*a.Seen, "Bearer "), a.Header.Kid

	// A client's own JWT, forged or one of ours replayed, in place of a
	// token: the request goes on as the anonymous consumer, and nginx
	// sends the upstream no Authorization at all.
	for name, jwt := range map[string]string{"forged": forged(t), "replayed": oldJWT} {
		status, a := through(ngx.url, ngx.hc, jwt)
		if a == nil || a.Seen != nil {
			t.Errorf("%s JWT from the client: nginx %d, the upstream saw %+v; want no Authorization", name, status, a)
		}
	}
	// Revoked: no JWT. (With the anonymous consumer the request goes on
	// as guest, without an Authorization.)
	res, err := ngx.hc.PostForm(ngx.url+"/oauth2/revoke", url.Values{"token": {tok}, "client_id": {client.ID}, "client_secret": {client.Secret}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("revoke: %v %v", res, err)
	}
	res.Body.Close()
	if _, a := through(ngx.url, ngx.hc, tok); a != nil && a.Seen != nil {
		t.Errorf("revoked token: the upstream saw %q", *a.Seen)
	}

	// Rotation: the new key first, the old one still published. The
	// upstream's PyJWKClient has the old JWKS cached; the new kid makes
	// it fetch again.
	if err := serve.Stop(t); err != nil {
		t.Fatal(err)
	}
	startServe(newKey, oldKey)
	fresh, _ := grant()
	status, a = through(ngx.url, ngx.hc, fresh)
	if status != 200 || a == nil || a.Header.Alg != "ES256" || a.Header.Kid == oldKid || a.Claims.Sub != "user-py" {
		t.Fatalf("after rotation, a new JWT: nginx %d, upstream %+v", status, a)
	}
	// The old key's JWT, sent straight to the upstream: still verifies.
	direct := &http.Client{Timeout: 10 * time.Second}
	if status, a := through(up, direct, oldJWT); status != 200 || a == nil || a.Header.Kid != oldKid {
		t.Errorf("after rotation, the old key's JWT: %d %+v", status, a)
	}
}

// debianPython is a python3 that runs check: the one on PATH, else
// Debian's. A missing module is a failure naming the packages.
func debianPython(t *testing.T, check, pkgs string) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", check).Run() == nil {
			return path
		}
	}
	t.Fatalf("no python3 where %q runs: apt-get install %s (.ci/run does)", check, pkgs)
	return ""
}

// pythonBlock is the Python snippet of docs/upstream-jwt.md.
var pythonBlock = regexp.MustCompile("(?s)```python\n(.*?)```")

// checkSnippet: every line of the docs' Python snippet is a line of
// testdata/upstream.py, with the example's URLs and audience as the
// script's variables, so that the snippet users copy is the code verified
// here.
func checkSnippet(t *testing.T) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(harness.Root(), "docs", "upstream-jwt.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("testdata/upstream.py")
	if err != nil {
		t.Fatal(err)
	}
	m := pythonBlock.FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/upstream-jwt.md has no Python snippet")
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(script), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	r := strings.NewReplacer(`"`+issuer+`/.well-known/jwks.json"`, "JWKS_URL", `"`+issuer+`"`, "ISSUER", `"orders"`, "AUDIENCE")
	for _, l := range strings.Split(string(m[1]), "\n") {
		if l = strings.TrimSpace(r.Replace(l)); l != "" && !lines[l] {
			t.Errorf("the docs' Python line %q is not in testdata/upstream.py", l)
		}
	}
}

// startPython runs testdata/upstream.py and returns its URL.
func startPython(t *testing.T, py, jwksURL, iss, aud string) string {
	t.Helper()
	cmd := exec.Command(py, "testdata/upstream.py", jwksURL, iss, aud)
	cmd.Stderr = harnessLog{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("upstream.py did not start: %v", err)
	}
	return "http://127.0.0.1:" + strings.TrimSpace(port)
}

// harnessLog writes a process's stderr into the test log.
type harnessLog struct{ t *testing.T }

func (l harnessLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// jwtNginx is a running nginx.
type jwtNginx struct {
	url string
	hc  *http.Client
}

// startJWTNginx runs deploy/nginx/nginx.conf with the change
// docs/upstream-jwt.md gives for upstream_jwt: serve's Authorization (the
// JWT) goes upstream in place of the client's.
func startJWTNginx(t *testing.T, serveAddr, upstreamURL string) *jwtNginx {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if bin = "/usr/sbin/nginx"; exec.Command(bin, "-v").Run() != nil {
			t.Fatal("nginx not found: apt-get install nginx (.ci/run installs it)")
		}
	}
	dir := t.TempDir()
	cert, key, err := tlscert.Write(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := tlscert.Pool(cert)
	if err != nil {
		t.Fatal(err)
	}
	e := proxies.Env{ProxyAddr: harness.FreeAddr(t), ServeAddr: serveAddr, UpstreamAddr: strings.TrimPrefix(upstreamURL, "http://"), TLSCert: cert, TLSKey: key}
	conf, err := proxies.Envsubst(filepath.Join(harness.Root(), "deploy", "nginx", "nginx.conf"), e)
	if err != nil {
		t.Fatal(err)
	}
	const hide = `proxy_set_header Authorization "";`
	if strings.Count(conf, hide) != 1 {
		t.Fatalf("deploy/nginx/nginx.conf no longer has the line docs/upstream-jwt.md replaces: %s", hide)
	}
	conf = strings.Replace(conf, hide, "auth_request_set $o2p_jwt $upstream_http_authorization;\n            proxy_set_header Authorization $o2p_jwt;", 1)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	global := "daemon off;"
	if os.Geteuid() == 0 {
		global += " user root;" // workers must enter the private temp dir
	}
	proc := harness.RunProcess(t, "nginx", exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", global), func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return "nginx error.log:\n" + string(b)
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	n := &jwtNginx{url: "https://" + e.ProxyAddr, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := n.hc.Get(n.url + "/oauth2/ready-probe")
		if err == nil {
			res.Body.Close()
			return n
		}
		select {
		case <-proc.Exited():
			t.Fatalf("nginx exited at start: %v", proc.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer within 20s: %v", err)
		}
	}
}

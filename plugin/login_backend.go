package plugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// The operator's login backend over HTTP: one JSON POST per login attempt
// (docs/password-grant.md, "Standard password grant").
//
//	POST authenticate_url
//	{"username": …, "password": …, "client_id": …, "scope": …, <authenticate_params>…}
//
//	200 {"authenticated_userid": "…", "scope": "…"}  the user; scope optional
//	401 or 403                                        wrong credentials
//	anything else                                     the backend is failing

// Defaults and bounds of the login backend's settings.
const (
	defaultAuthenticateTimeout = 2000  // ms
	maxAuthenticateTimeout     = 60000 // ms: Kong's own socket timeout
	// maxLoginAnswer bounds what is read of the backend's answer: a user
	// id and a scope, not a document.
	maxLoginAnswer = 64 << 10
)

// reservedLoginParams cannot be passed through authenticate_params: the
// first four are the body's own members, the others secrets the backend
// has no business seeing.
var reservedLoginParams = []string{"username", "password", "client_id", "scope", "client_secret", "provision_key", "refresh_token"}

// reservedLoginHeaders are set by the HTTP client itself.
var reservedLoginHeaders = []string{"host", "content-type", "content-length", "transfer-encoding", "connection"}

// validateLogin checks the authenticate_* fields into s.
func (c *Config) validateLogin(s *settings) error {
	if c.AuthenticateURL == nil || *c.AuthenticateURL == "" {
		if c.AuthenticateHeaders != nil || c.AuthenticateParams != nil || c.AuthenticateTimeout != nil {
			return errors.New("authenticate_url: required when authenticate_timeout, authenticate_headers or authenticate_params is set")
		}
		return nil
	}
	u, err := parseLoginURL(*c.AuthenticateURL)
	if err != nil {
		return fmt.Errorf("authenticate_url: %v", err)
	}
	s.loginTimeout = defaultAuthenticateTimeout * time.Millisecond
	if c.AuthenticateTimeout != nil {
		ms := *c.AuthenticateTimeout
		if ms < 1 || ms > maxAuthenticateTimeout {
			return fmt.Errorf("authenticate_timeout: value should be between 1 and %d (milliseconds)", maxAuthenticateTimeout)
		}
		s.loginTimeout = time.Duration(ms) * time.Millisecond
	}
	h := http.Header{}
	for name, v := range c.AuthenticateHeaders {
		if !httpguts.ValidHeaderFieldName(name) || slices.Contains(reservedLoginHeaders, strings.ToLower(name)) {
			return fmt.Errorf("authenticate_headers: %q is not a header name that can be set", name)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			// The value may be a shared secret: name the header only.
			return fmt.Errorf("authenticate_headers: the value of %q holds a control character (a line break, NUL…)", name)
		}
		h.Set(name, v)
	}
	for _, p := range c.AuthenticateParams {
		if p == "" || slices.Contains(reservedLoginParams, p) {
			return fmt.Errorf("authenticate_params: %q cannot be passed to the login backend", p)
		}
	}
	s.loginParams = slices.Clone(c.AuthenticateParams)
	s.login = &httpLogin{hc: c.eng().loginHTTP, url: u.String(), header: h}
	return nil
}

// parseLoginURL accepts https, or plain http to a loopback address only:
// the body carries the user's password.
func parseLoginURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("must be an absolute http(s) URL")
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return nil, errors.New("must be https, or http to a loopback address (127.0.0.0/8, ::1, localhost): the request carries the user's password")
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// newLoginClient is the HTTP client shared by every instance's login
// backend: no proxy from the environment (the backend is the operator's
// own service, and the body holds a password), no redirects (a 3xx is a
// failing backend, and following it would resend the password elsewhere),
// and caFile's certificates trusted besides the system's.
func newLoginClient(caFile string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConnsPerHost = 64
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("authenticate CA file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("authenticate CA file %s: no PEM certificate in it", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// httpLogin is a login backend reached over HTTP(S).
type httpLogin struct {
	hc     *http.Client
	url    string
	header http.Header // authenticate_headers
}

// checkLogin posts the attempt. Its errors never hold the request body
// (the password) nor the answer's.
func (b *httpLogin) checkLogin(ctx context.Context, a loginAttempt) (loginResult, error) {
	m := make(map[string]string, len(a.params)+4)
	for k, v := range a.params {
		m[k] = v
	}
	m["username"], m["password"], m["client_id"], m["scope"] = a.username, a.password, a.clientID, a.scope
	body, err := json.Marshal(m)
	if err != nil {
		return loginResult{}, errors.New("encoding the login request")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return loginResult{}, errors.New("building the login request")
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return loginResult{}, transportFailure(err)
	}
	defer resp.Body.Close()
	// The deadline bounds the body too: a 101 answer's body is the raw
	// connection, which the request's context no longer reaches.
	defer context.AfterFunc(ctx, func() { resp.Body.Close() })()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		// Read to the end (within the bound) so the connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxLoginAnswer))
		return loginResult{}, errLoginRefused
	default:
		return loginResult{}, fmt.Errorf("answered %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxLoginAnswer+1))
	switch {
	case err != nil:
		return loginResult{}, errors.New("reading the answer failed or passed authenticate_timeout")
	case len(raw) > maxLoginAnswer:
		return loginResult{}, fmt.Errorf("answer larger than %d bytes", maxLoginAnswer)
	}
	return parseLoginAnswer(raw)
}

// parseLoginAnswer reads the 200 body: a JSON object whose members
// authenticated_userid and scope, spelled exactly so and each once, are
// strings (encoding/json alone would also take "Authenticated_UserID",
// and the last of two).
func parseLoginAnswer(raw []byte) (loginResult, error) {
	invalid := errors.New(`answered 200 without a JSON object of strings {"authenticated_userid", "scope"}`)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return loginResult{}, invalid
	}
	var (
		res  loginResult
		user *string
		seen = map[string]bool{}
	)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return loginResult{}, invalid
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return loginResult{}, invalid
		}
		if key != "authenticated_userid" && key != "scope" {
			continue // other members are the backend's own
		}
		if seen[key] {
			return loginResult{}, fmt.Errorf("answered 200 with %s twice", key)
		}
		seen[key] = true
		var str *string
		if json.Unmarshal(v, &str) != nil {
			return loginResult{}, invalid
		}
		if key == "scope" {
			res.scope = str
		} else {
			user = str
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return loginResult{}, invalid
	}
	if _, err := dec.Token(); err != io.EOF {
		return loginResult{}, invalid // trailing data
	}
	if user == nil {
		return loginResult{}, errors.New("answered 200 without authenticated_userid")
	}
	res.userID = *user
	return res, nil
}

// transportFailure is err of the HTTP client without what it may quote:
// a malformed status line or header is quoted from the backend's answer,
// which may echo the request, password included. The kind is enough for
// the log.
func transportFailure(err error) error {
	var ne net.Error
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return errors.New("no answer within authenticate_timeout")
	case errors.As(err, &cert):
		return errors.New("the backend's TLS certificate is not trusted (-authenticate-ca-file)")
	case errors.As(err, &op):
		return fmt.Errorf("%s: %v", op.Op, op.Err)
	}
	return errors.New("the answer could not be read as HTTP")
}

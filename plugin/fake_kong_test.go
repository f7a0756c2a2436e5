package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// fakeKong is the gateway of one request: it serves the request fields
// and consumers (plugin.Request, plugin.Consumers), records every read,
// and keeps the engine's decision (see record). It fails the test on a
// read after the decision.
type fakeKong struct {
	t *testing.T

	method, path, scheme, clientIP string
	trustedIP                      bool
	forwardedIP                    string
	headers                        map[string][]string // lower-case names
	query                          string
	body                           []byte
	serviceID                      string
	hasCredential                  bool
	consumers                      map[string]Consumer // by id and by username
	panicOn                        string              // method name that panics

	calls []string

	decided     bool
	exited      bool
	status      int
	respBody    []byte
	respHeaders map[string][]string

	authCalls int
	authed    *Consumer
	authCred  *Credential
	upstream  map[string][]string
	upQuery   *string
	upBody    []byte
	kongLogs  []string

	outcome, endpoint, grant string // the decision's
}

func newFakeKong(t *testing.T) *fakeKong {
	return &fakeKong{
		t: t, method: "GET", path: "/", scheme: "https", clientIP: "10.0.0.1",
		headers: map[string][]string{}, consumers: map[string]Consumer{},
	}
}

func (f *fakeKong) call(name string) {
	f.t.Helper()
	if f.decided {
		f.t.Errorf("read %s after the decision", name)
	}
	f.calls = append(f.calls, name)
	if f.panicOn == name {
		panic("fake kong: " + name + " exploded")
	}
}

func (f *fakeKong) Method() (string, error) { f.call("Method"); return f.method, nil }
func (f *fakeKong) Path() (string, error)   { f.call("Path"); return f.path, nil }
func (f *fakeKong) Header(name string) (string, error) {
	f.call("Header")
	v := f.headers[toLower(name)]
	if len(v) == 0 {
		return "", nil
	}
	return v[0], nil
}
func (f *fakeKong) Headers() (map[string][]string, error) {
	f.call("Headers")
	out := map[string][]string{}
	for k, v := range f.headers {
		out[toLower(k)] = v
	}
	return out, nil
}
func (f *fakeKong) RawQuery() (string, error) { f.call("RawQuery"); return f.query, nil }
func (f *fakeKong) RawBody() ([]byte, error)  { f.call("RawBody"); return f.body, nil }
func (f *fakeKong) Scheme() (string, error)   { f.call("Scheme"); return f.scheme, nil }
func (f *fakeKong) ClientIP() (string, error) { f.call("ClientIP"); return f.clientIP, nil }

// ForwardedIP is forwardedIP when a test sets one (a client behind a
// trusted proxy), else the peer.
func (f *fakeKong) ForwardedIP() (string, error) {
	f.call("ForwardedIP")
	if f.forwardedIP != "" {
		return f.forwardedIP, nil
	}
	return f.clientIP, nil
}
func (f *fakeKong) IsTrustedIP(ip string) (bool, error) {
	f.call("IsTrustedIP")
	return f.trustedIP, nil
}
func (f *fakeKong) ServiceID() (string, error) { f.call("ServiceID"); return f.serviceID, nil }
func (f *fakeKong) HasCredential() (bool, error) {
	f.call("HasCredential")
	return f.hasCredential, nil
}
func (f *fakeKong) LoadConsumer(ref string) (Consumer, bool, error) {
	f.call("LoadConsumer")
	c, ok := f.consumers[ref]
	return c, ok, nil
}

// access runs the engine on f as Kong's access phase would and records
// its decision in f.
func access(c *Config, f *fakeKong) {
	d := c.Handle(context.Background(), f, f)
	f.record(&d)
	d.Release()
}

// record keeps what a decision asks of the gateway, as Kong would see it.
func (f *fakeKong) record(d *Decision) {
	f.decided = true
	f.outcome, f.endpoint, f.grant = d.Outcome, d.Endpoint, d.Grant
	if d.Log != "" {
		f.kongLogs = append(f.kongLogs, "err: "+d.Log)
	}
	if a := d.Answer; a != nil {
		f.exited, f.status, f.respBody, f.respHeaders = true, a.Status, a.Body, a.Header
		return
	}
	if d.Authenticate {
		f.authCalls++
		c := d.Consumer
		f.authed, f.authCred = &c, nil
		if !d.Anonymous {
			cred := d.Credential
			f.authCred = &cred
		}
	}
	if d.Upstream != nil {
		f.upstream = map[string][]string{}
		for k, v := range d.Upstream {
			f.upstream[http.CanonicalHeaderKey(k)] = v
		}
	}
	f.upQuery, f.upBody = d.UpstreamQuery, d.UpstreamBody
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// json decodes the exit body.
func (f *fakeKong) json() map[string]any {
	f.t.Helper()
	if !f.exited {
		f.t.Fatalf("request was not answered (calls %v)", f.calls)
	}
	var m map[string]any
	if err := json.Unmarshal(f.respBody, &m); err != nil {
		f.t.Fatalf("response body %q: %v", f.respBody, err)
	}
	return m
}

// respHeader returns the exit response header.
func (f *fakeKong) respHeader(name string) string {
	for k, v := range f.respHeaders {
		if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// up returns an upstream header as set by the plugin: "<cleared>" when
// removed, "<untouched>" when the plugin did not touch it.
func (f *fakeKong) up(name string) string {
	v, ok := f.upstream[http.CanonicalHeaderKey(name)]
	switch {
	case !ok:
		return "<untouched>"
	case len(v) == 0:
		return "<cleared>"
	}
	return fmt.Sprint(v[0])
}

// expectError checks an error answer.
func (f *fakeKong) expectError(status int, code, desc string) {
	f.t.Helper()
	m := f.json()
	if f.status != status || m["error"] != code || m["error_description"] != desc {
		f.t.Errorf("got %d %v, want %d error=%q error_description=%q", f.status, m, status, code, desc)
	}
}

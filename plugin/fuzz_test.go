package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// Fuzz targets. Their seed corpora live in testdata/fuzz/<FuzzName>/ and
// run with every `go test`; `make fuzz` explores further.

const fuzzSecret = "fuzz-secret"

// fuzzStore is a Store that knows one confidential client, "app",
// accepts every token it is given and finds none. It records the access
// digests it is asked for.
type fuzzStore struct {
	mu     sync.Mutex
	asked  []store.Digest
	stored int
}

func (s *fuzzStore) Client(_ context.Context, id string) (store.Client, error) {
	if id != "app" {
		return store.Client{}, store.ErrNotFound
	}
	return store.Client{ID: "app", Consumer: testConsumer.ID, Type: store.Confidential, SecretDigest: store.DigestOf(fuzzSecret)}, nil
}
func (s *fuzzStore) CreateToken(context.Context, store.Token) error {
	s.mu.Lock()
	s.stored++
	s.mu.Unlock()
	return nil
}
func (s *fuzzStore) TokenByAccess(_ context.Context, d store.Digest) (store.Token, error) {
	s.mu.Lock()
	s.asked = append(s.asked, d)
	s.mu.Unlock()
	return store.Token{}, store.ErrNotFound
}
func (s *fuzzStore) TokenByRefresh(context.Context, store.Digest) (store.Token, error) {
	return store.Token{}, store.ErrNotFound
}
func (s *fuzzStore) RotateRefresh(context.Context, store.Digest, store.Token) error {
	return store.ErrNotFound
}
func (s *fuzzStore) ReissueAccess(context.Context, store.Digest, store.Digest, time.Time, int64, time.Time) error {
	return store.ErrNotFound
}
func (s *fuzzStore) Revoke(context.Context, store.Revocation) (int, error) { return 0, nil }

// fuzzEngine has a small body cap so that the fuzzer reaches it, and no
// throttling: iterations must not depend on each other.
func fuzzEngine(s Store) *Engine {
	o := DefaultOptions()
	o.Store, o.MaxBodyBytes, o.ThrottleFailures, o.Log = s, 4096, 0, slog.New(slog.DiscardHandler)
	return mustEngine(o)
}

func fuzzConfig(t *testing.T, e *Engine) *Config {
	c := NewConfig(e)
	raw := `{"provision_key":"` + testProvisionKey + `","scopes":["email","profile"],"service_id":"` + testService + `"}`
	if err := json.Unmarshal([]byte(raw), c); err != nil {
		t.Fatal(err)
	}
	return c
}

// contentTypes are the body kinds the token endpoint tells apart; the
// fuzzer picks one by index or supplies its own.
var fuzzContentTypes = []string{
	"application/x-www-form-urlencoded",
	"application/json",
	"multipart/form-data; boundary=XyZ",
	"text/plain",
}

// FuzzTokenParams: any query, content type and body. The parameters are
// the query's with the body's merged over them (the body wins, Kong's
// retrieve_parameters); the token endpoint never panics, never answers 5xx
// (the store is up), always answers JSON, and echoes state.
func FuzzTokenParams(f *testing.F) {
	f.Add("grant_type=password&state=q", uint8(0), "", []byte("grant_type=refresh_token&client_id=app"))
	f.Add("", uint8(1), "", []byte(`{"grant_type":"password","client_id":"app","client_secret":"fuzz-secret","provision_key":"`+testProvisionKey+`","authenticated_userid":"u","state":{"a":1}}`))
	f.Add("state", uint8(2), "", []byte("--XyZ\r\nContent-Disposition: form-data; name=\"state\"\r\n\r\nm\r\n--XyZ--\r\n"))
	s := &fuzzStore{}
	e := fuzzEngine(s)
	f.Fuzz(func(t *testing.T, query string, ctIndex uint8, ct string, body []byte) {
		if int(ctIndex) < len(fuzzContentTypes) {
			ct = fuzzContentTypes[ctIndex]
		}
		c := fuzzConfig(t, e)
		settings, err := c.settings()
		if err != nil {
			t.Fatal(err)
		}

		k := newFakeKong(t)
		k.method, k.path, k.query, k.body = "POST", "/oauth2/token", query, body
		k.headers["content-type"] = []string{ct}
		r := &request{e: e, k: k, s: settings}
		p, perr, err := r.tokenParams(map[string][]string{"content-type": {ct}})
		if err != nil {
			t.Fatalf("tokenParams: %v", err)
		}
		kind := bodyKindOf(ct)
		switch {
		case kind != bodyNone && len(body) > e.opt.MaxBodyBytes:
			if perr == nil || perr.Description != descBodyTooLarge {
				t.Fatalf("%d-byte body over the %d cap: got %v", len(body), e.opt.MaxBodyBytes, perr)
			}
		case perr == nil:
			qp, qerr := parseArgs(query)
			if qerr != nil {
				t.Fatalf("query refused (%v) but no request error", qerr)
			}
			var bp params
			if kind != bodyNone {
				bp, _ = parseBody(kind, ct, body)
			}
			for key, v := range bp {
				if !reflect.DeepEqual(p[key], v) {
					t.Fatalf("body key %q: merged %#v, body %#v (the body must win)", key, p[key], v)
				}
			}
			for key, v := range qp {
				if _, inBody := bp[key]; !inBody && !reflect.DeepEqual(p[key], v) {
					t.Fatalf("query key %q: merged %#v, query %#v", key, p[key], v)
				}
			}
			for key := range p {
				_, inQ := qp[key]
				_, inB := bp[key]
				if !inQ && !inB {
					t.Fatalf("merged key %q is in neither the query nor the body", key)
				}
			}
		}

		// The whole endpoint, end to end on the fake Kong.
		k2 := newFakeKong(t)
		k2.method, k2.path, k2.query, k2.body = "POST", "/oauth2/token", query, body
		k2.headers["content-type"] = []string{ct}
		k2.serviceID = testService
		access(c, k2)
		if !k2.exited {
			t.Fatal("token request not answered")
		}
		if k2.status >= 500 {
			t.Fatalf("answered %d %s", k2.status, k2.respBody)
		}
		var m map[string]any
		if err := decodeNumbers(k2.respBody, &m); err != nil {
			t.Fatalf("answer %d is not JSON: %q", k2.status, k2.respBody)
		}
		if k2.status != 200 {
			if code, _ := m["error"].(string); code == "" {
				t.Fatalf("error answer %d without an error code: %s", k2.status, k2.respBody)
			}
		}
		if state, ok := p["state"]; ok {
			want := jsonRoundTrip(t, state)
			if !reflect.DeepEqual(m["state"], want) {
				t.Fatalf("state %#v answered as %#v", want, m["state"])
			}
		}
	})
}

// jsonRoundTrip is v as a client decoding the answer would see it.
func jsonRoundTrip(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("state %#v does not encode: %v", v, err)
	}
	var out any
	if err := decodeNumbers(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeNumbers decodes JSON keeping numbers as json.Number: 1e400 is
// valid JSON that no float64 holds.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// FuzzAuthHeader: any Authorization header value on a proxied request and
// on the token endpoint. Bearer extraction never panics, is answered with
// an RFC 6750 error, and, for "<scheme> <token>" with scheme Bearer or
// token, looks up exactly the token, without the surrounding whitespace.
// Basic client credentials decode to the id and secret that were encoded.
func FuzzAuthHeader(f *testing.F) {
	f.Add("Bearer abc", "tok-123", uint8(0), "s3cr:et")
	f.Add("token  x y", "a", uint8(7), "")
	f.Add("Basic YXBwOmZ1enotc2VjcmV0", "app", uint8(3), fuzzSecret)
	s := &fuzzStore{}
	e := fuzzEngine(s)
	f.Fuzz(func(t *testing.T, header, tok string, pad uint8, secret string) {
		c := fuzzConfig(t, e)

		// 1. Any header on a proxied request.
		lookedUp := func(h string) (store.Digest, bool) {
			s.mu.Lock()
			s.asked = s.asked[:0]
			s.mu.Unlock()
			k := newFakeKong(t)
			k.path, k.serviceID = "/api", testService
			k.headers["authorization"] = []string{h}
			access(c, k)
			m := k.json()
			if k.status != 401 && k.status != 400 {
				t.Fatalf("header %q: answered %d %v", h, k.status, m)
			}
			if code, _ := m["error"].(string); code == "" || !strings.HasPrefix(k.respHeader("WWW-Authenticate"), "Bearer") {
				t.Fatalf("header %q: answered %d %v %v, want an RFC 6750 error", h, k.status, m, k.respHeaders)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.asked) == 0 {
				return store.Digest{}, false
			}
			return s.asked[0], true
		}
		got, asked := lookedUp(header)
		if parts := luaFields(header); len(parts) == 2 && (strings.EqualFold(parts[0], "bearer") || strings.EqualFold(parts[0], "token")) {
			if !asked || got != store.DigestOf(parts[1]) {
				t.Fatalf("header %q: the token looked up is not %q", header, parts[1])
			}
		}

		// 2. "Bearer <tok>" padded with Lua whitespace: exactly tok.
		ws := []string{" ", "\t", "  ", " \t ", "\v", "\f", "\r", "\n"}
		scheme := []string{"Bearer", "bearer", "BEARER", "token", "Token"}[int(pad)%5]
		h := ws[int(pad)%len(ws)] + scheme + ws[int(pad>>3)%len(ws)] + tok + ws[int(pad>>5)%len(ws)]
		if tok != "" && strings.IndexFunc(tok, isLuaSpace) < 0 {
			got, asked := lookedUp(h)
			if !asked || got != store.DigestOf(tok) {
				t.Fatalf("header %q: the token looked up is not %q", h, tok)
			}
		}

		// 3. Basic client credentials.
		cc := extractClientCredentials(params{}, []string{header})
		if !cc.fromHeader {
			t.Fatalf("header %q: credentials not marked as from the header", header)
		}
		id := strings.ReplaceAll(tok, ":", "")
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		cc = extractClientCredentials(params{}, []string{basic})
		if cc.id != id || cc.secret != secret || !cc.fromHeader {
			t.Fatalf("Basic %q:%q decoded as %q:%v", id, secret, cc.id, cc.secret)
		}
		// Credentials in the parameters win over the header.
		cc = extractClientCredentials(params{"client_id": "p-id", "client_secret": "p-secret"}, []string{basic})
		if cc.id != "p-id" || cc.secret != "p-secret" || cc.fromHeader {
			t.Fatalf("parameter credentials lost to the header: %+v", cc)
		}

		// 4. The header on the token endpoint: never 5xx, an OAuth error
		// or a token.
		k := newFakeKong(t)
		k.method, k.path, k.serviceID = "POST", "/oauth2/token", testService
		k.headers["authorization"] = []string{header}
		k.query = "grant_type=password&authenticated_userid=u&provision_key=" + testProvisionKey
		access(c, k)
		m := k.json()
		if k.status >= 500 || (k.status != 200 && m["error"] == nil) {
			t.Fatalf("token endpoint, header %q: %d %v", header, k.status, m)
		}
		if k.status == 401 && k.respHeader("WWW-Authenticate") != basicChallenge {
			t.Fatalf("401 without the Basic challenge: %v", k.respHeaders)
		}
	})
}

// configFields are the fields an invalid configuration may be blamed on.
var configFields = []string{
	"provision_key", "scopes", "mandatory_scope", "token_expiration", "refresh_token_ttl",
	"reuse_refresh_token", "global_credentials", "hide_credentials",
	"accept_http_if_already_terminated", "anonymous", "auth_header_name", "realm",
	"refresh_token_grace_period", "service_id", "route_id",
}

// FuzzConfig: any bytes as Kong's instance config. Decoding never fails
// (go-pdk would drop the connection), is deterministic, and an invalid
// config is always blamed on a named field, in words that do not depend
// on the provision_key (so they cannot leak it).
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"provision_key":"fuzz-provision-key-01","scopes":["a","b"],"mandatory_scope":true,"token_expiration":7200.0,"__seq__":3}`))
	f.Add([]byte(`{"provision_key":"fuzz-provision-key-01","PROVISION_KEY":null,"Scopes":[""]}`))
	f.Add([]byte(`[1,2]`))
	e := fuzzEngine(&fuzzStore{})
	decode := func(t *testing.T, data []byte) (*settings, error) {
		c := NewConfig(e)
		if err := c.UnmarshalJSON(data); err != nil {
			t.Fatalf("UnmarshalJSON(%q) = %v; it must never fail", data, err)
		}
		return c.settings()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decode(t, data)
		if (s == nil) == (err == nil) {
			t.Fatalf("settings %v, error %v: want exactly one", s, err)
		}
		if s2, err2 := decode(t, data); errString(err2) != errString(err) || !reflect.DeepEqual(s, s2) {
			t.Fatalf("decoding %q twice: %v then %v", data, err, err2)
		}
		if err == nil {
			return
		}
		msg, ok := strings.CutPrefix(err.Error(), "invalid plugin configuration: ")
		if !ok {
			t.Fatalf("error %q lacks the prefix", err)
		}
		named := msg == "config: not a JSON object"
		for _, name := range configFields {
			named = named || strings.HasPrefix(msg, name+": ")
		}
		if !named {
			t.Fatalf("error %q names no field", err)
		}

		// The same config with every provision_key replaced by another
		// of the same kind (usable, or too weak): the same words, so the
		// message says nothing about the key.
		var raw map[string]json.RawMessage
		if json.Unmarshal(data, &raw) != nil {
			return
		}
		for k, v := range raw {
			var pk string
			if strings.EqualFold(k, "provision_key") && json.Unmarshal(v, &pk) == nil && pk != "" {
				raw[k] = json.RawMessage(`"another-provision-key"`)
				if weakProvisionKey(pk) {
					raw[k] = json.RawMessage(`"weak"`)
				}
			}
		}
		other, mErr := json.Marshal(raw)
		if mErr != nil {
			return
		}
		if _, err2 := decode(t, other); errString(err2) != err.Error() {
			t.Fatalf("the error depends on the provision_key: %q vs %q", err, errString(err2))
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

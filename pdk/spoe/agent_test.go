package spoe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/negasus/haproxy-spoe-go/frame"
	"github.com/negasus/haproxy-spoe-go/message"
	spop "github.com/negasus/haproxy-spoe-go/request"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

const testToken = "Rk3uQ0c8yXbW2mJ5pT7vA9sD1fG4hL6n" // 32 characters, as the engine makes them

// newTestAgent is the agent over the production engine and store
// (embedded SQLite behind store.Cached) with one client of consumer bob
// and one valid token on each service: "orders" (hide_credentials) and
// "apikey" (auth_header_name X-Api-Token).
func newTestAgent(tb testing.TB) *Agent {
	tb.Helper()
	ctx := context.Background()
	raw, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "spoe.db"))
	if err != nil {
		tb.Fatal(err)
	}
	cached := store.NewCached(raw, store.CacheOptions{StaleIfError: time.Hour, MaxTTL: time.Hour})
	cached.Start(ctx)
	tb.Cleanup(func() { cached.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	if err := cached.CreateClient(ctx, store.Client{ID: "app", Name: "app", Consumer: "bob", Type: store.Confidential,
		SecretDigest: store.DigestOf("secret-secret-secret-secret"), CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	o := plugin.DefaultOptions()
	o.Store, o.Log = cached, slog.New(slog.DiscardHandler)
	e, err := plugin.NewEngine(o)
	if err != nil {
		tb.Fatal(err)
	}
	a := &Agent{Services: map[string]*plugin.Config{}, Trusted: httpfront.Trusted{}, Log: slog.New(slog.DiscardHandler),
		Consumers: httpfront.NewDirectory([]plugin.Consumer{{ID: "bob-id", Username: "bob"}})}
	for name, fields := range map[string]map[string]any{
		"orders": {"provision_key": "pk-orders-0123456789", "hide_credentials": true},
		"apikey": {"provision_key": "pk-apikey-0123456789", "auth_header_name": "X-Api-Token"},
	} {
		fields["service_id"] = name
		b, _ := json.Marshal(fields)
		c := plugin.NewConfig(e)
		if err := json.Unmarshal(b, c); err != nil || c.Err() != nil {
			tb.Fatalf("config %s: %v %v", name, err, c.Err())
		}
		a.Services[name] = c
		if err := cached.CreateToken(ctx, store.Token{Access: store.DigestOf(tokenOf(name)), ClientID: "app", ServiceID: name,
			AuthenticatedUserID: "user-1", Scope: "email", IssuedAt: now, ExpiresIn: 3600, FamilyID: name}); err != nil {
			tb.Fatal(err)
		}
	}
	return a
}

// tokenOf is the valid token of a newTestAgent service.
func tokenOf(service string) string { return service + testToken[len(service):] }

// notify is a NOTIFY frame's request with one message of name with args
// (name, value pairs), as the library hands it to the handler.
func notify(name string, args ...any) *spop.Request {
	m := message.AcquireMessage()
	m.Name = name
	for i := 0; i < len(args); i += 2 {
		m.KV.Add(args[i].(string), args[i+1])
	}
	return &spop.Request{Messages: &message.Messages{m}}
}

// vars are the variables an answer sets, by name.
func vars(t *testing.T, req *spop.Request) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, act := range req.Actions {
		if act.Scope != scope {
			t.Errorf("variable %s set in scope %d, want the transaction's", act.Name, act.Scope)
		}
		out[act.Name] = act.Value
	}
	return out
}

func TestCheck(t *testing.T) {
	a := newTestAgent(t)
	ip := net.ParseIP("192.0.2.7").To4()
	identity := map[string]any{"allow": true, "hdr_x_consumer_id": "bob-id", "hdr_x_consumer_username": "bob",
		"hdr_x_consumer_custom_id": "", "hdr_x_credential_identifier": "app", "hdr_x_anonymous_consumer": "",
		"hdr_x_authenticated_scope": "email", "hdr_x_authenticated_userid": "user-1"}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	missing := map[string]any{"allow": false, "status": int32(401), "www_authenticate": `Bearer`,
		"body": `{"error":"invalid_request","error_description":"The access token is missing"}`}
	for _, c := range []struct {
		name string
		req  *spop.Request
		want map[string]any
	}{
		{"valid token, hide_credentials removes the header",
			notify(MessageName, "service", "orders", "method", "GET", "path", "/things?page=1", "ip", ip, "authorization", "Bearer "+tokenOf("orders")),
			with(identity, "hdr_authorization", "")},
		{"token in the query, hide_credentials strips it",
			notify(MessageName, "service", "orders", "method", "GET", "path", "/things?page=1&access_token="+tokenOf("orders"), "ip", ip),
			with(identity, "query", "page=1")},
		{"custom auth header, any case",
			notify(MessageName, "service", "apikey", "method", "get", "path", "/k", "ip", ip, "x-api-token", tokenOf("apikey")),
			identity},
		{"header HAProxy did not find (null) is absent",
			notify(MessageName, "service", "orders", "method", "GET", "path", "/", "ip", ip, "authorization", nil),
			missing},
		{"unknown token",
			notify(MessageName, "service", "orders", "method", "GET", "path", "/", "ip", ip, "authorization", "Bearer nope"),
			map[string]any{"allow": false, "status": int32(401),
				"www_authenticate": `Bearer error="invalid_token", error_description="The access token is invalid or has expired"`,
				"body":             `{"error":"invalid_token","error_description":"The access token is invalid or has expired"}`}},
		{"another service's token",
			notify(MessageName, "service", "apikey", "method", "GET", "path", "/", "ip", ip, "x-api-token", tokenOf("orders")),
			map[string]any{"allow": false, "status": int32(401),
				"www_authenticate": `Bearer error="invalid_token", error_description="The access token is invalid or has expired"`,
				"body":             `{"error":"invalid_token","error_description":"The access token is invalid or has expired"}`}},
		{"no service arg",
			notify(MessageName, "method", "GET", "path", "/"),
			map[string]any{"allow": false, "status": int32(500),
				"body": `{"message":"no service: the oauth2-check message must carry service=… (spoe.conf)"}`}},
		{"unknown service",
			notify(MessageName, "service", "billing", "method", "GET", "path", "/"),
			map[string]any{"allow": false, "status": int32(500),
				"body": `{"message":"unknown service billing in the oauth2-check message's service arg"}`}},
		{"another message: nothing set, HAProxy denies",
			notify("something-else", "service", "orders", "authorization", "Bearer "+tokenOf("orders")),
			map[string]any{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a.handle(c.req)
			got := vars(t, c.req)
			if len(got) != len(c.want) {
				t.Errorf("set %d variables %v, want %d %v", len(got), got, len(c.want), c.want)
			}
			for k, w := range c.want {
				if got[k] != w {
					t.Errorf("%s = %#v, want %#v", k, got[k], w)
				}
			}
		})
	}
}

func TestHeaderVar(t *testing.T) {
	for in, want := range map[string]string{"X-Consumer-ID": "hdr_x_consumer_id", "Authorization": "hdr_authorization",
		"X-Api.Token": "hdr_x_api.token", "weird header!": "hdr_weird_header_"} {
		if got := HeaderVar(in); got != want {
			t.Errorf("HeaderVar(%q) = %q, want %q", in, got, want)
		}
	}
}

// hello is HAProxy's HELLO frame, as the library encodes it.
func hello(t *testing.T) []byte {
	f := frame.AcquireFrame()
	defer frame.ReleaseFrame(f)
	f.Type = frame.TypeHaproxyHello
	f.KV.Add("supported-versions", "2.0")
	f.KV.Add("max-frame-size", uint32(16380))
	f.KV.Add("capabilities", "pipelining")
	var b bytes.Buffer
	if _, err := f.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawFrame is a frame of type typ (flags FIN, stream 1, frame 1) with
// payload.
func rawFrame(typ byte, payload []byte) []byte {
	body := append([]byte{typ, 0, 0, 0, 1, 1, 1}, payload...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// checkPayload is a NOTIFY payload with one oauth2-check message naming
// service orders and no token.
func checkPayload() []byte {
	p := []byte{byte(len(MessageName))}
	p = append(p, MessageName...)
	p = append(p, 1, byte(len("service")))
	p = append(p, "service"...)
	return append(p, 8, byte(len("orders")), 'o', 'r', 'd', 'e', 'r', 's')
}

// readFrame reads one frame and returns its type.
func readFrame(r *bufio.Reader) (byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return 0, err
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, err
	}
	return b[0], nil
}

// TestMalformedFrames: a frame that would make the library allocate
// gigabytes or index out of range ends its connection, not the process;
// the agent goes on answering on other connections.
func TestMalformedFrames(t *testing.T) {
	a := newTestAgent(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Shutdown", err)
		}
	})
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if _, err := c.Write(hello(t)); err != nil {
			t.Fatal(err)
		}
		if typ, err := readFrame(r); err != nil || typ != byte(frame.TypeAgentHello) {
			t.Fatalf("HELLO answered %#x, %v; want AGENT-HELLO", typ, err)
		}
		return c, r
	}
	for name, bad := range map[string][]byte{
		"length 0 (4 GiB for the library)": {0, 0, 0, 0, 3},
		"length over the limit":            binary.BigEndian.AppendUint32(nil, maxFrameSize+1),
		"message name longer than frame":   rawFrame(3, []byte{200, 'x'}),
		"truncated IPv4 arg":               rawFrame(3, append(append([]byte{byte(len(MessageName))}, MessageName...), 1, 2, 'i', 'p', 6, 127)),
	} {
		t.Run(name, func(t *testing.T) {
			c, r := dial()
			if _, err := c.Write(bad); err != nil {
				t.Fatal(err)
			}
			if typ, err := readFrame(r); err == nil {
				t.Fatalf("the agent answered a frame of type %#x, want the connection closed", typ)
			} else if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("reading after a bad frame: %v, want the connection closed", err)
			}
		})
	}
	c, r := dial()
	if _, err := c.Write(rawFrame(3, checkPayload())); err != nil {
		t.Fatal(err)
	}
	if typ, err := readFrame(r); err != nil || typ != byte(frame.TypeAgentAck) {
		t.Fatalf("a good NOTIFY after the bad ones: %#x, %v; want ACK", typ, err)
	}
}

package konghost

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// offlineHost is a Host without a plugin process, for answering PDK calls
// directly.
func offlineHost(t *testing.T) *Host {
	t.Helper()
	h := &Host{info: Info{Name: "p"}, services: map[string]*entity{}, node: "node-1",
		stats: Stats{Calls: map[string]int{}}, inst: newInstances()}
	if err := h.SetTrustedIPs("10.0.0.0/8"); err != nil {
		t.Fatal(err)
	}
	return h
}

func enc(m proto.Message) []byte {
	if m == nil {
		return nil
	}
	return mustMarshal(m)
}

func TestKongMethodList(t *testing.T) {
	if len(kongMethods) != 74 {
		t.Errorf("%d Kong PDK methods listed, want the 74 of pluginsocket.proto", len(kongMethods))
	}
	for m := range pdkMethods {
		if !kongMethods[m] {
			t.Errorf("%s answered but not a Kong PDK method", m)
		}
	}
}

func TestPDKAnswers(t *testing.T) {
	h := offlineHost(t)
	alice, err := h.AddConsumer(Consumer{Username: "alice", CustomID: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{
		Method: "POST", Host: "API.test", Path: "/a/%2e%2e/b//c", RawQuery: "x=1&x=2&flag&e=",
		Header: http.Header{"X-Multi": {"1", "2"}, "X-Forwarded-Proto": {"https"}, "X-Real": {"v"}},
		Body:   []byte("raw"), ClientIP: "10.1.2.3",
	}
	strs := func(vs ...string) *structpb.Value { return stringsValue(vs) }
	tests := []struct {
		method string
		args   proto.Message
		want   proto.Message // nil: zero-length reply
		err    string
	}{
		{"kong.request.get_path", nil, &pb.String{V: "/b/c"}, ""},
		{"kong.request.get_method", nil, &pb.String{V: "POST"}, ""},
		{"kong.request.get_host", nil, &pb.String{V: "api.test"}, ""},
		{"kong.request.get_path_with_query", nil, &pb.String{V: "/b/c?x=1&x=2&flag&e="}, ""},
		{"kong.request.get_header", &pb.String{V: "x_real"}, &pb.String{V: "v"}, ""},
		{"kong.request.get_header", &pb.String{V: "X-Multi"}, &pb.String{V: "1"}, ""},
		{"kong.request.get_header", &pb.String{V: "missing"}, nil, ""},
		{"kong.request.get_headers", &pb.Int{V: 100}, &structpb.Struct{Fields: map[string]*structpb.Value{
			"host": strs("API.test"), "x-multi": strs("1", "2"), "x-forwarded-proto": strs("https"), "x-real": strs("v")}}, ""},
		{"kong.request.get_headers", &pb.Int{V: 0}, nil, "max_headers must be >= 1"},
		{"kong.request.get_query", &pb.Int{V: 100}, &structpb.Struct{Fields: map[string]*structpb.Value{
			"x": strs("1", "2"), "flag": structpb.NewBoolValue(true), "e": strs("")}}, ""},
		{"kong.request.get_query_arg", &pb.String{V: "x"}, &pb.String{V: "1"}, ""},
		{"kong.request.get_raw_body", nil, &pb.RawBodyResult{Kind: &pb.RawBodyResult_Content{Content: []byte("raw")}}, ""},
		{"kong.request.get_forwarded_scheme", nil, &pb.String{V: "https"}, ""}, // 10.1.2.3 is trusted
		{"kong.client.get_ip", nil, &pb.String{V: "10.1.2.3"}, ""},
		{"kong.client.get_credential", nil, nil, ""},
		{"kong.client.get_consumer", nil, nil, ""},
		{"kong.client.load_consumer", &pb.ConsumerSpec{Id: "alice"}, nil, "not a uuid"},
		{"kong.client.load_consumer", &pb.ConsumerSpec{Id: "alice", ByUsername: true},
			&pb.Consumer{Id: alice.ID, Username: "alice", CustomId: "c-1"}, ""},
		{"kong.client.load_consumer", &pb.ConsumerSpec{Id: alice.ID}, &pb.Consumer{Id: alice.ID, Username: "alice", CustomId: "c-1"}, ""},
		{"kong.client.load_consumer", &pb.ConsumerSpec{Id: "bob", ByUsername: true}, nil, ""},
		{"kong.client.authenticate", &pb.AuthenticateArgs{}, nil, "either credential or consumer"},
		{"kong.ip.is_trusted", &pb.String{V: "192.168.0.1"}, &pb.Bool{}, ""},
		{"kong.ctx.shared.get", &pb.String{V: "k"}, luaNil(), ""},
		{"kong.node.get_id", nil, &pb.String{V: "node-1"}, ""},
		{"kong.nginx.get_var", &pb.String{V: "request_uri"}, &pb.String{V: "/a/%2e%2e/b//c?x=1&x=2&flag&e="}, ""},
		{"kong.nginx.get_var", &pb.String{V: "no_such_var"}, nil, ""},
		{"kong.service.request.set_path", &pb.String{V: "relative"}, nil, "must start with /"},
		{"kong.service.request.set_method", &pb.String{V: "BREW"}, nil, "invalid method"},
		{"kong.response.get_source", nil, nil, "cannot be called in access phase"},
		{"kong.no.such", nil, nil, `method "kong.no.such" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			x := newReqState(h, Service{Name: "s"}, req)
			got, err := x.serve(tt.method, enc(tt.args))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("reply %x, want a zero-length frame", got)
				}
				return
			}
			m := tt.want.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(got, m); err != nil || !proto.Equal(m, tt.want) {
				t.Fatalf("reply %v (%v), want %v", m, err, tt.want)
			}
		})
	}
}

func TestPDKEditsTheUpstreamRequest(t *testing.T) {
	h := offlineHost(t)
	x := newReqState(h, Service{Name: "s"}, &Request{Host: "a.test", Path: "/p", RawQuery: "q=1",
		Header: http.Header{"X-Drop": {"1"}, "X-Keep": {"k"}, "X-Gone": {"g"}}})
	list := func(vs ...any) *structpb.Value { v, _ := structpb.NewList(vs); return structpb.NewListValue(v) }
	steps := []struct {
		method string
		args   proto.Message
	}{
		{"kong.service.request.set_header", &pb.KV{K: "X-Empty", V: structpb.NewStringValue("")}},
		{"kong.service.request.set_header", &pb.KV{K: "X-Num", V: structpb.NewNumberValue(3)}},
		{"kong.service.request.add_header", &pb.KV{K: "X-Keep", V: structpb.NewStringValue("k2")}},
		{"kong.service.request.clear_header", &pb.String{V: "X-Gone"}},
		{"kong.service.request.set_headers", &structpb.Struct{Fields: map[string]*structpb.Value{
			"X-Drop": list(), "X-Two": list("a", "b")}}},
		{"kong.service.request.set_query", &structpb.Struct{Fields: map[string]*structpb.Value{
			"b": list("x y", "z"), "a": structpb.NewBoolValue(true)}}},
		{"kong.service.request.set_raw_body", &pb.ByteString{V: []byte("new")}},
		{"kong.service.request.set_path", &pb.String{V: "/upstream"}},
		{"kong.service.request.set_method", &pb.String{V: "PUT"}},
		{"kong.client.authenticate", &pb.AuthenticateArgs{Credential: &pb.AuthenticatedCredential{Id: "cred"}}},
		{"kong.response.set_header", &pb.KV{K: "X-Resp", V: structpb.NewStringValue("r")}},
		{"kong.log.err", &structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("n="), structpb.NewNumberValue(2)}}},
		{"kong.ctx.shared.set", &pb.KV{K: "k", V: structpb.NewStringValue("v")}},
	}
	for _, s := range steps {
		if _, err := x.serve(s.method, enc(s.args)); err != nil {
			t.Fatalf("%s: %v", s.method, err)
		}
	}
	want := map[string]string{"x-empty": " ", "x-num": "3", "x-keep": "k,k2", "x-two": "a,b", "content-length": "3"}
	for k, v := range want {
		if got := strings.Join(x.up.Header[k], ","); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"x-drop", "x-gone"} {
		if _, ok := x.up.Header[k]; ok {
			t.Errorf("upstream %s still set", k)
		}
	}
	if x.up.RawQuery != "a&b=x%20y&b=z" || string(x.up.Body) != "new" || x.up.Path != "/upstream" || x.up.Method != "PUT" {
		t.Errorf("upstream = %+v", x.up)
	}
	if x.credential == nil || x.credential.ID != "cred" || x.consumer != nil {
		t.Errorf("authenticated %+v %+v", x.consumer, x.credential)
	}
	if x.resp.Get("X-Resp") != "r" || len(x.logs) != 1 || x.logs[0].Message != "n=2" {
		t.Errorf("response headers %v logs %v", x.resp, x.logs)
	}
	got, _ := x.serve("kong.ctx.shared.get", enc(&pb.String{V: "k"}))
	var v structpb.Value
	if err := proto.Unmarshal(got, &v); err != nil || v.GetStringValue() != "v" {
		t.Errorf("ctx.shared.get = %v %v", &v, err)
	}
	if x.calls["kong.service.request.set_header"] != 2 {
		t.Errorf("calls %v", x.calls)
	}
}

func TestExitRecordsAndStops(t *testing.T) {
	h := offlineHost(t)
	x := newReqState(h, Service{}, &Request{})
	hdrs, _ := structpb.NewStruct(map[string]any{"WWW-Authenticate": []any{"Bearer"}})
	_, err := x.serve("kong.response.exit", enc(&pb.ExitArgs{Status: 401, Body: []byte("no"), Headers: hdrs}))
	if !errors.Is(err, errExit) {
		t.Fatalf("err = %v, want the exit sentinel", err)
	}
	if x.exit == nil || x.exit.Status != 401 || string(x.exit.Body) != "no" || x.exit.Header.Get("Www-Authenticate") != "Bearer" {
		t.Errorf("exit = %+v", x.exit)
	}
	if _, err := x.serve("kong.response.exit", enc(&pb.ExitArgs{})); err == nil || errors.Is(err, errExit) {
		t.Errorf("exit with status 0: err = %v, want a Lua error", err)
	}
}

func TestNormalizePath(t *testing.T) {
	tests := map[string]string{
		"/":             "/",
		"/a//b/":        "/a/b/",
		"/a/./b/../c":   "/a/c",
		"/%7euser/%2F":  "/~user/%2F",
		"/a/%2e%2e/b":   "/b",
		"/../..":        "/",
		"/oauth2/token": "/oauth2/token",
		"/x/%c3%a9":     "/x/%C3%A9",
	}
	for in, want := range tests {
		if got := normalizePath(in); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigSnapshotScopes(t *testing.T) {
	h := offlineHost(t)
	h.info.Fields = []Field{{Name: "a", Type: "string"}, {Name: "b", Type: "string"}}
	for _, s := range []ServiceSpec{
		{Name: "svc", Scope: ScopeService, Config: map[string]any{"a": "x"}},
		{Name: "rt", Scope: ScopeRoute},
		{Name: "glob", Scope: ScopeGlobal},
	} {
		if _, err := h.AddService(s); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name           string
		service, route bool
	}{
		{"svc", true, false}, {"rt", false, true}, {"glob", false, false},
	}
	var seqs []int64
	for _, tt := range tests {
		svc, conf, _ := h.snapshot(tt.name)
		_, hasService := conf["service_id"]
		_, hasRoute := conf["route_id"]
		if hasService != tt.service || hasRoute != tt.route {
			t.Errorf("%s: service_id %v route_id %v", tt.name, hasService, hasRoute)
		}
		if conf["__plugin_id"] != svc.PluginID || conf["plugin_instance_name"] != "p-"+tt.name || conf["__ws_id"] == nil {
			t.Errorf("%s: conf %v", tt.name, conf)
		}
		if v, ok := conf["b"]; !ok || v != nil {
			t.Errorf("%s: unset schema field b = %v, %v; want null", tt.name, v, ok)
		}
		seqs = append(seqs, conf["__seq__"].(int64))
	}
	if !(seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Errorf("__seq__ not unique and increasing: %v", seqs)
	}
	_ = h.SetConfig("svc", map[string]any{"a": "y"})
	if _, conf, _ := h.snapshot("svc"); conf["__seq__"].(int64) <= seqs[2] || conf["a"] != "y" {
		t.Errorf("after SetConfig: %v", conf)
	}
}

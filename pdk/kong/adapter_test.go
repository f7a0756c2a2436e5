package kong

import (
	"encoding/binary"
	"io"
	"net"
	"reflect"
	"testing"

	gopdk "github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/bridge"
	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// fakeKong answers one PDK call the way Kong does: it reads the method
// and argument frames and writes reply as the answer frame. Kong encodes
// Lua strings as they are, so a reply or an argument may hold any bytes.
type fakeKong struct {
	method string
	args   []byte
}

func readFrame(r io.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// call runs fn against an Adapter whose PDK talks to a fake Kong that
// answers reply, and returns what Kong received.
func call(t *testing.T, reply []byte, fn func(Adapter) error) (fakeKong, error) {
	t.Helper()
	plug, kong := net.Pipe()
	defer plug.Close()
	got := make(chan fakeKong, 1)
	go func() {
		defer kong.Close()
		var f fakeKong
		defer func() { got <- f }()
		m, err := readFrame(kong)
		if err != nil {
			return
		}
		f.method = string(m)
		if f.args, err = readFrame(kong); err != nil {
			return
		}
		_ = binary.Write(kong, binary.LittleEndian, uint32(len(reply)))
		_, _ = kong.Write(reply)
	}()
	err := fn(NewAdapter(gopdk.Init(plug)))
	plug.Close()
	return <-got, err
}

func byteString(b string) []byte {
	out, err := proto.Marshal(&kpp.ByteString{V: []byte(b)})
	if err != nil {
		panic(err)
	}
	return out
}

// headersStruct encodes a google.protobuf.Struct of header values as Kong
// sends it: a string for one value, a list for several; bytes as they are.
func headersStruct(h map[string][]string) []byte {
	var out []byte
	str := func(s string) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), []byte(s))
	}
	for k, vs := range h {
		var val []byte
		if len(vs) == 1 {
			val = str(vs[0])
		} else {
			var list []byte
			for _, v := range vs {
				list = protowire.AppendTag(list, 1, protowire.BytesType)
				list = protowire.AppendBytes(list, str(v))
			}
			val = protowire.AppendTag(nil, 6, protowire.BytesType)
			val = protowire.AppendBytes(val, list)
		}
		entry := protowire.AppendTag(nil, 1, protowire.BytesType)
		entry = protowire.AppendBytes(entry, []byte(k))
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, val)
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, entry)
	}
	return out
}

// Request data is whatever bytes the client sent: HTTP allows obs-text in
// header values and nginx passes raw bytes in the query. Such a request
// must reach the engine (which answers invalid_token or invalid_request),
// not fail in the PDK with a 500.
func TestAdapterReadsNonUTF8(t *testing.T) {
	const raw = "Bearer caf\xe9\xff"
	for _, tc := range []struct {
		name   string
		reply  []byte
		method string
		read   func(Adapter) (any, error)
		want   any
	}{
		{"header", byteString(raw), "kong.request.get_header",
			func(a Adapter) (any, error) { return a.Header("authorization") }, raw},
		{"path", byteString("/caf\xe9"), "kong.request.get_path",
			func(a Adapter) (any, error) { return a.Path() }, "/caf\xe9"},
		{"raw query", byteString("access_token=\xff&a=b"), "kong.request.get_raw_query",
			func(a Adapter) (any, error) { return a.RawQuery() }, "access_token=\xff&a=b"},
		{"headers", headersStruct(map[string][]string{"user-agent": {"caf\xe9"}, "x-two": {"a", "\xff"}}), "kong.request.get_headers",
			func(a Adapter) (any, error) { return a.Headers() },
			map[string][]string{"user-agent": {"caf\xe9"}, "x-two": {"a", "\xff"}}},
		{"no headers", nil, "kong.request.get_headers",
			func(a Adapter) (any, error) { return a.Headers() }, map[string][]string{}},
		{"missing header", nil, "kong.request.get_header",
			func(a Adapter) (any, error) { return a.Header("authorization") }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got any
			k, err := call(t, tc.reply, func(a Adapter) (err error) {
				got, err = tc.read(a)
				return err
			})
			if err != nil {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if k.method != tc.method {
				t.Errorf("asked %q, want %q", k.method, tc.method)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// hide_credentials strips the token from a query or form body and sends
// the rest upstream byte for byte, whatever bytes the client sent.
func TestAdapterWritesNonUTF8(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		write  func(Adapter) error
		want   string
	}{
		{"raw body", "kong.service.request.set_raw_body",
			func(a Adapter) error { return a.SetUpstreamRawBody([]byte("name=caf\xe9")) }, "name=caf\xe9"},
		{"raw query", "kong.service.request.set_raw_query",
			func(a Adapter) error { return a.SetUpstreamRawQuery("q=\xff") }, "q=\xff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := call(t, nil, tc.write)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if k.method != tc.method {
				t.Errorf("asked %q, want %q", k.method, tc.method)
			}
			var got kpp.ByteString
			if err := proto.Unmarshal(k.args, &got); err != nil {
				t.Fatal(err)
			}
			if string(got.V) != tc.want {
				t.Errorf("sent %q, want %q", got.V, tc.want)
			}
		})
	}
}

// The upstream headers go to Kong as go-pdk's SetHeaders sends them
// (every value a list; an empty list clears the header), prepared once and
// sent again as the same bytes; a value that is not UTF-8 goes byte for
// byte instead of failing the request.
func TestAdapterSetsUpstreamHeaders(t *testing.T) {
	h := map[string][]string{"X-Consumer-Id": {"c-1"}, "Authorization": {"Bearer eyJ.x.y"},
		"X-Two": {"a", "b"}, "X-Consumer-Custom-Id": {}}
	want, err := bridge.WrapHeaders(h)
	if err != nil {
		t.Fatal(err)
	}
	var prepared any
	for _, tc := range []struct {
		name  string
		write func(Adapter) error
	}{
		{"unprepared", func(a Adapter) error { return a.SetUpstreamHeaders(h) }},
		{"prepared", func(a Adapter) error {
			prepared = a.PrepareUpstreamHeaders(h)
			return a.SetPreparedUpstreamHeaders(prepared)
		}},
		{"prepared, sent again", func(a Adapter) error { return a.SetPreparedUpstreamHeaders(prepared) }},
	} {
		k, err := call(t, nil, tc.write)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := new(structpb.Struct)
		if err := proto.Unmarshal(k.args, got); err != nil {
			t.Fatalf("%s: Kong cannot decode the argument: %v", tc.name, err)
		}
		if k.method != "kong.service.request.set_headers" || !proto.Equal(got, want) {
			t.Errorf("%s: sent %s %v, want %v", tc.name, k.method, got, want)
		}
	}

	raw := map[string][]string{"X-Authenticated-Userid": {"caf\xe9"}}
	k, err := call(t, nil, func(a Adapter) error { return a.SetUpstreamHeaders(raw) })
	if err != nil {
		t.Fatal(err)
	}
	var sent emptypb.Empty
	if err := proto.Unmarshal(k.args, &sent); err != nil {
		t.Fatal(err)
	}
	if got, err := headersFrom(sent.ProtoReflect().GetUnknown()); err != nil || !reflect.DeepEqual(got, raw) {
		t.Errorf("sent %q (%v), want %q", got, err, raw)
	}
}

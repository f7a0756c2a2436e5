package konghost

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// pdkFunc answers one PDK call. A nil message is sent as a zero-length
// frame, which is what Kong sends when the Lua function returns nil
// (kong/PROTOCOL.md §5).
type pdkFunc func(x *reqState, args []byte) (proto.Message, error)

// luaError is an error raised by a Kong PDK function (bad argument, wrong
// phase). Kong does not catch it: the plugin handler is aborted and the
// client gets 500 (§5 "Errors", §7).
type luaError struct{ msg string }

func (e *luaError) Error() string { return e.msg }

func raise(format string, args ...any) error { return &luaError{fmt.Sprintf(format, args...)} }

// ErrNotImplemented marks a PDK method that exists in Kong but that this
// host does not answer; the request fails with 500 so the gap is visible.
var ErrNotImplemented = errors.New("konghost: PDK method not implemented by the test host")

// pdkMethods is the dispatch table, keyed by the wire name (§5).
var pdkMethods = map[string]pdkFunc{}

func register(fs map[string]pdkFunc) {
	for k, f := range fs {
		pdkMethods[k] = f
	}
}

// serve answers one PDK call of the event loop.
func (x *reqState) serve(method string, args []byte) ([]byte, error) {
	x.calls[method]++
	f, ok := pdkMethods[method]
	if !ok {
		if kongMethods[method] {
			return nil, fmt.Errorf("%w: %s", ErrNotImplemented, method)
		}
		// call_pdk's answer; Kong 3.8+ turns it into a 500 (§5).
		return nil, fmt.Errorf("method %q not found", method)
	}
	m, err := f(x, args)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, nil
	}
	return proto.Marshal(m)
}

func decode(args []byte, m proto.Message) error {
	if err := proto.Unmarshal(args, m); err != nil {
		return raise("bad argument: %v", err)
	}
	return nil
}

// luaNil is how Kong wraps a Lua nil into google.protobuf.Value:
// {null_value = 1}, an enum number the proto does not define (§5).
func luaNil() *structpb.Value {
	return &structpb.Value{Kind: &structpb.Value_NullValue{NullValue: structpb.NullValue(1)}}
}

// luaToString is Lua's tostring for the values a Value can carry; numbers
// use Lua's "%.14g".
func luaToString(v *structpb.Value) (string, bool) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue, true
	case *structpb.Value_NumberValue:
		return strconv.FormatFloat(k.NumberValue, 'g', 14, 64), true
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue), true
	case *structpb.Value_NullValue, nil:
		return "nil", false
	default:
		return "table", false
	}
}

// kongMethods are the 74 rpcs of Kong 3.9's service Kong (§5).
var kongMethods = map[string]bool{}

func init() {
	for _, m := range []string{
		"kong.client.get_ip", "kong.client.get_forwarded_ip", "kong.client.get_port",
		"kong.client.get_forwarded_port", "kong.client.get_credential", "kong.client.load_consumer",
		"kong.client.get_consumer", "kong.client.authenticate", "kong.client.get_protocol",
		"kong.ctx.shared.set", "kong.ctx.shared.get", "kong.ip.is_trusted",
		"kong.log.alert", "kong.log.crit", "kong.log.err", "kong.log.warn", "kong.log.notice",
		"kong.log.info", "kong.log.debug", "kong.log.set_serialize_value", "kong.log.serialize",
		"kong.nginx.get_var", "kong.nginx.get_tls1_version_str", "kong.nginx.set_ctx",
		"kong.nginx.get_ctx", "kong.nginx.req_start_time", "kong.nginx.get_subsystem",
		"kong.node.get_id", "kong.node.get_memory_stats",
		"kong.request.get_scheme", "kong.request.get_host", "kong.request.get_port",
		"kong.request.get_forwarded_scheme", "kong.request.get_forwarded_host",
		"kong.request.get_forwarded_port", "kong.request.get_http_version", "kong.request.get_method",
		"kong.request.get_path", "kong.request.get_path_with_query", "kong.request.get_raw_query",
		"kong.request.get_query_arg", "kong.request.get_query", "kong.request.get_header",
		"kong.request.get_headers", "kong.request.get_raw_body", "kong.request.get_uri_captures",
		"kong.response.get_status", "kong.response.get_header", "kong.response.get_headers",
		"kong.response.get_source", "kong.response.set_status", "kong.response.set_header",
		"kong.response.add_header", "kong.response.clear_header", "kong.response.set_headers",
		"kong.response.exit", "kong.router.get_route", "kong.router.get_service",
		"kong.service.set_upstream", "kong.service.set_target",
		"kong.service.request.set_scheme", "kong.service.request.set_path",
		"kong.service.request.set_raw_query", "kong.service.request.set_method",
		"kong.service.request.set_query", "kong.service.request.set_header",
		"kong.service.request.add_header", "kong.service.request.clear_header",
		"kong.service.request.set_headers", "kong.service.request.set_raw_body",
		"kong.service.response.get_status", "kong.service.response.get_header",
		"kong.service.response.get_headers", "kong.service.response.get_raw_body",
	} {
		kongMethods[m] = true
	}
}

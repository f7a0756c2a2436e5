// Package kong is the engine's front for Kong Gateway 3.x: Adapter reads the
// request through go-pdk (plugin.Request, plugin.Consumers) and carries out
// the engine's decisions with PDK calls; Instance is the type go-pdk
// instantiates for each plugin configuration.
package kong

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	gopdk "github.com/Kong/go-pdk"
	"github.com/Kong/go-pdk/bridge"
	"github.com/Kong/go-pdk/client"
	"github.com/Kong/go-pdk/entities"
	kpp "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/oauth2-password/oauth2-password/pdk/kongaccess"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// MaxFileBody bounds how much of a request body that nginx buffered to a
// file we read (go-pdk would read the whole file). The engine's own cap
// (default 64 KiB) is far below it, so a larger body is refused there.
const MaxFileBody = 1 << 20

// Adapter implements PDK with one go-pdk call per method, so that a
// request's round-trip count is exactly its number of method calls.
type Adapter struct{ k *gopdk.PDK }

var _ kongaccess.PDK = Adapter{}

// NewAdapter wraps the PDK of one event.
func NewAdapter(k *gopdk.PDK) Adapter { return Adapter{k: k} }

func (a Adapter) Method() (string, error)             { return a.k.Request.GetMethod() }
func (a Adapter) Scheme() (string, error)             { return a.k.Request.GetScheme() }
func (a Adapter) ClientIP() (string, error)           { return a.k.Client.GetIp() }
func (a Adapter) IsTrustedIP(ip string) (bool, error) { return a.k.IP.IsTrusted(ip) }

// ForwardedIP is kong.client.get_forwarded_ip: the client's address as
// Kong's real_ip_header and trusted_ips make it, what throttling keys on.
func (a Adapter) ForwardedIP() (string, error) { return a.k.Client.GetForwardedIp() }

// Path, Header and RawQuery carry the client's bytes, which need not be
// UTF-8 (obs-text in a header, raw bytes in the query). Kong sends Lua
// strings as they are, but go-pdk decodes them into a proto3 string, which
// Go's protobuf refuses unless it is UTF-8: the request would fail with a
// 500 instead of getting its RFC 6750 answer. ByteString has the same wire
// format without that check.
func (a Adapter) Path() (string, error) { return a.askBytes("kong.request.get_path", nil) }
func (a Adapter) Header(name string) (string, error) {
	return a.askBytes("kong.request.get_header", bridge.WrapString(name))
}
func (a Adapter) RawQuery() (string, error) { return a.askBytes("kong.request.get_raw_query", nil) }

func (a Adapter) askBytes(method string, arg proto.Message) (string, error) {
	out := new(kpp.ByteString)
	if err := a.k.Request.Ask(method, arg, out); err != nil {
		return "", err
	}
	return string(out.V), nil
}

// Headers returns the request headers, keyed by lower-case name, up to
// Kong's largest limit (1000; its default, 100, would leave out headers a
// client sent after the 100th, such as its Authorization, which Kong's own
// plugin reads one by one without a limit). Only the token, revoke and
// introspect endpoints ask for them. The answer is a google.protobuf.Struct, whose strings
// Go's protobuf would also refuse unless UTF-8 (see Path): it is decoded
// here from the wire, every field left unknown to an Empty.
func (a Adapter) Headers() (map[string][]string, error) {
	out := new(emptypb.Empty)
	if err := a.k.Request.Ask("kong.request.get_headers", &kpp.Int{V: maxHeaders}, out); err != nil {
		return nil, err
	}
	return headersFrom(out.ProtoReflect().GetUnknown())
}

// headersFrom decodes a Struct of header name → string value (Value field
// 3) or list of string values (Value field 6, ListValue field 1).
func headersFrom(b []byte) (map[string][]string, error) {
	h := map[string][]string{}
	err := eachBytesField(b, func(num protowire.Number, entry []byte) error {
		if num != 1 { // Struct.fields
			return nil
		}
		var (
			name string
			vals []string
		)
		str := func(num protowire.Number, v []byte) error {
			if num == 3 {
				vals = append(vals, string(v))
			}
			return nil
		}
		err := eachBytesField(entry, func(num protowire.Number, v []byte) error {
			switch num {
			case 1:
				name = string(v)
			case 2:
				return eachBytesField(v, func(num protowire.Number, v []byte) error {
					if num == 6 {
						return eachBytesField(v, func(num protowire.Number, item []byte) error {
							if num != 1 {
								return nil
							}
							return eachBytesField(item, str)
						})
					}
					return str(num, v)
				})
			}
			return nil
		})
		h[name] = vals
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// eachBytesField calls fn with every length-delimited field of the message
// b, skipping the others.
func eachBytesField(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return err
		}
	}
	return nil
}

// RawBody reads the request body. A body nginx buffered to a file is read
// from that file, at most MaxFileBody+1 bytes.
func (a Adapter) RawBody() ([]byte, error) {
	out := new(kpp.RawBodyResult)
	if err := a.k.Request.Ask("kong.request.get_raw_body", nil, out); err != nil {
		return nil, err
	}
	switch x := out.Kind.(type) {
	case *kpp.RawBodyResult_BodyFilepath:
		f, err := os.Open(x.BodyFilepath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(io.LimitReader(f, MaxFileBody+1))
	case *kpp.RawBodyResult_Error:
		return nil, errors.New(x.Error)
	default:
		return out.GetContent(), nil
	}
}

// ServiceID asks Kong for the matched service: one round trip, used only by
// plugins not bound to a service (their config has no service_id).
func (a Adapter) ServiceID() (string, error) {
	s, err := a.k.Router.GetService()
	if err != nil {
		return "", err
	}
	return s.Id, nil
}

// HasCredential reports whether another auth plugin already authenticated
// the request (Kong answers an empty credential when none did).
func (a Adapter) HasCredential() (bool, error) {
	c, err := a.k.Client.GetCredential()
	if err != nil {
		return false, err
	}
	return c.Id != "" || c.ConsumerId != "", nil
}

// LoadConsumer always asks with by_username=true: Kong then tries the id
// first and the username second, and does not raise an error (a 500) for a
// reference that is not a UUID (kong/PROTOCOL.md §7).
func (a Adapter) LoadConsumer(ref string) (plugin.Consumer, bool, error) {
	c, err := a.k.Client.LoadConsumer(ref, true)
	if err != nil {
		return plugin.Consumer{}, false, err
	}
	if c.Id == "" {
		return plugin.Consumer{}, false, nil
	}
	return plugin.Consumer{ID: c.Id, Username: c.Username, CustomID: c.CustomId}, true, nil
}

func (a Adapter) Authenticate(c plugin.Consumer, cred *plugin.Credential) error {
	consumer := &entities.Consumer{Id: c.ID, Username: c.Username, CustomId: c.CustomID}
	var kc *client.AuthenticatedCredential
	if cred != nil {
		kc = &client.AuthenticatedCredential{Id: cred.ID, ConsumerId: cred.ConsumerID}
	}
	return a.k.Client.Authenticate(consumer, kc)
}

func (a Adapter) SetUpstreamHeaders(h map[string][]string) error {
	return a.SetPreparedUpstreamHeaders(a.PrepareUpstreamHeaders(h))
}

// preparedHeaders is set_headers' argument, encoded: a message whose
// unknown fields are the google.protobuf.Struct, which proto.Marshal
// copies as they are.
type preparedHeaders struct{ msg *emptypb.Empty }

// PrepareUpstreamHeaders encodes h as kong.service.request.set_headers'
// argument once, so that a token's every request sends the same bytes
// (kongaccess keeps them with the token): go-pdk's SetHeaders builds a
// structpb.Struct and marshals it on every call, 4–5 µs and 66
// allocations for the usual seven headers. It encodes what go-pdk's does,
// every value a list of strings (an empty list clears the header), but
// the bytes as they are, as Headers reads them.
func (a Adapter) PrepareUpstreamHeaders(h map[string][]string) any {
	var b []byte
	for k, vs := range h {
		var list []byte // ListValue.values: Value.string_value each
		for _, v := range vs {
			list = protowire.AppendTag(list, 1, protowire.BytesType)
			list = protowire.AppendVarint(list, uint64(protowire.SizeTag(3)+protowire.SizeBytes(len(v))))
			list = protowire.AppendTag(list, 3, protowire.BytesType)
			list = protowire.AppendString(list, v)
		}
		var value []byte // Value.list_value
		value = protowire.AppendTag(value, 6, protowire.BytesType)
		value = protowire.AppendBytes(value, list)
		var entry []byte // Struct.fields entry: key 1, value 2
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, k)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendBytes(entry, value)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	m := new(emptypb.Empty)
	m.ProtoReflect().SetUnknown(b)
	return preparedHeaders{m}
}

// SetPreparedUpstreamHeaders sends headers from PrepareUpstreamHeaders.
// Requests share them: marshalling only reads the message.
func (a Adapter) SetPreparedUpstreamHeaders(p any) error {
	ph, ok := p.(preparedHeaders)
	if !ok {
		return fmt.Errorf("set_headers: %T is not prepared by this adapter", p)
	}
	return a.k.ServiceRequest.Ask("kong.service.request.set_headers", ph.msg, nil)
}

// SetUpstreamRawQuery and SetUpstreamRawBody send the client's bytes back
// as ByteString (Kong's type for set_raw_body; the same wire format as the
// String of set_raw_query): go-pdk's String would fail unless UTF-8.
func (a Adapter) SetUpstreamRawQuery(q string) error {
	return a.k.ServiceRequest.Ask("kong.service.request.set_raw_query", bridge.WrapByteString([]byte(q)), nil)
}
func (a Adapter) SetUpstreamRawBody(b []byte) error {
	return a.k.ServiceRequest.Ask("kong.service.request.set_raw_body", bridge.WrapByteString(b), nil)
}

// Exit sends kong.response.exit. Kong never replies to it and go-pdk closes
// the connection, so the caller must return at once.
func (a Adapter) Exit(status int, body []byte, headers map[string][]string) {
	a.k.Response.Exit(status, body, headers)
}

// LogErr and LogWarn write into Kong's error log. Only strings are passed:
// go-pdk's structpb conversion silently drops other types (e.g. error).
func (a Adapter) LogErr(msg string)  { _ = a.k.Log.Err(oneLine(msg)) }
func (a Adapter) LogWarn(msg string) { _ = a.k.Log.Warn(oneLine(msg)) }

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// maxHeaders is the most headers kong.request.get_headers returns: its
// max_headers may be 1 to 1000.
const maxHeaders = 1000

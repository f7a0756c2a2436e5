package konghost

import (
	"sort"
	"strconv"
	"strings"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// kong.service.request.*: edits of the request Kong will proxy.
func init() {
	register(map[string]pdkFunc{
		"kong.service.request.set_header": func(x *reqState, args []byte) (proto.Message, error) {
			name, vs, err := headerKV(args)
			if err != nil {
				return nil, err
			}
			x.up.Header[name] = vs
			return nil, nil
		},
		"kong.service.request.add_header": func(x *reqState, args []byte) (proto.Message, error) {
			name, vs, err := headerKV(args)
			if err != nil {
				return nil, err
			}
			x.up.Header[name] = append(x.up.Header[name], vs...)
			return nil, nil
		},
		"kong.service.request.clear_header": func(x *reqState, args []byte) (proto.Message, error) {
			var name pb.String
			if err := decode(args, &name); err != nil {
				return nil, err
			}
			delete(x.up.Header, strings.ToLower(name.V))
			return nil, nil
		},
		// set_headers: one round trip for many headers; a list value sets
		// all its strings and an empty list removes the header.
		"kong.service.request.set_headers": func(x *reqState, args []byte) (proto.Message, error) {
			h, err := headerStruct(args)
			if err != nil {
				return nil, err
			}
			for name, vs := range h {
				if len(vs) == 0 {
					delete(x.up.Header, name)
				} else {
					x.up.Header[name] = vs
				}
			}
			return nil, nil
		},
		"kong.service.request.set_raw_query": func(x *reqState, args []byte) (proto.Message, error) {
			var q pb.String
			if err := decode(args, &q); err != nil {
				return nil, err
			}
			x.up.RawQuery = q.V
			return nil, nil
		},
		"kong.service.request.set_query": func(x *reqState, args []byte) (proto.Message, error) {
			var st structpb.Struct
			if err := decode(args, &st); err != nil {
				return nil, err
			}
			q, err := encodeArgs(&st)
			if err != nil {
				return nil, err
			}
			x.up.RawQuery = q
			return nil, nil
		},
		// set_raw_body also fixes Content-Length, as ngx.req.set_body_data does.
		"kong.service.request.set_raw_body": func(x *reqState, args []byte) (proto.Message, error) {
			var b pb.ByteString
			if err := decode(args, &b); err != nil {
				return nil, err
			}
			x.up.Body = b.V
			x.up.Header["content-length"] = []string{strconv.Itoa(len(b.V))}
			return nil, nil
		},
		"kong.service.request.set_path": func(x *reqState, args []byte) (proto.Message, error) {
			var p pb.String
			if err := decode(args, &p); err != nil {
				return nil, err
			}
			if !strings.HasPrefix(p.V, "/") {
				return nil, raise("path must start with /")
			}
			x.up.Path = p.V
			return nil, nil
		},
		"kong.service.request.set_method": func(x *reqState, args []byte) (proto.Message, error) {
			var m pb.String
			if err := decode(args, &m); err != nil {
				return nil, err
			}
			switch m.V {
			case "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE",
				"PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE":
				x.up.Method = m.V
				return nil, nil
			}
			return nil, raise("invalid method: %s", m.V)
		},
		"kong.service.request.set_scheme": func(x *reqState, args []byte) (proto.Message, error) {
			var s pb.String
			if err := decode(args, &s); err != nil {
				return nil, err
			}
			if s.V != "http" && s.V != "https" {
				return nil, raise("invalid scheme: %s", s.V)
			}
			return nil, nil
		},
	})
}

// headerValue is Kong's normalize_header: tostring of a string, number or
// boolean, and "" becomes a single space (§7: setting "" sends " ").
func headerValue(v *structpb.Value) (string, error) {
	s, ok := luaToString(v)
	if !ok {
		return "", raise("invalid header value: got %s, expected string, number or boolean", s)
	}
	if s == "" {
		s = " "
	}
	return s, nil
}

func headerKV(args []byte) (string, []string, error) {
	var kv pb.KV
	if err := decode(args, &kv); err != nil {
		return "", nil, err
	}
	if kv.K == "" {
		return "", nil, raise("invalid header name \"\"")
	}
	s, err := headerValue(kv.V)
	if err != nil {
		return "", nil, err
	}
	return strings.ToLower(kv.K), []string{s}, nil
}

// headerStruct decodes a set_headers table: name → string or list of
// strings (go-pdk always sends lists, §5).
func headerStruct(args []byte) (map[string][]string, error) {
	var st structpb.Struct
	if err := decode(args, &st); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for name, v := range st.Fields {
		if name == "" {
			return nil, raise("invalid header name \"\"")
		}
		name = strings.ToLower(name)
		if l := v.GetListValue(); l != nil {
			vs := []string{}
			for _, e := range l.Values {
				s, err := headerValue(e)
				if err != nil {
					return nil, err
				}
				vs = append(vs, s)
			}
			out[name] = vs
			continue
		}
		s, err := headerValue(v)
		if err != nil {
			return nil, err
		}
		out[name] = []string{s}
	}
	return out, nil
}

// encodeArgs is Kong's encode_args for set_query: keys sorted, lists
// repeated, true as a bare flag, values escaped like ngx.escape_uri.
func encodeArgs(st *structpb.Struct) (string, error) {
	keys := make([]string, 0, len(st.Fields))
	for k := range st.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	add := func(k string, v *structpb.Value) error {
		if b, ok := v.GetKind().(*structpb.Value_BoolValue); ok {
			if b.BoolValue {
				parts = append(parts, escapeURI(k))
			}
			return nil
		}
		s, ok := luaToString(v)
		if !ok {
			return raise("invalid query arg %q", k)
		}
		parts = append(parts, escapeURI(k)+"="+escapeURI(s))
		return nil
	}
	for _, k := range keys {
		v := st.Fields[k]
		if l := v.GetListValue(); l != nil {
			for _, e := range l.Values {
				if err := add(k, e); err != nil {
					return "", err
				}
			}
			continue
		}
		if err := add(k, v); err != nil {
			return "", err
		}
	}
	return strings.Join(parts, "&"), nil
}

func escapeURI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
		}
	}
	return b.String()
}

package konghost

import (
	"net/url"
	"strconv"
	"strings"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// kong.request.*: answers about the client request, which plugins cannot
// change (changes go to kong.service.request.*).
func init() {
	register(map[string]pdkFunc{
		"kong.request.get_scheme": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: x.req.Scheme}, nil
		},
		"kong.request.get_host": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: strings.ToLower(x.req.Host)}, nil
		},
		"kong.request.get_port": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.Int{V: int32(x.req.Port)}, nil
		},
		// The forwarded variants read X-Forwarded-* only from a trusted
		// peer (Kong's trusted_ips).
		"kong.request.get_forwarded_scheme": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: strings.ToLower(x.forwarded("x-forwarded-proto", x.req.Scheme))}, nil
		},
		"kong.request.get_forwarded_host": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: strings.ToLower(x.forwarded("x-forwarded-host", x.req.Host))}, nil
		},
		"kong.request.get_forwarded_port": func(x *reqState, _ []byte) (proto.Message, error) {
			p, err := strconv.Atoi(x.forwarded("x-forwarded-port", strconv.Itoa(x.req.Port)))
			if err != nil {
				p = x.req.Port
			}
			return &pb.Int{V: int32(p)}, nil
		},
		"kong.request.get_http_version": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.Number{V: x.req.HTTPVersion}, nil
		},
		"kong.request.get_method": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: x.req.Method}, nil
		},
		"kong.request.get_path": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: x.path}, nil
		},
		"kong.request.get_path_with_query": func(x *reqState, _ []byte) (proto.Message, error) {
			if x.req.RawQuery == "" {
				return &pb.String{V: x.path}, nil
			}
			return &pb.String{V: x.path + "?" + x.req.RawQuery}, nil
		},
		"kong.request.get_raw_query": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: x.req.RawQuery}, nil
		},
		"kong.request.get_query_arg": func(x *reqState, args []byte) (proto.Message, error) {
			var name pb.String
			if err := decode(args, &name); err != nil {
				return nil, err
			}
			for _, a := range parseArgs(x.req.RawQuery) {
				if a.name == name.V {
					if a.flag {
						return nil, nil // Lua true cannot become a String: nothing
					}
					return &pb.String{V: a.value}, nil
				}
			}
			return nil, nil
		},
		"kong.request.get_query": func(x *reqState, args []byte) (proto.Message, error) {
			max, err := maxArg(args, "max_args")
			if err != nil {
				return nil, err
			}
			return argsStruct(parseArgs(x.req.RawQuery), max)
		},
		// get_header: the first value (kong.tools.http get_header; nginx
		// would join repeated headers with ", "); "-" and "_" match alike,
		// as in ngx.var.http_*. Absent → zero-length reply (§7).
		"kong.request.get_header": func(x *reqState, args []byte) (proto.Message, error) {
			var name pb.String
			if err := decode(args, &name); err != nil {
				return nil, err
			}
			if v, ok := x.header[headerKey(name.V)]; ok {
				return &pb.String{V: v[0]}, nil
			}
			return nil, nil
		},
		// get_headers: lower-case names, a string per single header and a
		// list of strings per repeated one (§5).
		"kong.request.get_headers": func(x *reqState, args []byte) (proto.Message, error) {
			max, err := maxArg(args, "max_headers")
			if err != nil {
				return nil, err
			}
			st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
			for i, n := range x.names {
				if i == max {
					break
				}
				st.Fields[n] = stringsValue(x.header[n])
			}
			return st, nil
		},
		"kong.request.get_raw_body": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.RawBodyResult{Kind: &pb.RawBodyResult_Content{Content: append([]byte{}, x.req.Body...)}}, nil
		},
	})
}

func headerKey(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func (x *reqState) forwarded(header, own string) string {
	if v, ok := x.header[header]; ok && x.h.isTrusted(x.req.ClientIP) {
		return strings.TrimSpace(strings.Split(v[0], ",")[0])
	}
	return own
}

// maxArg reads the Int limit of get_headers/get_query; Kong raises when it
// is outside 1..1000 (go-pdk sends 100 for -1).
func maxArg(args []byte, what string) (int, error) {
	var n pb.Int
	if err := decode(args, &n); err != nil {
		return 0, err
	}
	if n.V < 1 {
		return 0, raise("%s must be >= 1", what)
	}
	if n.V > 1000 {
		return 0, raise("%s must be <= 1000", what)
	}
	return int(n.V), nil
}

func stringsValue(vs []string) *structpb.Value {
	if len(vs) == 1 {
		return structpb.NewStringValue(vs[0])
	}
	l := make([]*structpb.Value, len(vs))
	for i, v := range vs {
		l[i] = structpb.NewStringValue(v)
	}
	return structpb.NewListValue(&structpb.ListValue{Values: l})
}

type queryArg struct {
	name, value string
	flag        bool // "?a" with no "=": Lua true
}

// parseArgs decodes a query string the way ngx.req.get_uri_args does:
// "+" is a space, %XX decoded, "a" alone is a flag, "a=" an empty string.
func parseArgs(raw string) []queryArg {
	var out []queryArg
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		name, value, hasEq := strings.Cut(part, "=")
		name = unescapeArg(name)
		if name == "" {
			continue
		}
		out = append(out, queryArg{name: name, value: unescapeArg(value), flag: !hasEq})
	}
	return out
}

func unescapeArg(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// argsStruct builds Kong's table of args: a string, true, or a list.
func argsStruct(args []queryArg, max int) (*structpb.Struct, error) {
	st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	vals := map[string][]*structpb.Value{}
	var order []string
	for i, a := range args {
		if i == max {
			break
		}
		if _, ok := vals[a.name]; !ok {
			order = append(order, a.name)
		}
		v := structpb.NewStringValue(a.value)
		if a.flag {
			v = structpb.NewBoolValue(true)
		}
		vals[a.name] = append(vals[a.name], v)
	}
	for _, n := range order {
		if vs := vals[n]; len(vs) == 1 {
			st.Fields[n] = vs[0]
		} else {
			st.Fields[n] = structpb.NewListValue(&structpb.ListValue{Values: vs})
		}
	}
	return st, nil
}

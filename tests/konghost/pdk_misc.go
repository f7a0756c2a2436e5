package konghost

import (
	"strconv"
	"strings"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// kong.log.*, kong.ctx.shared.*, kong.node.* and kong.nginx.*.
func init() {
	for _, level := range []string{"alert", "crit", "err", "warn", "notice", "info", "debug"} {
		level := level
		// kong.log.<level>(...) gets the varargs as a ListValue and
		// concatenates their tostring()s with no separator.
		pdkMethods["kong.log."+level] = func(x *reqState, args []byte) (proto.Message, error) {
			var l structpb.ListValue
			if err := decode(args, &l); err != nil {
				return nil, err
			}
			var b strings.Builder
			for _, v := range l.Values {
				s, _ := luaToString(v)
				b.WriteString(s)
			}
			x.logs = append(x.logs, LogEntry{Level: level, Message: b.String()})
			return nil, nil
		}
	}
	register(map[string]pdkFunc{
		"kong.ctx.shared.set": func(x *reqState, args []byte) (proto.Message, error) {
			var kv pb.KV
			if err := decode(args, &kv); err != nil {
				return nil, err
			}
			if kv.V == nil {
				delete(x.shared, kv.K)
			} else {
				x.shared[kv.K] = kv.V.AsInterface()
			}
			return nil, nil
		},
		"kong.ctx.shared.get": func(x *reqState, args []byte) (proto.Message, error) {
			var k pb.String
			if err := decode(args, &k); err != nil {
				return nil, err
			}
			v, ok := x.shared[k.V]
			if !ok || v == nil {
				return luaNil(), nil
			}
			return structpb.NewValue(v)
		},
		"kong.node.get_id": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: x.h.node}, nil
		},
		"kong.nginx.get_subsystem": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: "http"}, nil
		},
		"kong.nginx.req_start_time": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.Number{V: float64(x.h.start.UnixMilli()) / 1000}, nil
		},
		// get_var answers a few nginx variables; others are nil.
		"kong.nginx.get_var": func(x *reqState, args []byte) (proto.Message, error) {
			var name pb.String
			if err := decode(args, &name); err != nil {
				return nil, err
			}
			v, ok := x.nginxVar(name.V)
			if !ok {
				return nil, nil
			}
			return &pb.String{V: v}, nil
		},
	})
}

func (x *reqState) nginxVar(name string) (string, bool) {
	r := x.req
	switch name {
	case "scheme":
		return r.Scheme, true
	case "remote_addr", "realip_remote_addr":
		return r.ClientIP, true
	case "remote_port":
		return strconv.Itoa(r.ClientPort), true
	case "server_port":
		return strconv.Itoa(r.Port), true
	case "request_method":
		return r.Method, true
	case "request_uri":
		if r.RawQuery != "" {
			return r.Path + "?" + r.RawQuery, true
		}
		return r.Path, true
	case "uri":
		return x.path, true
	case "args", "query_string":
		return r.RawQuery, r.RawQuery != ""
	case "host":
		return strings.ToLower(r.Host), true
	}
	if h, ok := strings.CutPrefix(name, "http_"); ok {
		if v, ok := x.header[headerKey(h)]; ok {
			return strings.Join(v, ", "), true
		}
	}
	return "", false
}

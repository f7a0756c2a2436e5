package konghost

import (
	"net/http"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// kong.response.*: the getters are not allowed before the response exists
// (Kong raises in access, §7); the setters record onto the final response;
// exit ends the request.
func init() {
	notInAccess := func(*reqState, []byte) (proto.Message, error) {
		return nil, raise("function cannot be called in access phase (only in: header_filter, response, body_filter, log, admin_api)")
	}
	register(map[string]pdkFunc{
		"kong.response.get_status":  notInAccess,
		"kong.response.get_header":  notInAccess,
		"kong.response.get_headers": notInAccess,
		"kong.response.get_source":  notInAccess,
		"kong.response.set_status": func(x *reqState, args []byte) (proto.Message, error) {
			var n pb.Int
			if err := decode(args, &n); err != nil {
				return nil, err
			}
			if n.V < 100 || n.V > 599 {
				return nil, raise("code must be a number between 100 and 599")
			}
			x.status = int(n.V)
			return nil, nil
		},
		"kong.response.set_header": func(x *reqState, args []byte) (proto.Message, error) {
			name, vs, err := headerKV(args)
			if err != nil {
				return nil, err
			}
			x.resp[http.CanonicalHeaderKey(name)] = vs
			return nil, nil
		},
		"kong.response.add_header": func(x *reqState, args []byte) (proto.Message, error) {
			name, vs, err := headerKV(args)
			if err != nil {
				return nil, err
			}
			x.resp[http.CanonicalHeaderKey(name)] = append(x.resp[http.CanonicalHeaderKey(name)], vs...)
			return nil, nil
		},
		"kong.response.clear_header": func(x *reqState, args []byte) (proto.Message, error) {
			var name pb.String
			if err := decode(args, &name); err != nil {
				return nil, err
			}
			x.resp.Del(name.V)
			return nil, nil
		},
		"kong.response.set_headers": func(x *reqState, args []byte) (proto.Message, error) {
			h, err := headerStruct(args)
			if err != nil {
				return nil, err
			}
			for name, vs := range h {
				if len(vs) == 0 {
					x.resp.Del(name)
				} else {
					x.resp[http.CanonicalHeaderKey(name)] = vs
				}
			}
			return nil, nil
		},
		// exit: record the response and answer nothing; Kong yields the
		// handler's coroutine, skips the remaining access plugins and drops
		// the connection (§6). A status outside 100–599 raises (500).
		"kong.response.exit": func(x *reqState, args []byte) (proto.Message, error) {
			var a pb.ExitArgs
			if err := decode(args, &a); err != nil {
				return nil, err
			}
			if a.Status < 100 || a.Status > 599 {
				return nil, raise("code must be a number between 100 and 599")
			}
			e := &Exit{Status: int(a.Status), Body: a.Body, Header: http.Header{}}
			if a.Headers != nil {
				h, err := headerStruct(mustMarshal(a.Headers))
				if err != nil {
					return nil, err
				}
				for name, vs := range h {
					e.Header[http.CanonicalHeaderKey(name)] = vs
				}
			}
			x.exit = e
			return nil, errExit
		},
	})
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err) // a decoded message always re-encodes
	}
	return b
}

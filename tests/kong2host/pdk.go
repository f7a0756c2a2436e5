package kong2host

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// luaFunc is a Kong 2.8 PDK function as mp_rpc.lua calls it: the Args
// unpacked, its first result sent back. A non-nil error that is not a
// luaError is the Lua "return nil, err" form, answered with StepError.
type luaFunc func(x *reqState, args []any) (any, error)

// callPDK is call_pdk_method: an unknown method is logged and answered
// nil, as Kong 2.8 does.
func (x *reqState) callPDK(method string, args []any) (any, error) {
	x.calls[method]++
	f, ok := luaFuncs[method]
	if !ok {
		x.log("err", "could not find pdk method: "+method)
		return nil, nil
	}
	for i, a := range args {
		args[i] = luaValue(a)
	}
	return f(x, args)
}

// luaValue drops the nil entries of maps: a Lua table cannot hold nil.
func luaValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
			} else {
				t[k] = luaValue(e)
			}
		}
	case []any:
		for i, e := range t {
			t[i] = luaValue(e)
		}
	}
	return v
}

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

func strArg(args []any, i int, what string) (string, error) {
	s, ok := arg(args, i).(string)
	if !ok {
		return "", raise("%s must be a string", what)
	}
	return s, nil
}

// headerValues is validate_headers + normalize_multi_header for one
// value: a string, number or boolean, or an array of strings; "" is sent
// as " ". ok is false for a value Kong raises on.
func headerValues(v any) ([]string, bool) {
	fix := func(s string) string {
		if s == "" {
			return " "
		}
		return s
	}
	switch t := v.(type) {
	case string:
		return []string{fix(t)}, true
	case bool:
		return []string{strconv.FormatBool(t)}, true
	case int64, uint64, float64:
		return []string{strconv.FormatInt(toInt(t), 10)}, true
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, fix(s))
		}
		return out, true
	}
	return nil, false
}

func headerKey(name string) string { return strings.ReplaceAll(strings.ToLower(name), "_", "-") }

func consumerTable(c konghost.Consumer) map[string]any {
	return map[string]any{"id": c.ID, "username": c.Username, "custom_id": c.CustomID, "created_at": 1700000000}
}

var luaFuncs = map[string]luaFunc{
	"kong.request.get_scheme":    func(x *reqState, _ []any) (any, error) { return x.req.Scheme, nil },
	"kong.request.get_host":      func(x *reqState, _ []any) (any, error) { return x.req.Host, nil },
	"kong.request.get_method":    func(x *reqState, _ []any) (any, error) { return x.req.Method, nil },
	"kong.request.get_raw_query": func(x *reqState, _ []any) (any, error) { return x.req.RawQuery, nil },
	// get_path in 2.8 is request_uri up to the "?", not normalized.
	"kong.request.get_path": func(x *reqState, _ []any) (any, error) { return x.req.Path, nil },
	// get_header: the first value, nil when absent.
	"kong.request.get_header": func(x *reqState, args []any) (any, error) {
		name, err := strArg(args, 0, "header name")
		if err != nil {
			return nil, err
		}
		if vs, ok := x.header[headerKey(name)]; ok {
			return vs[0], nil
		}
		return nil, nil
	},
	// get_headers (max 1..1000, default 100), every value an array after
	// mp_rpc.lua's fix_mmap.
	"kong.request.get_headers": func(x *reqState, args []any) (any, error) {
		max := int64(100)
		if a := arg(args, 0); a != nil {
			if max = toInt(a); max < 1 || max > 1000 {
				return nil, raise("max_headers must be between 1 and 1000")
			}
		}
		out := map[string]any{}
		for name, vs := range x.header {
			if int64(len(out)) == max {
				break
			}
			list := make([]any, len(vs))
			for i, v := range vs {
				list[i] = v
			}
			out[name] = list
		}
		return out, nil
	},
	// get_raw_body in 2.8: a body nginx buffered to a file is an error.
	"kong.request.get_raw_body": func(x *reqState, _ []any) (any, error) {
		if len(x.req.Body) > x.h.opts.ClientBodyBufferSize {
			return nil, errors.New("request body did not fit into client body buffer, consider raising 'client_body_buffer_size'")
		}
		return string(x.req.Body), nil
	},
	"kong.client.get_ip": func(x *reqState, _ []any) (any, error) { return x.req.ClientIP, nil },
	// With real_ip_recursive off (Kong's default) nginx takes the last
	// X-Forwarded-For address, and only from a trusted peer.
	"kong.client.get_forwarded_ip": func(x *reqState, _ []any) (any, error) {
		if v, ok := x.header["x-forwarded-for"]; ok && len(v) > 0 && x.h.isTrusted(x.req.ClientIP) {
			parts := strings.Split(v[len(v)-1], ",")
			return strings.TrimSpace(parts[len(parts)-1]), nil
		}
		return x.req.ClientIP, nil
	},
	"kong.ip.is_trusted": func(x *reqState, args []any) (any, error) {
		ip, err := strArg(args, 0, "address")
		if err != nil {
			return nil, err
		}
		return x.h.isTrusted(ip), nil
	},
	"kong.client.get_credential": func(x *reqState, _ []any) (any, error) {
		if x.credential == nil {
			return nil, nil
		}
		return map[string]any{"id": x.credential.ID, "consumer_id": x.credential.ConsumerID}, nil
	},
	"kong.client.get_consumer": func(x *reqState, _ []any) (any, error) {
		if x.consumer == nil {
			return nil, nil
		}
		return consumerTable(*x.consumer), nil
	},
	// load_consumer(id, by_username): an id that is not a UUID raises
	// unless by_username; the id is tried first, then the username.
	"kong.client.load_consumer": func(x *reqState, args []any) (any, error) {
		ref, err := strArg(args, 0, "consumer_id")
		if err != nil {
			return nil, err
		}
		byName, _ := arg(args, 1).(bool)
		uuid := konghost.IsUUID(ref)
		if !uuid && !byName {
			return nil, raise("cannot load a consumer with an id that is not a uuid")
		}
		if c, ok := x.h.consumer(func(c konghost.Consumer) bool { return uuid && strings.EqualFold(c.ID, ref) }); ok {
			return consumerTable(c), nil
		}
		if c, ok := x.h.consumer(func(c konghost.Consumer) bool { return byName && c.Username == ref }); ok {
			return consumerTable(c), nil
		}
		return nil, nil
	},
	"kong.client.authenticate": func(x *reqState, args []any) (any, error) {
		c, _ := arg(args, 0).(map[string]any)
		cred, _ := arg(args, 1).(map[string]any)
		if c == nil && cred == nil {
			return nil, raise("either credential or consumer must be provided")
		}
		x.consumer, x.credential = nil, nil
		s := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
		if c != nil {
			x.consumer = &konghost.Consumer{ID: s(c, "id"), Username: s(c, "username"), CustomID: s(c, "custom_id")}
		}
		if cred != nil {
			x.credential = &konghost.Credential{ID: s(cred, "id"), ConsumerID: s(cred, "consumer_id")}
		}
		return nil, nil
	},
	"kong.router.get_service": func(x *reqState, _ []any) (any, error) {
		return map[string]any{"id": x.svc.ServiceID, "name": x.svc.Name, "protocol": "http", "host": "upstream.test", "port": 80}, nil
	},
	"kong.router.get_route": func(x *reqState, _ []any) (any, error) {
		return map[string]any{"id": x.svc.RouteID, "name": x.svc.Name, "service": map[string]any{"id": x.svc.ServiceID}}, nil
	},
	"kong.node.get_id": func(x *reqState, _ []any) (any, error) { return x.h.info.Name + "-node", nil },
	"kong.service.request.set_header": func(x *reqState, args []any) (any, error) {
		name, err := strArg(args, 0, "header name")
		if err != nil {
			return nil, err
		}
		vs, ok := headerValues(arg(args, 1))
		if !ok || len(vs) != 1 {
			return nil, raise("invalid header value for %q", name)
		}
		x.up.Header[strings.ToLower(name)] = vs
		return nil, nil
	},
	"kong.service.request.clear_header": func(x *reqState, args []any) (any, error) {
		name, err := strArg(args, 0, "header name")
		if err != nil {
			return nil, err
		}
		delete(x.up.Header, strings.ToLower(name))
		return nil, nil
	},
	// set_headers: an array sets every value; an empty array clears the
	// header (ngx.req.set_header with {}).
	"kong.service.request.set_headers": func(x *reqState, args []any) (any, error) {
		m, ok := arg(args, 0).(map[string]any)
		if !ok {
			return nil, raise("headers must be a table")
		}
		set := map[string][]string{}
		for name, v := range m {
			vs, ok := headerValues(v)
			if !ok {
				return nil, raise("invalid header value for %q", name)
			}
			set[strings.ToLower(name)] = vs
		}
		for name, vs := range set {
			if len(vs) == 0 {
				delete(x.up.Header, name)
			} else {
				x.up.Header[name] = vs
			}
		}
		return nil, nil
	},
	"kong.service.request.set_raw_query": func(x *reqState, args []any) (any, error) {
		q, err := strArg(args, 0, "query")
		if err != nil {
			return nil, err
		}
		x.up.RawQuery = q
		return nil, nil
	},
	"kong.service.request.set_raw_body": func(x *reqState, args []any) (any, error) {
		b, err := strArg(args, 0, "body")
		if err != nil {
			return nil, err
		}
		x.up.Body = []byte(b)
		x.up.Header["content-length"] = []string{strconv.Itoa(len(b))}
		return nil, nil
	},
	// exit(status, body, headers): recorded, never answered.
	"kong.response.exit": func(x *reqState, args []any) (any, error) {
		status := toInt(arg(args, 0))
		if status < 100 || status > 599 {
			return nil, raise("code must be a number between 100 and 599")
		}
		e := &konghost.Exit{Status: int(status), Header: http.Header{}}
		switch b := arg(args, 1).(type) {
		case string:
			e.Body = []byte(b)
		case nil:
		default:
			return nil, raise("body must be a nil, string or table")
		}
		if hs, ok := arg(args, 2).(map[string]any); ok {
			for name, v := range hs {
				vs, ok := headerValues(v)
				if !ok {
					return nil, raise("invalid header value for %q", name)
				}
				e.Header[http.CanonicalHeaderKey(name)] = vs
			}
		}
		x.exit = e
		return nil, errExit
	},
}

func init() {
	for _, level := range []string{"alert", "crit", "err", "warn", "notice", "info", "debug"} {
		// kong.log.<level>(...) concatenates its arguments' tostring()s.
		luaFuncs["kong.log."+level] = func(x *reqState, args []any) (any, error) {
			var b strings.Builder
			for _, a := range args {
				switch v := a.(type) {
				case string:
					b.WriteString(v)
				case nil:
					b.WriteString("nil")
				case bool:
					b.WriteString(strconv.FormatBool(v))
				case int64, uint64, float64:
					b.WriteString(strconv.FormatInt(toInt(v), 10))
				default:
					b.WriteString("table")
				}
			}
			x.log(level, b.String())
			return nil, nil
		}
	}
}

package kong2host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// errExit ends the event after kong.response.exit: Kong yields the
// plugin's coroutine and never answers the step.
var errExit = errors.New("kong2host: kong.response.exit")

// luaError is an error raised by a Kong PDK function. mp_rpc.lua calls
// the function without pcall, so the access phase fails with 500.
type luaError struct{ msg string }

func (e *luaError) Error() string { return e.msg }

func raise(format string, args ...any) error { return &luaError{fmt.Sprintf(format, args...)} }

// Do runs the access phase of a request on service as Kong 2.8 does and
// reports the outcome. The error is for host misuse only (no such service).
func (h *Host) Do(ctx context.Context, service string, req *konghost.Request) (*konghost.Result, error) {
	s, conf, ok := h.snapshot(service)
	if !ok {
		return nil, fmt.Errorf("kong2host: no service %q", service)
	}
	x := newReqState(h, s, req)
	res := &konghost.Result{Calls: x.calls}
	if h.info.HasPhase("access") {
		res.Failure = h.handleEvent(ctx, x, s, conf)
	}
	res.Consumer, res.Credential, res.Logs = x.consumer, x.credential, x.logs
	for _, n := range x.calls {
		res.RoundTrips += n
	}
	switch {
	case res.Failure != nil:
		res.Status = http.StatusInternalServerError
	case x.exit != nil:
		res.Exit, res.Status = x.exit, x.exit.Status
	default:
		res.Proxied, res.Upstream, res.Status = true, x.up, http.StatusOK
	}
	return res, nil
}

// handleEvent is Rpc:handle_event (mp_rpc.lua): run the event; an error
// naming a lost instance forgets it and tries again; any other error is
// only logged, and Kong goes on with the request. The returned error is a
// failure Kong answers with 500 (a raised Lua error).
func (h *Host) handleEvent(ctx context.Context, x *reqState, s *service, conf map[string]any) error {
	for attempt := 1; ; attempt++ {
		id, err := h.instanceID(ctx, s, conf)
		if err != nil {
			return err
		}
		err = h.bridgeLoop(ctx, x, id, "access")
		var le *luaError
		switch {
		case err == nil || errors.Is(err, errExit):
			return nil
		case errors.As(err, &le):
			return err
		}
		x.log("err", err.Error())
		if !isNoInstance(err) || attempt == h.opts.Tries {
			return nil
		}
		h.reset(conf["__key__"].(string), err)
	}
}

// stepMethods is mp_rpc.lua's by_pdk_method: the typed Step for results
// that go-pluginserver must decode into a go-pdk struct.
var stepMethods = map[string]string{
	"kong.client.get_credential":        "plugin.StepCredential",
	"kong.client.load_consumer":         "plugin.StepConsumer",
	"kong.client.get_consumer":          "plugin.StepConsumer",
	"kong.client.authenticate":          "plugin.StepCredential",
	"kong.node.get_memory_stats":        "plugin.StepMemoryStats",
	"kong.router.get_route":             "plugin.StepRoute",
	"kong.router.get_service":           "plugin.StepService",
	"kong.request.get_query":            "plugin.StepMultiMap",
	"kong.request.get_headers":          "plugin.StepMultiMap",
	"kong.response.get_headers":         "plugin.StepMultiMap",
	"kong.service.response.get_headers": "plugin.StepMultiMap",
}

// bridgeLoop is mp_rpc.lua's bridge_loop: HandleEvent, then one step per
// PDK call until the server answers "ret".
func (h *Host) bridgeLoop(ctx context.Context, x *reqState, id int64, phase string) error {
	out, err := h.rpc.call(ctx, "plugin.HandleEvent", map[string]any{"InstanceId": id, "EventName": phase})
	if err != nil {
		return err
	}
	for {
		step, _ := out.(map[string]any)
		if step == nil {
			return fmt.Errorf("kong2host: step answer %v", out)
		}
		data := step["Data"]
		if data == "ret" {
			return nil
		}
		call, _ := data.(map[string]any)
		method, _ := call["Method"].(string)
		args, _ := call["Args"].([]any)
		res, perr := x.callPDK(method, args)
		if errors.Is(perr, errExit) {
			return perr
		}
		var le *luaError
		if errors.As(perr, &le) {
			return perr
		}
		stepMethod, arg := "plugin.Step", res
		switch {
		case res == nil && perr != nil:
			stepMethod, arg = "plugin.StepError", perr.Error()
		case stepMethods[method] != "":
			stepMethod = stepMethods[method]
		}
		out, err = h.rpc.call(ctx, stepMethod, map[string]any{"EventId": step["EventId"], "Data": arg})
		if err != nil {
			return err
		}
	}
}

// reqState is one request inside Kong: the client request, the upstream
// request the plugin edits, and what the plugin recorded.
type reqState struct {
	h          *Host
	svc        *service
	req        konghost.Request
	header     map[string][]string // lower-case names
	up         konghost.Upstream
	exit       *konghost.Exit
	consumer   *konghost.Consumer
	credential *konghost.Credential
	calls      map[string]int
	logs       []konghost.LogEntry
}

func newReqState(h *Host, s *service, r *konghost.Request) *reqState {
	x := &reqState{h: h, svc: s, req: *r, header: map[string][]string{}, calls: map[string]int{}}
	if x.req.Method == "" {
		x.req.Method = http.MethodGet
	}
	if x.req.Scheme == "" {
		x.req.Scheme = "http"
	}
	if x.req.Path == "" {
		x.req.Path = "/"
	}
	if x.req.ClientIP == "" {
		x.req.ClientIP = "127.0.0.1"
	}
	if x.req.Host != "" {
		x.header["host"] = []string{x.req.Host}
	}
	for k, vs := range r.Header {
		if !strings.EqualFold(k, "host") {
			x.header[strings.ToLower(k)] = append(x.header[strings.ToLower(k)], vs...)
		}
	}
	x.up = konghost.Upstream{Method: x.req.Method, Path: x.req.Path, RawQuery: x.req.RawQuery,
		Header: maps.Clone(x.header), Body: append([]byte(nil), x.req.Body...)}
	return x
}

func (x *reqState) log(level, msg string) {
	e := konghost.LogEntry{Level: level, Message: msg}
	x.logs = append(x.logs, e)
	x.h.log(e)
}

// jsonEncode is cjson.encode of the conf table.
func jsonEncode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

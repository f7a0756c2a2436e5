package konghost

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
)

// reqState is one request inside Kong: the client request (read-only), the
// upstream request the plugin edits, and what the plugin recorded.
type reqState struct {
	h          *Host
	svc        Service
	req        *Request
	header     map[string][]string // client headers, lower-case names, in order of names
	names      []string            // header names in arrival order
	path       string              // normalized path
	up         Upstream
	resp       http.Header
	status     int
	exit       *Exit
	consumer   *Consumer
	credential *Credential
	shared     map[string]any
	calls      map[string]int
	logs       []LogEntry
}

// Do runs the access phase for req on service, as Kong does for a proxied
// request, and reports the outcome. The error is for host misuse only (no
// such service); everything Kong would turn into a response is in Result.
func (h *Host) Do(ctx context.Context, service string, req *Request) (*Result, error) {
	svc, conf, ok := h.snapshot(service)
	if !ok {
		return nil, fmt.Errorf("konghost: no service %q", service)
	}
	x := newReqState(h, svc, req)
	res := &Result{Calls: x.calls}
	// Kong builds a handler only for the phases the dump lists (§2).
	if h.info.HasPhase("access") {
		res.InstanceID, res.Retries, res.Failure = h.handleEvent(ctx, x, svc, conf, "access")
	}
	h.finish(x, res)
	return res, nil
}

// handleEvent is Rpc:handle_event (pb_rpc.lua@3.9.3 L360-386): get the
// instance, run the event; on an error containing "closed" reset all
// instances and try again with a fresh one, bounded here by Options.Tries.
// Any other error is logged and answered with 500 (Kong 3.8+, §5).
func (h *Host) handleEvent(ctx context.Context, x *reqState, svc Service, conf map[string]any, phase string) (id int32, retries int, err error) {
	for attempt := 1; ; attempt++ {
		id, err = h.instanceID(ctx, svc, conf)
		if err != nil {
			// get_instance_id raises: the request errors, no retry (§7).
			return id, retries, err
		}
		err = h.rpc.handleEvent(ctx, id, phase, x.serve)
		if err == nil || errors.Is(err, errExit) {
			return id, retries, nil
		}
		var le *luaError
		if connClosed(err) && !errors.As(err, &le) && attempt < h.opts.Tries {
			h.warn("%s: %v (instance %d); resetting instances and retrying", h.info.Name, err, id)
			h.reset()
			retries++
			continue
		}
		return id, retries, fmt.Errorf("pluginserver error: %w", err)
	}
}

func newReqState(h *Host, svc Service, r *Request) *reqState {
	req := *r
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if req.Scheme == "" {
		req.Scheme = "http"
	}
	if req.Path == "" {
		req.Path = "/"
	}
	if req.ClientIP == "" {
		req.ClientIP = "127.0.0.1"
	}
	if req.ClientPort == 0 {
		req.ClientPort = 40000
	}
	if req.Port == 0 {
		req.Port = map[string]int{"http": 80, "https": 443}[req.Scheme]
	}
	if req.HTTPVersion == 0 {
		req.HTTPVersion = 1.1
	}
	x := &reqState{
		h: h, svc: svc, req: &req,
		header: map[string][]string{},
		resp:   http.Header{},
		shared: map[string]any{},
		calls:  map[string]int{},
	}
	if req.Host != "" {
		x.addClientHeader("host", req.Host)
	}
	for k, vs := range req.Header {
		if strings.EqualFold(k, "host") {
			continue
		}
		for _, v := range vs {
			x.addClientHeader(strings.ToLower(k), v)
		}
	}
	x.path = normalizePath(req.Path)
	x.up = Upstream{
		Method: req.Method, Path: x.path, RawQuery: req.RawQuery,
		Header: maps.Clone(x.header), Body: append([]byte(nil), req.Body...),
	}
	for k, v := range x.up.Header {
		x.up.Header[k] = append([]string(nil), v...)
	}
	return x
}

func (x *reqState) addClientHeader(name, v string) {
	if _, ok := x.header[name]; !ok {
		x.names = append(x.names, name)
	}
	x.header[name] = append(x.header[name], v)
}

// finish fills the Result and folds the request into the host's totals.
func (h *Host) finish(x *reqState, res *Result) {
	res.ResponseHeader = x.resp
	res.Consumer, res.Credential = x.consumer, x.credential
	res.Logs = x.logs
	for _, n := range x.calls {
		res.RoundTrips += n
	}
	switch {
	case res.Failure != nil:
		res.Status = http.StatusInternalServerError
		res.Logs = append(res.Logs, LogEntry{Level: "err", Message: res.Failure.Error()})
	case x.exit != nil:
		res.Exit = x.exit
		res.Status = x.exit.Status
	default:
		res.Proxied = true
		x.addForwardedHeaders()
		res.Upstream = x.up
		res.Status = http.StatusOK
		if x.status != 0 {
			res.Status = x.status
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Requests++
	h.stats.Retries += res.Retries
	for m, n := range x.calls {
		h.stats.Calls[m] += n
		h.stats.RoundTrips += n
	}
	h.logs = append(h.logs, res.Logs...)
}

// addForwardedHeaders sets what Kong's nginx template sends upstream after
// the access phase, overriding plugin edits of the same names:
// X-Real-IP, X-Forwarded-For (the client's list only from a trusted peer),
// X-Forwarded-Proto/Host/Port (trusted values or Kong's own).
func (x *reqState) addForwardedHeaders() {
	r, h := x.req, x.up.Header
	xff := r.ClientIP
	if v, ok := x.header["x-forwarded-for"]; ok && x.h.isTrusted(r.ClientIP) {
		xff = strings.Join(v, ", ") + ", " + r.ClientIP
	}
	h["x-real-ip"] = []string{r.ClientIP}
	h["x-forwarded-for"] = []string{xff}
	h["x-forwarded-proto"] = []string{strings.ToLower(x.forwarded("x-forwarded-proto", r.Scheme))}
	h["x-forwarded-host"] = []string{strings.ToLower(x.forwarded("x-forwarded-host", r.Host))}
	h["x-forwarded-port"] = []string{x.forwarded("x-forwarded-port", strconv.Itoa(r.Port))}
}

package envoy

import (
	"net/http"
	"net/url"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// The two statuses every answer carries; they are never modified.
var (
	statusOK = &status.Status{Code: int32(code.Code_OK)}
	deniedBy = map[int]*status.Status{
		http.StatusUnauthorized:        {Code: int32(code.Code_UNAUTHENTICATED)},
		http.StatusForbidden:           {Code: int32(code.Code_PERMISSION_DENIED)},
		http.StatusInternalServerError: {Code: int32(code.Code_INTERNAL)},
		http.StatusServiceUnavailable:  {Code: int32(code.Code_UNAVAILABLE)},
	}
)

// grpcStatus is the CheckResponse status of a denial with HTTP status s.
// Envoy denies on every status but OK and answers the client with
// denied_response whatever the code; the code is for Envoy's logs and
// traces: UNAUTHENTICATED for a missing or bad token (401 and other 4xx),
// PERMISSION_DENIED for 403, UNAVAILABLE when the store is (503), INTERNAL
// for other failures of ours.
func grpcStatus(s int) *status.Status {
	if st, ok := deniedBy[s]; ok {
		return st
	}
	if s >= 500 {
		return deniedBy[http.StatusInternalServerError]
	}
	return deniedBy[http.StatusUnauthorized]
}

// okAnswer is everything an allowed answer points into, allocated at
// once: this runs on every allowed request. The engine sets at most the
// seven identity headers and removes at most six headers (the consumer's
// id is always set); with the allocator's header the whole fits its
// 1536-byte size class. More would still work: the slices would grow.
type okAnswer struct {
	resp   authv3.CheckResponse
	oneof  authv3.CheckResponse_OkResponse
	ok     authv3.OkHttpResponse
	ptrs   [7]*corev3.HeaderValueOption
	opts   [7]corev3.HeaderValueOption
	vals   [7]corev3.HeaderValue
	remove [6]string
}

// checkResponse turns the engine's decision into Envoy's answer.
//
// Allowed: OK, with ok_response setting each identity header that has a
// value (OVERWRITE_IF_EXISTS_OR_ADD, so a copy the client sent is
// replaced) and removing the others and, under hide_credentials, the
// credential header (headers_to_remove), so that no spoofed identity
// header and no hidden credential reaches the upstream. A token hidden in
// the query is removed with query_parameters_to_remove.
//
// Denied: the engine's answer as denied_response (status, headers among
// which WWW-Authenticate and Content-Type, JSON body), so that the client
// sees what a Kong user sees. A store outage is a denial too (503 with
// Retry-After), never error_response: Envoy would apply failure_mode_allow
// to that.
func checkResponse(d *plugin.Decision, q *request) *authv3.CheckResponse {
	if a := d.Answer; a != nil {
		return denied(a)
	}
	a := new(okAnswer)
	a.resp.Status, a.resp.HttpResponse, a.oneof.OkResponse = statusOK, &a.oneof, &a.ok
	ok := &a.ok
	ok.Headers, ok.HeadersToRemove = a.ptrs[:0], a.remove[:0]
	opts, vals := a.opts[:0], a.vals[:0]
	if n := setCount(d.Upstream); n > len(a.opts) {
		// Never grown below: the pointers taken must stay valid.
		opts, vals = make([]corev3.HeaderValueOption, 0, n), make([]corev3.HeaderValue, 0, n)
	}
	for k, v := range d.Upstream {
		if len(v) == 0 {
			ok.HeadersToRemove = append(ok.HeadersToRemove, httpfront.LowerName(k))
			continue
		}
		// Filled in place: copying a whole message into the block would
		// cost a write barrier for each of its pointer fields.
		vals, opts = vals[:len(vals)+1], opts[:len(opts)+1]
		hv, o := &vals[len(vals)-1], &opts[len(opts)-1]
		hv.Key, hv.Value = httpfront.LowerName(k), joined(v)
		o.Header, o.AppendAction = hv, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		ok.Headers = append(ok.Headers, o)
	}
	if d.UpstreamQuery != nil {
		ok.QueryParametersToRemove = removedParams(q.rawQuery, *d.UpstreamQuery)
	}
	return &a.resp
}

// setCount is how many headers h sets (rather than removes).
func setCount(h map[string][]string) int {
	n := 0
	for _, v := range h {
		if len(v) > 0 {
			n++
		}
	}
	return n
}

// denied is a CheckResponse that answers the client with a.
func denied(a *plugin.Response) *authv3.CheckResponse {
	dr := &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.Status)},
		Headers: make([]*corev3.HeaderValueOption, 0, len(a.Header)),
		Body:    string(a.Body),
	}
	for k, v := range a.Header {
		if len(v) > 0 {
			dr.Headers = append(dr.Headers, headerOption(httpfront.LowerName(k), v))
		}
	}
	return &authv3.CheckResponse{Status: grpcStatus(a.Status),
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: dr}}
}

// headerOption sets header k to v, replacing any value it had (the
// deprecated append field stays unset).
func headerOption(k string, v []string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: joined(v)},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
}

// joined is a header's values as one value (RFC 9110 §5.3).
func joined(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	return strings.Join(v, ", ")
}

// removedParams names the query parameters of before that after no longer
// has: what hide_credentials stripped.
func removedParams(before, after string) []string {
	b, _ := url.ParseQuery(before)
	a, _ := url.ParseQuery(after)
	var out []string
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

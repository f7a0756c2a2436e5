package envoy

import (
	"context"
	"sync"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// ServiceKey is the context_extensions key that names the SERVICE a
// request is for; Envoy sets it per route (typed_per_filter_config,
// ExtAuthzPerRoute check_settings.context_extensions).
const ServiceKey = "service"

// Server is Envoy's Authorization service over the engine: every Check is
// a bearer validation on the named service (plugin.Config.Authorize).
type Server struct {
	authv3.UnimplementedAuthorizationServer
	Services map[string]*plugin.Config // by SERVICE name
	// DefaultService is the SERVICE of a check that names none: Envoy
	// Gateway's and Istio's ext_authz providers set no context_extensions.
	// "" = such a check is denied.
	DefaultService string
	Consumers      plugin.Consumers
	Trusted        Trusted
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// Check answers every request with a decision and a nil error: a gRPC
// error is not a denial for Envoy but a failed check, which
// failure_mode_allow would let through. A request naming no service, or
// one we do not serve, is denied with 500 and a body that says which.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	attrs := req.GetAttributes()
	name, named := attrs.GetContextExtensions()[ServiceKey]
	if !named && s.DefaultService != "" {
		name, named = s.DefaultService, true
	}
	c, known := s.Services[name]
	switch {
	case !named:
		return failure(`no service: the route must set context_extensions "service" (typed_per_filter_config of envoy.filters.http.ext_authz), or serve -grpc-default-service name one`), nil
	case !known:
		return failure("unknown service " + name + ` in context_extensions "service"`), nil
	case attrs.GetRequest().GetHttp() == nil:
		return failure("the check request has no attributes.request.http"), nil
	}
	start := c.Start()
	q := requests.Get().(*request)
	q.reset(attrs, s.Trusted)
	d := c.Authorize(ctx, q, s.Consumers)
	// A token checked before with the same upstream changes gets the
	// answer built then: gRPC only reads a response it sends, so one
	// CheckResponse serves every Check of the token, and this path
	// allocates nothing. It lives and dies with the token's cache entry.
	resp, _ := d.Remembered(plugin.MemoExtAuthzGRPC).(*authv3.CheckResponse)
	if resp == nil {
		resp = checkResponse(&d, q)
		if d.Allowed() {
			d.Remember(plugin.MemoExtAuthzGRPC, resp)
		}
	}
	c.Observe(plugin.FrontExtAuthzGRPC, &d, start)
	d.Release()
	// Nothing keeps q past here: the decision and the answer hold
	// strings of the CheckRequest, never q.
	*q = request{}
	requests.Put(q)
	return resp, nil
}

// requests are reused request wrappers: one allocation less per Check.
var requests = sync.Pool{New: func() any { return new(request) }}

// failure denies with 500 and Kong's {"message": …} body.
func failure(msg string) *authv3.CheckResponse {
	a := plugin.JSONResponse(500, map[string]string{"message": msg})
	return denied(&a)
}

package httpfront

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
)

// Service is one configured service of serve mode: its plugin config and
// what every request to it needs.
type Service struct {
	Config    *plugin.Config
	Consumers plugin.Consumers
	Trusted   Trusted
	MaxBody   int64 // token-request body cap, as the engine's
	// AnswerWithin bounds the client endpoints' work from the request's
	// arrival (0: no bound of ours). serve sets it a little under its
	// write timeout, past which net/http closes the connection without
	// an answer: a login backend or store slower than that is then the
	// engine's 503, not an empty reply.
	AnswerWithin time.Duration
}

// answerCtx is r's context bounded by AnswerWithin.
func (s *Service) answerCtx(r *http.Request) (context.Context, context.CancelFunc) {
	if s.AnswerWithin <= 0 {
		return r.Context(), func() {}
	}
	return context.WithTimeout(r.Context(), s.AnswerWithin)
}

// request wraps r as the original request itself.
func (s *Service) request(r *http.Request) *request {
	return &request{r: r, method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, maxBody: s.MaxBody, trusted: s.Trusted}
}

// Token serves POST …/oauth2/token (RFC 6749 §3.2).
func (s *Service) Token(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, cancel := s.answerCtx(r)
	defer cancel()
	if s.refuseQueryCredentials(w, r, "token", queryCredentials, start) {
		return
	}
	q := s.request(r)
	if !s.readBody(w, q, "token", start) {
		return
	}
	s.answer(w, s.Config.Token(ctx, q, s.Consumers), start)
}

// Revoke serves POST …/oauth2/revoke (RFC 7009).
func (s *Service) Revoke(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, cancel := s.answerCtx(r)
	defer cancel()
	if s.refuseQueryCredentials(w, r, "revoke", presentedCredentials, start) {
		return
	}
	q := s.request(r)
	if !s.readBody(w, q, "revoke", start) {
		return
	}
	s.answer(w, s.Config.Revoke(ctx, q, s.Consumers), start)
}

// Introspect serves POST …/oauth2/introspect (RFC 7662).
func (s *Service) Introspect(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx, cancel := s.answerCtx(r)
	defer cancel()
	if s.refuseQueryCredentials(w, r, "introspect", presentedCredentials, start) {
		return
	}
	q := s.request(r)
	if !s.readBody(w, q, "introspect", start) {
		return
	}
	s.answer(w, s.Config.Introspect(ctx, q, s.Consumers), start)
}

// answer writes a decision of an endpoint that always answers, and
// reports it (the token front) once written.
func (s *Service) answer(w http.ResponseWriter, d plugin.Decision, start time.Time) {
	defer d.Release()
	if d.Answer == nil {
		d.Outcome = plugin.OutcomeError
		s.Config.Logger().Error("an endpoint let a request through instead of answering it", "outcome", d.Outcome)
		u := plugin.Unexpected()
		WriteResponse(w, &u)
	} else {
		WriteResponse(w, d.Answer)
	}
	s.Config.Observe(plugin.FrontToken, &d, start)
}

// WriteResponse writes an engine answer.
func WriteResponse(w http.ResponseWriter, a *plugin.Response) {
	h := w.Header()
	for k, v := range a.Header {
		h[http.CanonicalHeaderKey(k)] = v
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// ForwardAuth serves forward auth for nginx auth_request, Traefik
// ForwardAuth and Caddy forward_auth: the proxy asks with the client's
// headers, and names the original request in X-Forwarded-Method and
// X-Forwarded-Uri (Traefik, Caddy) or X-Original-Method and X-Original-URI
// (nginx, as our example configures it). A token is read from the
// configured header or from access_token in the original URI's query; a
// subrequest has no body.
//
// Allowed: 200 with the identity headers that have a value; the proxy
// copies them to the upstream request, replacing the client's (see the
// README for each proxy). Denied: the engine's answer, as Kong would give
// it: 401 with WWW-Authenticate, 503 when the store is down.
func (s *Service) ForwardAuth(w http.ResponseWriter, r *http.Request) {
	start := s.Config.Start()
	// The names are in canonical form: looked up as they are, with no
	// canonicalisation per request (http.Header.Get's).
	method := firstOf(r.Header, "X-Forwarded-Method", "X-Original-Method")
	if method == "" {
		method = r.Method
	}
	uri := firstOf(r.Header, "X-Forwarded-Uri", "X-Original-Uri")
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	path, rawQuery, _ := strings.Cut(uri, "?")
	q := requests.Get().(*request)
	*q = request{r: r, method: upper(method), path: path, rawQuery: rawQuery, body: []byte{}, trusted: s.Trusted}
	s.authorize(w, r, q, plugin.FrontForwardAuth, start)
}

// upper is strings.ToUpper without its scan for non-ASCII when m is
// already an upper-case method, as proxies send it.
func upper(m string) string {
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return strings.ToUpper(m)
		}
	}
	return m
}

// requests are reused request wrappers: one allocation less per check.
var requests = sync.Pool{New: func() any { return new(request) }}

// ExtAuthz serves Envoy's HTTP ext_authz with path_prefix: the original
// method and query come as the request's own, and path is what follows
// the prefix, as the client spelled it. Envoy lets the request through
// only on 200, and removes the upstream headers named in
// x-envoy-auth-headers-to-remove: that is how identity headers a client
// sent, and the credential with hide_credentials, are dropped.
func (s *Service) ExtAuthz(w http.ResponseWriter, r *http.Request, path string) {
	start := s.Config.Start()
	if path == "" {
		path = "/"
	}
	q := requests.Get().(*request)
	*q = request{r: r, method: r.Method, path: path, rawQuery: r.URL.RawQuery, body: []byte{}, trusted: s.Trusted}
	s.authorize(w, r, q, plugin.FrontExtAuthzHTTP, start)
}

// authorize validates q and answers for front; the decision is reported
// once written. q goes back to the pool: nothing keeps it past here.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request, q *request, front string, start time.Time) {
	d := s.Config.Authorize(r.Context(), q, s.Consumers)
	*q = request{}
	requests.Put(q)
	if d.Answer != nil {
		WriteResponse(w, d.Answer)
	} else {
		slot := plugin.MemoForwardAuth
		if front == plugin.FrontExtAuthzHTTP {
			slot = plugin.MemoExtAuthzHTTP
		}
		// A token seen before with the same upstream changes gets the
		// header list built then (upstreamHeaders), kept with its cache
		// entry.
		u, _ := d.Remembered(slot).(*upstreamHeaders)
		if u == nil {
			u = newUpstreamHeaders(d.Upstream, slot == plugin.MemoExtAuthzHTTP)
			d.Remember(slot, u)
		}
		u.write(w.Header())
		w.WriteHeader(http.StatusOK)
	}
	s.Config.Observe(front, &d, start)
	d.Release()
}

// upstreamHeaders are the headers of an allowed answer, as written: the
// names canonical, and for Envoy the list of those to remove.
type upstreamHeaders struct {
	set    []headerValues
	remove []string // {"x-a, x-b"} for X-Envoy-Auth-Headers-To-Remove; nil = none
}

type headerValues struct {
	name   string
	values []string
}

// newUpstreamHeaders turns Decision.Upstream into upstreamHeaders. Only
// Envoy is told which headers to remove (nginx, Traefik and Caddy copy
// the ones we set), so only Envoy pays for the list.
func newUpstreamHeaders(up map[string][]string, envoy bool) *upstreamHeaders {
	u := &upstreamHeaders{set: make([]headerValues, 0, len(up))}
	var remove []string
	for k, v := range up {
		if len(v) == 0 {
			if envoy {
				remove = append(remove, LowerName(k))
			}
			continue
		}
		u.set = append(u.set, headerValues{canonical(k), v})
	}
	if len(remove) > 0 {
		u.remove = []string{strings.Join(remove, ", ")}
	}
	return u
}

// write sets the headers in h. The value slices are shared between
// requests: net/http only reads them.
func (u *upstreamHeaders) write(h http.Header) {
	for _, s := range u.set {
		h[s.name] = s.values
	}
	if u.remove != nil {
		h["X-Envoy-Auth-Headers-To-Remove"] = u.remove
	}
}

// firstOf is the first of the named headers (canonical names) that is
// set.
func firstOf(h http.Header, a, b string) string {
	if v := h[a]; len(v) > 0 && v[0] != "" {
		return v[0]
	}
	if v := h[b]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// LowerName is an upstream header name in lower case (as Envoy and HTTP/2
// spell it); those the engine sets or removes on an allowed request cost
// no allocation.
func LowerName(h string) string {
	switch h {
	case "X-Consumer-ID":
		return "x-consumer-id"
	case "X-Consumer-Custom-ID":
		return "x-consumer-custom-id"
	case "X-Consumer-Username":
		return "x-consumer-username"
	case "X-Credential-Identifier":
		return "x-credential-identifier"
	case "X-Anonymous-Consumer":
		return "x-anonymous-consumer"
	case "X-Authenticated-Scope":
		return "x-authenticated-scope"
	case "X-Authenticated-Userid":
		return "x-authenticated-userid"
	}
	return strings.ToLower(h)
}

// canonicalNames are the engine's upstream header names in net/http's
// canonical form ("X-Consumer-ID" is "X-Consumer-Id"), computed once:
// http.CanonicalHeaderKey allocates for a name that is not canonical, and
// forward auth writes these on every allowed request.
var canonicalNames sync.Map

func canonical(name string) string {
	if c, ok := canonicalNames.Load(name); ok {
		return c.(string)
	}
	c := http.CanonicalHeaderKey(name)
	canonicalNames.Store(name, c)
	return c
}

package konghost

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Front is Kong's proxy listeners in front of a Host: one plain and one TLS
// listener on 127.0.0.1. Requests are routed by Host header (and path
// prefix) to a service, go through the plugin's access phase, and are
// answered with the plugin's exit, a 500, or a JSON Echo of the upstream
// request.
type Front struct {
	h        *Host
	ca       *certAuthority
	plain    *http.Server
	secure   *http.Server
	URL      string // http://127.0.0.1:port
	TLSURL   string // https://127.0.0.1:port
	plainLn  net.Listener
	secureLn net.Listener
	ids      atomic.Int64

	mu        sync.Mutex
	exchanges []*Exchange
	byID      map[string]*Exchange
}

// Exchange is one request through the Front.
type Exchange struct {
	ID      string // also sent as the X-Kong-Request-Id response header
	Service string
	Request *Request
	Result  *Result
}

// Echo is the body the echo service answers with.
type Echo struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	Query      map[string][]string `json:"query"`
	Headers    map[string][]string `json:"headers"` // lower-case names
	Body       string              `json:"body"`
	Form       map[string][]string `json:"form,omitempty"` // when form-encoded
	Consumer   *Consumer           `json:"consumer,omitempty"`
	Credential *Credential         `json:"credential,omitempty"`
}

// Header returns the first value of an upstream header and whether it was sent.
func (e *Echo) Header(name string) (string, bool) {
	v, ok := e.Headers[strings.ToLower(name)]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// DecodeEcho reads an echo response body.
func DecodeEcho(resp *http.Response) (*Echo, error) {
	defer resp.Body.Close()
	var e Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		return nil, fmt.Errorf("konghost: response is not an echo: %v", err)
	}
	return &e, nil
}

// NewFront starts both listeners.
func NewFront(h *Host) (*Front, error) {
	ca, err := newCertAuthority()
	if err != nil {
		return nil, err
	}
	f := &Front{h: h, ca: ca, byID: map[string]*Exchange{}}
	if f.plainLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if f.secureLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		f.plainLn.Close()
		return nil, err
	}
	f.URL = "http://" + f.plainLn.Addr().String()
	f.TLSURL = "https://" + f.secureLn.Addr().String()
	f.plain = &http.Server{Handler: f}
	f.secure = &http.Server{Handler: f, TLSConfig: &tls.Config{GetCertificate: ca.getCertificate}}
	go func() { _ = f.plain.Serve(f.plainLn) }()
	go func() { _ = f.secure.ServeTLS(f.secureLn, "", "") }()
	return f, nil
}

// Close stops the listeners (not the Host).
func (f *Front) Close() error {
	return errors.Join(f.plain.Close(), f.secure.Close())
}

// CertPool trusts the Front's TLS certificates.
func (f *Front) CertPool() *x509.CertPool { return f.ca.pool }

// CACertPEM is the Front's CA certificate in PEM, for clients in other
// processes (a Python script) to trust the TLS listener.
func (f *Front) CACertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.cert.Raw})
}

// Client returns a client for any host name: https URLs go to the TLS
// listener, the rest to the plain one, so a test can write
// "https://api.test/x" and the Host header routes it.
func (f *Front) Client() *http.Client {
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.ca.pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			target := f.plainLn.Addr().String()
			if _, port, _ := net.SplitHostPort(addr); port == "443" || addr == f.secureLn.Addr().String() {
				target = f.secureLn.Addr().String()
			}
			return d.DialContext(ctx, "tcp", target)
		},
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{
		Transport: tr,
		// The echo and plugin responses are what tests inspect.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Exchanges returns every exchange so far, in completion order.
func (f *Front) Exchanges() []*Exchange {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Exchange(nil), f.exchanges...)
}

// Exchange finds an exchange by the X-Kong-Request-Id of its response.
func (f *Front) Exchange(id string) (*Exchange, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.byID[id]
	return e, ok
}

// ExchangeOf returns the exchange behind a response.
func (f *Front) ExchangeOf(resp *http.Response) (*Exchange, bool) {
	return f.Exchange(resp.Header.Get("X-Kong-Request-Id"))
}

func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strconv.FormatInt(f.ids.Add(1), 10)
	w.Header().Set("X-Kong-Request-Id", id)
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Bad request"})
		return
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	rawPath, rawQuery := r.URL.EscapedPath(), r.URL.RawQuery
	if strings.HasPrefix(r.RequestURI, "/") {
		rawPath, rawQuery, _ = strings.Cut(r.RequestURI, "?")
	}
	req := &Request{
		Method: r.Method, Scheme: "http", Host: host, Path: rawPath, RawQuery: rawQuery,
		Header: r.Header.Clone(), Body: body,
		HTTPVersion: float64(r.ProtoMajor) + float64(r.ProtoMinor)/10,
	}
	if r.TLS != nil {
		req.Scheme = "https"
	}
	if ap, err := localPort(r.Context()); err == nil {
		req.Port = ap
	}
	if ip, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.ClientIP = ip
		req.ClientPort, _ = strconv.Atoi(port)
	}
	service, ok := f.h.route(host, normalizePath(rawPath))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no Route matched with those values"})
		return
	}
	res, err := f.h.Do(r.Context(), service, req)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	ex := &Exchange{ID: id, Service: service, Request: req, Result: res}
	f.mu.Lock()
	f.exchanges = append(f.exchanges, ex)
	f.byID[id] = ex
	f.mu.Unlock()

	for k, v := range res.ResponseHeader {
		w.Header()[k] = v
	}
	switch {
	case res.Failure != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "An unexpected error occurred"})
	case res.Exit != nil:
		for k, v := range res.Exit.Header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(res.Exit.Body)))
		w.WriteHeader(res.Exit.Status)
		_, _ = w.Write(res.Exit.Body)
	default:
		writeJSON(w, res.Status, echoOf(res))
	}
}

func echoOf(res *Result) *Echo {
	up := res.Upstream
	e := &Echo{
		Method: up.Method, Path: up.Path, Headers: up.Header, Body: string(up.Body),
		Query: map[string][]string{}, Consumer: res.Consumer, Credential: res.Credential,
	}
	if q, err := url.ParseQuery(up.RawQuery); err == nil {
		e.Query = q
	}
	if ct, ok := up.Header["content-type"]; ok {
		if mt, _, _ := mime.ParseMediaType(ct[0]); mt == "application/x-www-form-urlencoded" {
			e.Form, _ = url.ParseQuery(string(up.Body))
		}
	}
	return e
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// localPort is the port of the listener that accepted the request
// (nginx's $server_port).
func localPort(ctx context.Context) (int, error) {
	a, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return 0, errors.New("no local address")
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(p)
}

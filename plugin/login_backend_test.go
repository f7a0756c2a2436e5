package plugin

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHTTPLoginAnswers: the HTTP backend's answers as the grant sees them.
func TestHTTPLoginAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		user    string
		scope   *string
		refused bool
		errHas  string // a failing backend: part of the error
	}{
		{name: "user", status: 200, body: `{"authenticated_userid":"u-1"}`, user: "u-1"},
		{name: "user and scope", status: 200, body: `{"authenticated_userid":"u-1","scope":"email"}`, user: "u-1", scope: ptr("email")},
		{name: "null scope", status: 200, body: `{"authenticated_userid":"u-1","scope":null}`, user: "u-1"},
		{name: "unknown members ignored", status: 200, body: `{"authenticated_userid":"u-1","name":"Alice"}`, user: "u-1"},
		{name: "401", status: 401, body: `{"error":"bad"}`, refused: true},
		{name: "403", status: 403, refused: true},
		{name: "500", status: 500, errHas: "answered 500"},
		{name: "404", status: 404, errHas: "answered 404"},
		{name: "redirect not followed", status: 302, errHas: "answered 302"},
		{name: "no user id", status: 200, body: `{"scope":"email"}`, errHas: "without authenticated_userid"},
		{name: "user id a number", status: 200, body: `{"authenticated_userid":42}`, errHas: "JSON object"},
		{name: "scope a list", status: 200, body: `{"authenticated_userid":"u","scope":["a"]}`, errHas: "JSON object"},
		{name: "not JSON", status: 200, body: `<html>ok</html>`, errHas: "JSON object"},
		{name: "user id null", status: 200, body: `{"authenticated_userid":null}`, errHas: "without authenticated_userid"},
		{name: "user id in another case", status: 200, body: `{"Authenticated_UserID":"casey"}`, errHas: "without authenticated_userid"},
		{name: "user id twice", status: 200, body: `{"authenticated_userid":"first","authenticated_userid":"second"}`, errHas: "twice"},
		{name: "two objects", status: 200, body: `{"authenticated_userid":"u"}{}`, errHas: "JSON object"},
		{name: "101 without an upgrade", status: 101, errHas: "answered 101"},
		{name: "too large", status: 200, body: `{"authenticated_userid":"u","pad":"` + strings.Repeat("x", maxLoginAnswer) + `"}`, errHas: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			b := &httpLogin{hc: defaultLoginClient, url: srv.URL}
			res, err := b.checkLogin(context.Background(), loginAttempt{username: "alice", password: testPassword})
			switch {
			case tc.refused:
				if !errors.Is(err, errLoginRefused) {
					t.Errorf("got %+v, %v; want refused", res, err)
				}
			case tc.errHas != "":
				if err == nil || errors.Is(err, errLoginRefused) || !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("got %+v, %v; want an error with %q", res, err, tc.errHas)
				}
			case err != nil || res.userID != tc.user || (res.scope == nil) != (tc.scope == nil) || (res.scope != nil && *res.scope != *tc.scope):
				t.Errorf("got %+v, %v; want user %q scope %v", res, err, tc.user, tc.scope)
			}
			if err != nil && strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error holds the password: %v", err)
			}
		})
	}
}

// TestHTTPLoginRequest: the request the backend gets: a JSON POST with the
// attempt, the passed parameters and the configured headers.
func TestHTTPLoginRequest(t *testing.T) {
	type seen struct {
		method, ct, secret string
		body               map[string]string
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s seen
		s.method, s.ct, s.secret = r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Login-Secret")
		if err := json.NewDecoder(r.Body).Decode(&s.body); err != nil {
			t.Errorf("backend got a body that is not a JSON object of strings: %v", err)
		}
		got <- s
		io.WriteString(w, `{"authenticated_userid":"u-1"}`)
	}))
	defer srv.Close()
	v := newEnv(t)
	c := v.config(`{"authenticate_url":"` + srv.URL + `/check","authenticate_headers":{"X-Login-Secret":"s3cret"},"authenticate_params":["otp"]}`)
	s, err := c.settings()
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.login.checkLogin(context.Background(), loginAttempt{username: "alice", password: testPassword, clientID: "app",
		scope: "email", params: map[string]string{"otp": "123456", "username": "not me"}})
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	want := map[string]string{"username": "alice", "password": testPassword, "client_id": "app", "scope": "email", "otp": "123456"}
	if r.method != "POST" || r.ct != "application/json" || r.secret != "s3cret" || len(r.body) != len(want) {
		t.Errorf("backend got %s %q secret %q body %v", r.method, r.ct, r.secret, r.body)
	}
	for k, val := range want {
		if r.body[k] != val {
			t.Errorf("body %s = %q, want %q", k, r.body[k], val)
		}
	}
}

// TestHTTPLoginTimeout: the caller's context bounds the call.
func TestHTTPLoginTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	b := &httpLogin{hc: defaultLoginClient, url: srv.URL}
	start := time.Now()
	_, err := b.checkLogin(ctx, loginAttempt{username: "alice", password: testPassword})
	if err == nil || errors.Is(err, errLoginRefused) || time.Since(start) > 5*time.Second {
		t.Errorf("slow backend: %v after %v", err, time.Since(start))
	}
}

// TestLoginCAFile: a backend whose certificate the system does not trust
// is reached once its CA is given as AuthenticateCAFile, and not before.
func TestLoginCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"authenticated_userid":"u-tls"}`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	a := loginAttempt{username: "alice", password: testPassword}
	if _, err := (&httpLogin{hc: defaultLoginClient, url: srv.URL}).checkLogin(context.Background(), a); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
	hc, err := newLoginClient(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := (&httpLogin{hc: hc, url: srv.URL}).checkLogin(context.Background(), a); err != nil || res.userID != "u-tls" {
		t.Errorf("with the CA file: %+v, %v", res, err)
	}
	o := DefaultOptions()
	o.Store, o.AuthenticateCAFile = noStore{}, filepath.Join(t.TempDir(), "missing.pem")
	if _, err := NewEngine(o); err == nil || !strings.Contains(err.Error(), "authenticate CA file") {
		t.Errorf("a missing CA file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(empty, []byte("not a certificate"), 0o600)
	o.AuthenticateCAFile = empty
	if _, err := NewEngine(o); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without certificates: %v", err)
	}
}

// TestHTTPLoginMisbehavingBackend: a backend that answers outside HTTP's
// rules still gets an answer within authenticate_timeout, and nothing it
// sent back (here an echo of the request, password included) reaches the
// error, which goes to the log.
func TestHTTPLoginMisbehavingBackend(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(req string) string // what the backend writes, given the request it read
	}{
		{"101, then silence", func(string) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
		}},
		{"the request echoed as a status line", func(req string) string { return req[strings.Index(req, "{"):] + "\r\n\r\n" }},
		{"the password in a header without a colon", func(string) string {
			return "HTTP/1.1 200 OK\r\n" + testPassword + "\r\n\r\n"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				io.WriteString(c, tc.answer(string(buf[:n])))
				time.Sleep(5 * time.Second) // and keep the connection open
			}()
			b := &httpLogin{hc: defaultLoginClient, url: "http://" + ln.Addr().String() + "/login"}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = b.checkLogin(ctx, loginAttempt{username: "alice", password: testPassword})
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("answered after %v, past the 300 ms deadline", took)
			}
			if err == nil || errors.Is(err, errLoginRefused) {
				t.Fatalf("err %v, want a failing backend", err)
			}
			if strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), "alice") {
				t.Errorf("the error quotes the backend's answer: %v", err)
			}
		})
	}
}

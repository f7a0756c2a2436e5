package proxies

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestThrottleThroughProxies: behind nginx and Caddy (deploy/, which send
// the client's address in X-Forwarded-For) and serve's trusted_ips (the
// proxy's address), serve throttles each client address apart: wrong
// secrets from 127.0.0.2 lock out 127.0.0.2, not 127.0.0.3, and a client
// cannot pick another key by sending its own X-Forwarded-For.
func TestThrottleThroughProxies(t *testing.T) {
	for _, name := range proxyNames {
		t.Run(name, func(t *testing.T) { testThrottleThrough(t, name) })
	}
}

func testThrottleThrough(t *testing.T, name string) {
	b := startBackend(t, harness.SQLiteURL(t), "-throttle-failures", "3")
	p := proxyFor(t, name, b.serveAddr(), b.api.addr())
	from := func(ip string) *http.Client {
		tr := p.hc.Transport.(*http.Transport).Clone()
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		tr.DialContext = d.DialContext
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	send := func(hc *http.Client, secret string, header ...string) int {
		t.Helper()
		f := passwordForm(b.bob, "user-1", "")
		f.Set("client_secret", secret)
		req, _ := http.NewRequest("POST", p.url+"/oauth2/token", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	attacker, victim := from("127.0.0.2"), from("127.0.0.3")
	for i := range 3 {
		if st := send(attacker, "wrong"); st != 400 {
			t.Fatalf("%s: wrong secret %d from 127.0.0.2: %d, want 400 invalid_client", name, i+1, st)
		}
	}
	if st := send(attacker, b.bob.Secret); st != 429 {
		t.Errorf("127.0.0.2 after its allowance: %d, want 429", st)
	}
	if st := send(attacker, b.bob.Secret, "X-Forwarded-For", "198.51.100.7"); st != 429 {
		t.Errorf("127.0.0.2 naming another address in X-Forwarded-For: %d, want 429", st)
	}
	if st := send(victim, b.bob.Secret); st != 200 {
		t.Errorf("the right secret from 127.0.0.3: %d, want 200", st)
	}
	if st := send(victim, "wrong"); st != 400 {
		t.Errorf("a wrong secret from 127.0.0.3: %d, want 400 (its own allowance)", st)
	}
}

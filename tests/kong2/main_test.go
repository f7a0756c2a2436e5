// Package kong2 runs the Kong 2.x build (pdk/kong2) in the real
// go-pluginserver v0.6.1, driven over its socket by tests/kong2host the way
// Kong 2.8 drives it, and checks it answers as Kong mode does.
package kong2

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/kong2host"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

const (
	provisionKey = "pk-kong2-0123456789abcdef"
	clientID     = "kong2-client-0123456789abcdefgh"
	clientSecret = "kong2-secret-0123456789abcdefghij"
)

// consumer is the Kong consumer of the client, the same in both hosts so
// that the upstream headers compare equal.
var consumer = konghost.Consumer{ID: "5c3c2b0e-6f1d-4a8e-9a55-0d5b7a1c2e10", Username: "web-app", CustomID: "crm-17"}

// startKong2 starts go-pluginserver with the plugin over the store at db,
// with kong/kong2.conf's client body buffer (64k).
func startKong2(t *testing.T, db string) *kong2host.Host {
	t.Helper()
	return startKong2Buffer(t, db, 64<<10)
}

func startKong2Buffer(t *testing.T, db string, bodyBuffer int) *kong2host.Host {
	t.Helper()
	srv, dir := harness.Kong2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := kong2host.Start(ctx, kong2host.Options{
		PluginServer: srv, PluginsDir: dir, Plugin: "oauth2-password",
		Env: append(harness.ChildEnv(), "OAUTH2_PASSWORD_DATABASE_URL="+db),
		Log: harness.SafeLog(t), ClientBodyBufferSize: bodyBuffer,
	})
	if err != nil {
		t.Fatalf("starting go-pluginserver: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// doer is what both hosts offer: one request through the access phase.
type doer interface {
	Do(ctx context.Context, service string, r *konghost.Request) (*konghost.Result, error)
}

func do(t *testing.T, d doer, r *konghost.Request) *konghost.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := d.Do(ctx, "api", r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func tokenRequest(form url.Values) *konghost.Request {
	return &konghost.Request{Method: "POST", Scheme: "https", Host: "api.test", Path: "/api/oauth2/token",
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte(form.Encode())}
}

func passwordForm(pk string) url.Values {
	return url.Values{"grant_type": {"password"}, "provision_key": {pk}, "authenticated_userid": {"user-4711"},
		"client_id": {clientID}, "client_secret": {clientSecret}, "scope": {"orders.read"}}
}

func refreshForm(refresh string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {clientID}, "client_secret": {clientSecret}}
}

func bearerRequest(token string) *konghost.Request {
	h := http.Header{"X-Consumer-Id": {"spoofed"}, "X-Authenticated-Userid": {"spoofed"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return &konghost.Request{Host: "api.test", Path: "/api/orders/1", Header: h}
}

// tokens reads an exit body with access and refresh tokens.
func tokens(t *testing.T, r *konghost.Result) (access, refresh string) {
	t.Helper()
	if r.Exit == nil || r.Status != 200 {
		t.Fatalf("token request: status %d, exit %+v, logs %v", r.Status, r.Exit, r.Logs)
	}
	var b struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal(r.Exit.Body, &b); err != nil || b.Access == "" || b.Refresh == "" {
		t.Fatalf("token body %s: %v", r.Exit.Body, err)
	}
	return b.Access, b.Refresh
}

// identity lists the upstream headers a user's upstream relies on.
var identity = []string{"authorization", "x-consumer-id", "x-consumer-username", "x-consumer-custom-id",
	"x-credential-identifier", "x-authenticated-userid", "x-authenticated-scope", "x-anonymous-consumer"}

// observe reduces a result to what a client and an upstream see and the
// number of PDK calls it took, with token values and times (different per
// run) replaced by "<varies>".
func observe(r *konghost.Result) string {
	var b strings.Builder
	b.WriteString(http.StatusText(r.Status) + " calls=" + strconv.Itoa(r.RoundTrips))
	if r.Failure != nil {
		b.WriteString(" failure")
	}
	if r.Exit != nil {
		var body map[string]any
		if json.Unmarshal(r.Exit.Body, &body) == nil {
			for _, k := range []string{"access_token", "refresh_token", "exp", "iat"} {
				if _, ok := body[k]; ok {
					body[k] = "<varies>"
				}
			}
			nb, _ := json.Marshal(body)
			b.WriteString(" body=" + string(nb))
		} else {
			b.WriteString(" body=" + string(r.Exit.Body))
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range r.Exit.Header {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range names {
			b.WriteString(" " + k + "=" + strings.Join(r.Exit.Header[k], ","))
		}
	}
	if r.Proxied {
		for _, k := range identity {
			if vs, ok := r.Upstream.Header[k]; ok {
				if k == "authorization" {
					vs = []string{"<bearer>"}
				}
				b.WriteString(" up." + k + "=" + strings.Join(vs, ","))
			}
		}
	}
	return b.String()
}

// waitStore waits until the plugin has opened its store in the background:
// until then a store-backed request is answered 503.
func waitStore(t *testing.T, d doer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for do(t, d, bearerRequest("store-probe")).Status == 503 {
		if time.Now().After(deadline) {
			t.Fatal("the plugin's store is still not ready after 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

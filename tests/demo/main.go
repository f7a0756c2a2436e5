// Command demo walks through the password grant against the real plugin,
// on a machine with nothing but Go: it builds oauth2-password, runs it under
// the Kong-side test host with the embedded store, registers a client with
// the admin CLI, and then plays the application: token, protected call,
// refresh, revocation. Every HTTP exchange is printed. It exits non-zero as
// soon as a step does not behave as documented.
//
//	make demo    # = go run ./tests/demo
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

const (
	provisionKey = "demo-provision-key-0123456789" // throwaway demo value
	syncInterval = 500 * time.Millisecond          // -cache-sync-interval: the revocation bound
	api          = "https://orders.demo"           // the Front routes by Host header
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("\ndemo OK: every step behaved as documented.")
}

// demo carries what the steps share.
type demo struct {
	bin, dbURL string
	hc         *http.Client
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "oauth2-password-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("Build the plugin")
	d := &demo{bin: filepath.Join(dir, "oauth2-password"), dbURL: "sqlite:" + filepath.Join(dir, "demo.db")}
	if err := build(ctx, d.bin); err != nil {
		return err
	}
	fmt.Println("built", d.bin)

	step("Start it under the Kong-side host (embedded store, no PostgreSQL)")
	h, err := konghost.Start(ctx, konghost.Options{
		Bin:  d.bin,
		Args: []string{"-database-url", d.dbURL, "-cache-sync-interval", syncInterval.String()},
		Env:  []string{"OAUTH2_PASSWORD_DATABASE_URL="},
		Log:  func(string) {}, // the plugin's own log is not part of the walk-through
	})
	if err != nil {
		return fmt.Errorf("starting the plugin: %w", err)
	}
	defer h.Close()
	front, err := konghost.NewFront(h)
	if err != nil {
		return err
	}
	defer front.Close()
	d.hc = front.Client()
	cons, err := h.AddConsumer(konghost.Consumer{Username: "web-app", CustomID: "web-app-001"})
	if err != nil {
		return err
	}
	if _, err := h.AddService(konghost.ServiceSpec{Name: "orders", Host: "orders.demo", Config: map[string]any{
		"provision_key": provisionKey, "scopes": []string{"orders.read", "orders.write"}, "realm": "orders",
	}}); err != nil {
		return err
	}
	fmt.Printf("plugin %s %s on %s\nservice orders (host orders.demo), consumer web-app (id %s)\n",
		h.Info().Name, h.Info().Version, h.Process().Socket(), cons.ID)

	step("Register a client with the admin CLI")
	out, err := d.cli("", "clients", "create", "--consumer", "web-app", "--name", "demo web app")
	if err != nil {
		return err
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &client); err != nil || client.ID == "" || client.Secret == "" {
		return fmt.Errorf("clients create printed %q", out)
	}

	step("Password grant: the login backend asks for a token for user alice")
	tok, err := d.token(url.Values{"grant_type": {"password"}, "client_id": {client.ID}, "client_secret": {client.Secret},
		"provision_key": {provisionKey}, "authenticated_userid": {"alice"}, "scope": {"orders.read"}})
	if err != nil {
		return err
	}

	step("Call the protected API with the access token")
	ec, err := d.protected(tok.Access, 200)
	if err != nil {
		return err
	}
	for name, want := range map[string]string{"x-consumer-username": "web-app", "x-authenticated-userid": "alice",
		"x-authenticated-scope": "orders.read", "x-credential-identifier": client.ID} {
		if got, _ := ec.Header(name); got != want {
			return fmt.Errorf("upstream got %s %q, want %q", name, got, want)
		}
	}

	step("Refresh: a new pair; the old access token stops working")
	next, err := d.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.Refresh},
		"client_id": {client.ID}, "client_secret": {client.Secret}})
	if err != nil {
		return err
	}
	if next.Access == tok.Access || next.Refresh == tok.Refresh {
		return errors.New("the refresh returned the same tokens")
	}
	if _, err := d.protected(tok.Access, 401); err != nil {
		return err
	}
	if _, err := d.protected(next.Access, 200); err != nil {
		return err
	}

	step("Revoke the new access token with the admin CLI (read from stdin)")
	out, err = d.cli(next.Access+"\n", "tokens", "revoke", "--access-token", "-")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(out)) != `{"revoked":1}` {
		return fmt.Errorf("tokens revoke printed %q", out)
	}

	step(fmt.Sprintf("The plugin refuses it within its -cache-sync-interval (%v)", syncInterval))
	deadline := time.Now().Add(syncInterval + 2*time.Second)
	for {
		time.Sleep(syncInterval / 4)
		r, err := d.send(mustRequest("GET", api+"/orders/42", next.Access, nil), false)
		if err != nil {
			return err
		}
		if r.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the revoked token still works after %v", syncInterval+2*time.Second)
		}
	}
	_, err = d.protected(next.Access, 401)
	return err
}

// build compiles the plugin from the module this demo belongs to.
func build(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return fmt.Errorf("run the demo from the oauth2-password module (go env GOMOD: %q, %v)", gomod, err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/oauth2-password")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

// cli runs an admin command as its own process, as an operator would.
func (d *demo) cli(stdin string, args ...string) ([]byte, error) {
	shown := append([]string{"oauth2-password"}, args...)
	fmt.Printf("$ %s -database-url %s\n", strings.Join(quote(shown), " "), d.dbURL)
	cmd := exec.Command(d.bin, append(args, "-database-url", d.dbURL)...)
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	fmt.Print(o.String())
	if err != nil {
		return nil, fmt.Errorf("oauth2-password %s: %v: %s", args[0], err, strings.TrimSpace(e.String()))
	}
	return o.Bytes(), nil
}

type pair struct{ Access, Refresh string }

// token posts a form to the token endpoint and wants a 200 with both tokens.
func (d *demo) token(form url.Values) (pair, error) {
	req := mustRequest("POST", api+"/oauth2/token", "", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := d.send(req, true)
	if err != nil {
		return pair{}, err
	}
	var body struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if r.StatusCode != 200 || json.Unmarshal(r.body, &body) != nil || body.Access == "" || body.Refresh == "" {
		return pair{}, fmt.Errorf("token endpoint answered %d, want 200 with an access and a refresh token", r.StatusCode)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		return pair{}, errors.New("token response without Cache-Control: no-store")
	}
	return pair{body.Access, body.Refresh}, nil
}

// protected calls the API with a bearer token and wants the status.
func (d *demo) protected(token string, want int) (*konghost.Echo, error) {
	r, err := d.send(mustRequest("GET", api+"/orders/42", token, nil), true)
	if err != nil {
		return nil, err
	}
	if r.StatusCode != want {
		return nil, fmt.Errorf("GET /orders/42 answered %d, want %d", r.StatusCode, want)
	}
	if want != 200 {
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			return nil, errors.New("401 without an invalid_token challenge")
		}
		return nil, nil
	}
	var ec konghost.Echo
	if err := json.Unmarshal(r.body, &ec); err != nil {
		return nil, fmt.Errorf("the upstream echo: %v", err)
	}
	return &ec, nil
}

type reply struct {
	*http.Response
	body []byte
}

// send does one request and, if show, prints it and its answer.
func (d *demo) send(req *http.Request, show bool) (reply, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	if show {
		fmt.Printf("\n> %s %s\n", req.Method, req.URL)
		printHeaders(">", req.Header, "Authorization", "Content-Type")
		if len(reqBody) > 0 {
			fmt.Printf(">\n>   %s\n", reqBody)
		}
		fmt.Printf("< %s\n", resp.Status)
		printHeaders("<", resp.Header, "Content-Type", "Cache-Control", "Pragma", "WWW-Authenticate")
		fmt.Printf("<\n%s\n", indentBody(body))
	}
	return reply{resp, body}, nil
}

func printHeaders(mark string, h http.Header, names ...string) {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			fmt.Printf("%s %s: %s\n", mark, n, v)
		}
	}
}

// indentBody pretty-prints JSON; an upstream echo is cut down to the
// headers the plugin set, which is what the demo is about.
func indentBody(b []byte) string {
	var ec konghost.Echo
	if json.Unmarshal(b, &ec) == nil && ec.Headers != nil {
		var lines []string
		for name, v := range ec.Headers {
			if strings.HasPrefix(name, "x-consumer") || strings.HasPrefix(name, "x-authenticated") || strings.HasPrefix(name, "x-credential") {
				lines = append(lines, fmt.Sprintf("<   upstream got %s: %s", name, strings.Join(v, ", ")))
			}
		}
		sort.Strings(lines)
		return "<   (echo of the request the upstream service received)\n" + strings.Join(lines, "\n")
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "<   ", "  ") == nil {
		return "<   " + out.String()
	}
	return "<   " + string(b)
}

func mustRequest(method, u, token string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		panic(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = fmt.Sprintf("%q", a)
		}
		out[i] = a
	}
	return out
}

func step(s string) { fmt.Printf("\n=== %s\n", s) }

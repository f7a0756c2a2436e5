package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// authzProc is a gRPC ext_authz server process and the connection the
// bench keeps to it, as Envoy keeps one to its authz cluster.
type authzProc struct {
	name  string
	cmd   *exec.Cmd
	log   *lineLog
	conn  *grpc.ClientConn
	authz authv3.AuthorizationClient
}

func (p *authzProc) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func (p *authzProc) pid() int { return p.cmd.Process.Pid }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startAuthz runs bin with args (which make it listen for gRPC on addr)
// and connects to it.
func startAuthz(name, bin, addr string, args ...string) (*authzProc, error) {
	p := &authzProc{name: name, log: &lineLog{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	p.cmd.Stderr = logWriter{p.log}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", name, err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		p.close()
		return nil, err
	}
	p.conn, p.authz = conn, authv3.NewAuthorizationClient(conn)
	return p, nil
}

// logWriter feeds a process's stderr to a lineLog.
type logWriter struct{ l *lineLog }

func (w logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.l.add(line)
	}
	return len(b), nil
}

// envoyEnv is serve (gRPC Check over ours' PostgreSQL database, client
// and consumer) and the floor ext_authz server, with a valid token.
type envoyEnv struct {
	serve, floor *authzProc
	token        string
}

func (e *envoyEnv) close() {
	for _, p := range []*authzProc{e.serve, e.floor} {
		if p != nil {
			p.close()
		}
	}
}

// setupEnvoy starts serve -grpc on the bench's PostgreSQL database, gets a
// token from its token endpoint, and starts the floor server answering
// with the same upstream headers serve gives for that token.
func (e *env) setupEnvoy(ctx context.Context) (_ *envoyEnv, err error) {
	ee := &envoyEnv{}
	defer func() {
		if err != nil {
			ee.close()
		}
	}()
	conf := filepath.Join(e.dir, "serve.yaml")
	if err := os.WriteFile(conf, []byte("trusted_ips: [\"127.0.0.1/32\"]\nservices:\n  "+service+":\n    provision_key: "+provisionKey+
		"\n    scopes: [email]\n    accept_http_if_already_terminated: true\n"), 0o600); err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	grpcAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if ee.serve, err = startAuthz("serve", e.bin, grpcAddr, "serve", "-config", conf, "-http", httpAddr, "-grpc", grpcAddr, "-database-url", e.pgURL); err != nil {
		return nil, err
	}
	if ee.token, err = serveToken(ctx, "http://"+httpAddr, e.pg.client); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, ee.serve.log)
	}
	floorBin := filepath.Join(e.dir, "floor", "floorauthz")
	if err := goBuild(floorBin, "./tests/envoy/floorauthz"); err != nil {
		return nil, err
	}
	floorAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if ee.floor, err = startAuthz("floor", floorBin, floorAddr, "-grpc", floorAddr,
		"-consumer-id", "bob", "-client-id", e.pg.client.ID, "-user", "user-1", "-scope", "email"); err != nil {
		return nil, err
	}
	// Both must answer the same request alike before anything is measured.
	for _, p := range []*authzProc{ee.serve, ee.floor} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := checkOp(p, ee.token)(ctx)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: %v\n%s", p.name, err, p.log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return ee, nil
}

// serveToken gets a token from serve's token endpoint (plain HTTP from a
// trusted peer that says the client spoke HTTPS, as Envoy would).
func serveToken(ctx context.Context, base string, c client) (string, error) {
	form := url.Values{"grant_type": {"password"}, "provision_key": {provisionKey}, "authenticated_userid": {"user-1"},
		"scope": {"email"}, "client_id": {c.ID}, "client_secret": {c.Secret}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/services/"+service+"/oauth2/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			derr := json.NewDecoder(res.Body).Decode(&tok)
			res.Body.Close()
			if res.StatusCode == 200 && derr == nil && tok.AccessToken != "" {
				return tok.AccessToken, nil
			}
			err = fmt.Errorf("token endpoint answered %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOp sends the CheckRequest Envoy sends for a GET with the token and
// checks the answer: OK with five identity headers set and two removed.
func checkOp(p *authzProc, token string) func(context.Context) error {
	h := map[string]string{":authority": "api.example.com", ":method": "GET", ":path": "/orders?page=2", ":scheme": "https",
		"authorization": "Bearer " + token, "x-forwarded-proto": "https", "user-agent": "curl/8.5.0",
		"x-request-id": "3f1c0b8e-7a51-4a70-9a5e-1b2c3d4e5f60"}
	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: h["x-request-id"], Method: "GET", Headers: h, Path: "/orders?page=2", Host: "api.example.com", Scheme: "https", Protocol: "HTTP/1.1"}},
		ContextExtensions: map[string]string{"service": service}}}
	return func(ctx context.Context) error {
		resp, err := p.authz.Check(ctx, req)
		if err != nil {
			return err
		}
		ok := resp.GetOkResponse()
		if resp.GetStatus().GetCode() != int32(code.Code_OK) || len(ok.GetHeaders()) != 5 || len(ok.GetHeadersToRemove()) != 2 {
			return fmt.Errorf("check answered %v", resp)
		}
		return nil
	}
}

// envoyCheck is one gRPC Check comparison.
type envoyCheck struct {
	concurrency int
	ours, floor *sample
}

func (ee *envoyEnv) compare(ctx context.Context, c int, o options) (envoyCheck, error) {
	ours := side{"serve -grpc", checkOp(ee.serve, ee.token), ee.serve}
	floor := side{"floor ext_authz", checkOp(ee.floor, ee.token), ee.floor}
	so, sf, err := interleave(ctx, ours, floor, c, o)
	if err != nil {
		return envoyCheck{}, err
	}
	return envoyCheck{concurrency: c, ours: so, floor: sf}, nil
}

package main

import (
	"context"
	"fmt"
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
		"\n    accept_http_if_already_terminated: true\n"), 0o600); err != nil {
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
	base := "http://" + httpAddr
	if err := waitHTTP(ctx, base+"/readyz"); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, ee.serve.log)
	}
	if ee.token, err = (&serveProc{name: "serve -grpc", url: base, client: e.pg.client}).tokenOp()(ctx); err != nil {
		return nil, err
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
		"-consumer-id", "bob", "-client-id", e.pg.client.ID, "-user", "user-1"); err != nil {
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

// checkOp sends the CheckRequest Envoy sends for a GET with the token and
// checks the answer: OK with four identity headers set and three removed.
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
		if resp.GetStatus().GetCode() != int32(code.Code_OK) || len(ok.GetHeaders()) != 4 || len(ok.GetHeadersToRemove()) != 3 {
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
	ours := side{name: "serve -grpc", op: checkOp(ee.serve, ee.token), pid: ee.serve.pid()}
	floor := side{name: "floor ext_authz", op: checkOp(ee.floor, ee.token), pid: ee.floor.pid()}
	so, sf, err := interleave(ctx, ours, floor, c, o)
	if err != nil {
		return envoyCheck{}, err
	}
	return envoyCheck{concurrency: c, ours: so, floor: sf}, nil
}

// envoyRows measures gRPC Check against the floor at each concurrency.
func (e *env) envoyRows(ctx context.Context, o options) ([]envoyCheck, error) {
	progress("Envoy gRPC ext_authz: serve -grpc vs the floor ext_authz server")
	ee, err := e.setupEnvoy(ctx)
	if err != nil {
		return nil, err
	}
	defer ee.close()
	var rows []envoyCheck
	for _, c := range o.concurrency {
		progress("gRPC Check at concurrency %d: %d rounds of %v per side", c, o.rounds, o.round)
		ec, err := ee.compare(ctx, c, o)
		if err != nil {
			return nil, err
		}
		rows = append(rows, ec)
	}
	return rows, nil
}

// Command run is `make run`: oauth2-password without Kong, on this machine,
// in one command. It builds the binary, keeps an example setup in bin/run
// (a serve config whose service `orders` has a provision key generated on
// the first run, a self-signed certificate, the embedded store with an
// example client), starts `oauth2-password serve` over HTTPS, and a small
// forward-auth gateway (tests/fwdauth) in front of an API that echoes what
// it receives, so that a protected route is real. It prints the curl lines
// to get a token, call the protected route, refresh and revoke, and runs
// until Ctrl-C, which stops serve gracefully.
//
//	make run    # = go run ./tests/run
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/fwdauth"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "bin/run", "where the example setup is kept between runs")
	flag.StringVar(&o.bin, "bin", "", "oauth2-password binary to run (default: build bin/oauth2-password)")
	flag.StringVar(&o.serveAddr, "serve", "127.0.0.1:8443", "address of oauth2-password serve (HTTPS)")
	flag.StringVar(&o.gatewayAddr, "gateway", "127.0.0.1:8000", "address of the demo gateway (HTTP, loopback)")
	flag.StringVar(&o.proxy, "proxy", "", "run a deploy/ example instead of the demo gateway: nginx, caddy or haproxy (serve on plain HTTP at -serve, default 127.0.0.1:8080)")
	flag.StringVar(&o.proxyAddr, "proxy-addr", "127.0.0.1:8443", "with -proxy: where the proxy listens (HTTPS)")
	flag.StringVar(&deployDir, "deploy", "deploy", "with -proxy: the repository's deploy directory")
	flag.StringVar(&o.spoeAddr, "spoe", "127.0.0.1:12345", "with -proxy haproxy: serve's SPOE agent")
	flag.Parse()
	if o.proxy != "" {
		if _, ok := gateways[o.proxy]; !ok {
			fmt.Fprintf(os.Stderr, "make run: -proxy %q: want nginx, caddy or haproxy\n", o.proxy)
			os.Exit(2)
		}
		serveSet := false
		flag.Visit(func(f *flag.Flag) { serveSet = serveSet || f.Name == "serve" })
		if !serveSet {
			o.serveAddr = "127.0.0.1:8080"
		}
	}
	if err := run(o); err != nil {
		target := "make run"
		if o.proxy != "" {
			target = "make example-" + o.proxy
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", target, err)
		os.Exit(1)
	}
}

type options struct {
	dir, bin, serveAddr, gatewayAddr string
	proxy, proxyAddr, spoeAddr       string
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.bin == "" {
		o.bin = filepath.Join("bin", "oauth2-password")
		fmt.Fprintln(os.Stderr, "building", o.bin)
		build := exec.Command("go", "build", "-o", o.bin, "./cmd/oauth2-password")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	if o.proxy != "" {
		return runGateway(ctx, o, gateways[o.proxy])
	}
	s, err := prepare(o.dir, o.bin)
	if err != nil {
		return err
	}

	serve, exited, err := startChild(exec.Command(o.bin, "serve", "-config", s.config, "-http", o.serveAddr,
		"-tls-cert", s.cert, "-tls-key", s.key, "-database-url", s.dbURL), "OAUTH2_PASSWORD_DATABASE_URL=")
	if err != nil {
		return err
	}
	stopServe := func() error {
		_ = serve.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(15 * time.Second):
			_ = serve.Process.Kill()
			return fmt.Errorf("serve did not stop within 15s of SIGTERM")
		}
	}
	serveURL := "https://" + o.serveAddr
	if err := waitReady(ctx, s.client, serveURL+"/readyz", exited); err != nil {
		_ = stopServe()
		return err
	}

	gw, err := startGateway(o.gatewayAddr, serveURL, s.client)
	if err != nil {
		_ = stopServe()
		return err
	}
	printLines(os.Stdout, s, serveURL, "http://"+o.gatewayAddr)

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "stopping")
	case err := <-exited:
		gw.Close()
		return fmt.Errorf("serve exited: %v", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = gw.Shutdown(sctx)
	if err := stopServe(); err != nil {
		return fmt.Errorf("serve: %v", err)
	}
	return nil
}

// waitReady waits until serve's /readyz answers 200.
func waitReady(ctx context.Context, hc *http.Client, u string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("serve exited at start: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve not ready within 30s")
		}
	}
}

// startGateway serves the demo gateway: every request is checked by
// serve's forward auth for `orders`, then goes to the echo API.
func startGateway(addr, serveURL string, hc *http.Client) (*http.Server, error) {
	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() { _ = http.Serve(api, echoAPI()) }()
	target := &url.URL{Scheme: "http", Host: api.Addr().String()}
	g := &fwdauth.Gateway{
		Address:         serveURL + "/services/orders/auth",
		ResponseHeaders: fwdauth.IdentityHeaders,
		RemoveHeaders:   []string{"Authorization"}, // hide_credentials
		Next:            httputil.NewSingleHostReverseProxy(target),
		Client:          hc,
		Proto:           "http",
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		api.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}

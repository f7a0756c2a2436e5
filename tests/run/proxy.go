package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/proxies"
)

// A gateway example (`make example-nginx`, -caddy, -haproxy): the files of
// deploy/GATEWAY as they are, run by the real proxy from a prefix in the
// example directory, on loopback. serve listens on plain HTTP on loopback;
// the proxy ends TLS with the example certificate.
type gateway struct {
	name string
	// start starts the proxy; dir is the example directory (absolute).
	start func(bin, dir string, e proxies.Env, spoeAddr string) (*exec.Cmd, error)
	spoe  bool // serve also runs its HAProxy SPOE agent
}

var gateways = map[string]gateway{
	"nginx": {name: "nginx", start: func(bin, dir string, e proxies.Env, _ string) (*exec.Cmd, error) {
		conf, err := proxies.Envsubst(filepath.Join(deployDir, "nginx", "nginx.conf"), e)
		if err != nil {
			return nil, err
		}
		prefix := filepath.Join(dir, "nginx")
		if err := os.MkdirAll(prefix, 0o700); err != nil {
			return nil, err
		}
		confPath := filepath.Join(prefix, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		global := "daemon off;"
		if os.Geteuid() == 0 {
			global += " user root;" // else the workers run as nobody, who cannot read the prefix
		}
		return exec.Command(bin, "-p", prefix, "-c", confPath, "-e", "stderr", "-g", global), nil
	}},
	"caddy": {name: "caddy", start: func(bin, dir string, e proxies.Env, _ string) (*exec.Cmd, error) {
		cmd := exec.Command(bin, "run", "--config", filepath.Join(deployDir, "caddy", "Caddyfile"), "--adapter", "caddyfile")
		state := filepath.Join(dir, "caddy")
		// Caddy keeps its state under HOME and the XDG directories.
		cmd.Env = append(os.Environ(), e.Environ()...)
		cmd.Env = append(cmd.Env, "HOME="+state, "XDG_CONFIG_HOME="+filepath.Join(state, "config"), "XDG_DATA_HOME="+filepath.Join(state, "data"))
		return cmd, nil
	}},
	"haproxy": {name: "haproxy", spoe: true, start: func(bin, dir string, e proxies.Env, spoeAddr string) (*exec.Cmd, error) {
		// HAProxy wants the certificate and its key in one file.
		c, err := os.ReadFile(e.TLSCert)
		if err != nil {
			return nil, err
		}
		k, err := os.ReadFile(e.TLSKey)
		if err != nil {
			return nil, err
		}
		pem := filepath.Join(dir, "haproxy.pem")
		if err := os.WriteFile(pem, append(c, k...), 0o600); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-db", "-f", filepath.Join(deployDir, "haproxy", "haproxy.cfg"))
		cmd.Env = append(os.Environ(), "PROXY_ADDR="+e.ProxyAddr, "TLS_CERT="+pem, "OAUTH2_PASSWORD_ADDR="+e.ServeAddr,
			"OAUTH2_PASSWORD_SPOE_ADDR="+spoeAddr, "UPSTREAM_ADDR="+e.UpstreamAddr)
		return cmd, nil
	}},
}

// deployDir is the repository's deploy/ (the -deploy flag).
var deployDir = "deploy"

// changeMe is a placeholder provision key of a deploy/*/serve.yaml.
var changeMe = regexp.MustCompile(`"change-me-[a-z-]*provision-key"`)

// exampleConfig is deploy/GATEWAY/serve.yaml with a random key for every
// placeholder.
func exampleConfig(gw string) ([]byte, error) {
	raw, err := os.ReadFile(filepath.Join(deployDir, gw, "serve.yaml"))
	if err != nil {
		return nil, fmt.Errorf("run from the repository's root: %w", err)
	}
	head := fmt.Sprintf("# make example-%s's serve config: deploy/%s/serve.yaml with generated\n# provision keys; it stays until you delete it.\n", gw, gw)
	return append([]byte(head), changeMe.ReplaceAllFunc(raw, func([]byte) []byte { return fmt.Appendf(nil, "%q", randomKey()) })...), nil
}

// runGateway is run for a gateway example.
func runGateway(ctx context.Context, o options, gw gateway) error {
	proxyBin, err := lookProxy(gw.name)
	if err != nil {
		return err
	}
	if _, err := exampleConfig(gw.name); err != nil {
		return err
	}
	s, err := prepareWith(o.dir, o.bin, func() []byte { b, _ := exampleConfig(gw.name); return b }, "web-app")
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}

	api, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	apiSrv := &http.Server{Handler: echoAPI(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = apiSrv.Serve(api) }()
	defer apiSrv.Close()

	args := []string{"serve", "-config", s.config, "-http", o.serveAddr, "-database-url", s.dbURL}
	if gw.spoe {
		args = append(args, "-spoe", o.spoeAddr)
	}
	serve, serveExited, err := startChild(exec.Command(o.bin, args...), "OAUTH2_PASSWORD_DATABASE_URL=")
	if err != nil {
		return err
	}
	defer stopChild(serve, serveExited, "serve")
	if err := waitReady(ctx, http.DefaultClient, "http://"+o.serveAddr+"/readyz", serveExited); err != nil {
		return err
	}

	e := proxies.Env{ProxyAddr: o.proxyAddr, ServeAddr: o.serveAddr, UpstreamAddr: api.Addr().String(),
		TLSCert: filepath.Join(dir, "cert.pem"), TLSKey: filepath.Join(dir, "key.pem")}
	cmd, err := gw.start(proxyBin, dir, e, o.spoeAddr)
	if err != nil {
		return err
	}
	proxy, proxyExited, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", gw.name, err)
	}
	defer stopChild(proxy, proxyExited, gw.name)
	proxyURL := "https://" + o.proxyAddr
	if err := waitListening(ctx, s, proxyURL, proxyExited, gw.name); err != nil {
		return err
	}
	header := fmt.Sprintf("%s:  %s (deploy/%s), in front of an API that echoes the request\n"+
		"oauth2-password serve: http://%s (config, certificate and embedded store in %s)", gw.name, proxyURL, gw.name, o.serveAddr, relPath(dir))
	trust := " --cacert " + relPath(s.cert)
	printLinesVia(os.Stdout, s, header, proxyURL+"/oauth2", proxyURL, "curl -s"+trust+" ", trust)

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "stopping")
		return nil
	case err := <-serveExited:
		return fmt.Errorf("serve exited: %v", err)
	case err := <-proxyExited:
		return fmt.Errorf("%s exited: %v", gw.name, err)
	}
}

// lookProxy finds the proxy's binary (Debian puts nginx and haproxy in
// /usr/sbin, often not on a user's PATH).
func lookProxy(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); exists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install it (Debian: apt-get install %s)", name, name)
}

// startChild starts cmd in its own process group, so that Ctrl-C in the
// terminal reaches this program only, which then stops its children in
// order (else they all get SIGINT at once and a child's exit looks like a
// failure).
func startChild(cmd *exec.Cmd, env ...string) (*exec.Cmd, chan error, error) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, exited, nil
}

// stopChild sends SIGTERM and waits up to 15s, then kills.
func stopChild(cmd *exec.Cmd, exited chan error, name string) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		fmt.Fprintf(os.Stderr, "%s did not stop within 15s of SIGTERM; killed\n", name)
	}
}

// waitListening waits until the proxy answers HTTPS (any status).
func waitListening(ctx context.Context, s *setup, u string, exited chan error, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client.Get(u + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case err := <-exited:
			exited <- err // for stopChild, which then need not wait for it
			return fmt.Errorf("%s exited at start: %v", name, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering on %s within 30s", name, u)
		}
	}
}

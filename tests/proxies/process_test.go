package proxies

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/tlscert"
)

// proxy is a real nginx or Caddy running one of this folder's configs.
type proxy struct {
	name string
	url  string // https://127.0.0.1:port
	hc   *http.Client
	// passesDenialBody: the client gets serve's JSON body with a 401, not
	// a page of the proxy's own.
	passesDenialBody bool
}

// proxyFor starts one of the proxies this package tests, in front of serve
// and the upstream, each in its own temporary directory.
func proxyFor(t *testing.T, name, serveAddr, upstreamAddr string) *proxy {
	t.Helper()
	switch name {
	case "nginx":
		return startNginx(t, serveAddr, upstreamAddr)
	case "caddy":
		return startCaddy(t, serveAddr, upstreamAddr)
	}
	t.Fatalf("no proxy %q", name)
	return nil
}

// newEnv prepares a directory with a certificate and the addresses.
func newEnv(t *testing.T, serveAddr, upstreamAddr string) (Env, string, *x509.CertPool) {
	dir := t.TempDir()
	cert, key, err := tlscert.Write(dir, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := tlscert.Pool(cert)
	if err != nil {
		t.Fatal(err)
	}
	return Env{ProxyAddr: harness.FreeAddr(t), ServeAddr: serveAddr, UpstreamAddr: upstreamAddr, TLSCert: cert, TLSKey: key}, dir, pool
}

// startNginx runs nginx.conf with the prefix in a temporary directory.
func startNginx(t *testing.T, serveAddr, upstreamAddr string) *proxy {
	t.Helper()
	bin := lookBin(t, "nginx", "/usr/sbin/nginx")
	env, dir, pool := newEnv(t, serveAddr, upstreamAddr)
	conf, err := Envsubst("../../deploy/nginx/nginx.conf", env)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	global := "daemon off;"
	if os.Geteuid() == 0 {
		// nginx's workers would otherwise run as nobody, who cannot enter
		// the test's private temporary directory.
		global += " user root;"
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", global)
	p := &proxy{name: "nginx", url: "https://" + env.ProxyAddr, hc: tlsClient(pool)}
	run(t, cmd, p, func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(b)
	})
	return p
}

// startCaddy runs the Caddyfile as it is, with the addresses in its
// environment.
func startCaddy(t *testing.T, serveAddr, upstreamAddr string) *proxy {
	t.Helper()
	bin := lookBin(t, "caddy", "/usr/bin/caddy")
	env, dir, pool := newEnv(t, serveAddr, upstreamAddr)
	abs, err := filepath.Abs("../../deploy/caddy/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", abs, "--adapter", "caddyfile")
	// Caddy keeps state (autosave, certificates) under HOME and XDG dirs.
	cmd.Env = append(os.Environ(), env.Environ()...)
	cmd.Env = append(cmd.Env, "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	p := &proxy{name: "caddy", url: "https://" + env.ProxyAddr, hc: tlsClient(pool), passesDenialBody: true}
	run(t, cmd, p, func() string { return "" })
	return p
}

// lookBin finds a proxy binary: a test never skips, so a missing one is a
// failure that says how to install it.
func lookBin(t *testing.T, name, fallback string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat(fallback); err == nil {
		return fallback
	}
	t.Fatalf("%s not found: apt-get install %s (.ci/run installs it)", name, name)
	return ""
}

func tlsClient(pool *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// run starts cmd, waits until the proxy answers over HTTPS, and stops it
// (SIGTERM) when the test ends. logs gives the proxy's own log file, shown
// when something goes wrong.
func run(t *testing.T, cmd *exec.Cmd, p *proxy, logs func() string) {
	t.Helper()
	proc := harness.RunProcess(t, p.name, cmd, logs)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := p.hc.Get(p.url + "/oauth2/ready-probe")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-proc.Exited():
			t.Fatalf("%s exited at start: %v\n%s\n%s", p.name, proc.Err(), proc.Output(), logs())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer within 20s: %v\n%s\n%s", p.name, err, proc.Output(), logs())
		}
	}
}

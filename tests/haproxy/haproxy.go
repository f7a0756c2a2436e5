// Package haproxy runs `oauth2-password serve -spoe` behind the real
// HAProxy (Debian's haproxy 2.6, started by the tests on loopback) with
// deploy/haproxy's haproxy.cfg and spoe.conf as they are: the files users
// copy. Its tests compare the answers with nginx's (deploy/nginx) for the
// cases both proxies share. floorspoe is the bench's floor agent.
//
// This file starts HAProxy for the tests and for tests/bench.
package haproxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/tlscert"
)

// Env is what haproxy.cfg leaves open: HAProxy reads each "${NAME}" from
// its environment.
type Env struct {
	ProxyAddr    string // PROXY_ADDR: where clients connect (HTTPS)
	TLSCert      string // TLS_CERT: certificate and key in one PEM file
	ServeAddr    string // OAUTH2_PASSWORD_ADDR: serve's HTTP listener
	SPOEAddr     string // OAUTH2_PASSWORD_SPOE_ADDR: serve -spoe
	UpstreamAddr string // UPSTREAM_ADDR: the protected API
}

// Environ is Env as NAME=value lines.
func (e Env) Environ() []string {
	return []string{"PROXY_ADDR=" + e.ProxyAddr, "TLS_CERT=" + e.TLSCert, "OAUTH2_PASSWORD_ADDR=" + e.ServeAddr,
		"OAUTH2_PASSWORD_SPOE_ADDR=" + e.SPOEAddr, "UPSTREAM_ADDR=" + e.UpstreamAddr}
}

// Bin finds haproxy. A missing one is an error that says how to install it:
// the tests fail on it, they never skip.
func Bin() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", fmt.Errorf("haproxy not found: apt-get install haproxy (.ci/run installs it)")
}

// Certificate writes a self-signed certificate for loopback into dir, as
// the single PEM file (certificate, then key) HAProxy's crt takes, and
// returns its path and a client that trusts it.
func Certificate(dir string) (string, *http.Client, error) {
	cert, key, err := tlscert.Write(dir, time.Hour)
	if err != nil {
		return "", nil, err
	}
	c, err := os.ReadFile(cert)
	if err != nil {
		return "", nil, err
	}
	k, err := os.ReadFile(key)
	if err != nil {
		return "", nil, err
	}
	pemFile := filepath.Join(dir, "haproxy.pem")
	if err := os.WriteFile(pemFile, append(c, k...), 0o600); err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	tr.MaxIdleConnsPerHost = 128
	return pemFile, &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// Command is HAProxy in the foreground (-db) on config (deploy/haproxy's
// haproxy.cfg; spoe.conf is read from beside it) with e in its
// environment.
func Command(bin, config string, e Env) *exec.Cmd {
	cmd := exec.Command(bin, "-db", "-f", config)
	cmd.Env = append(os.Environ(), e.Environ()...)
	return cmd
}

// ConfigPath is deploy/haproxy/haproxy.cfg under the repository root.
func ConfigPath(root string) string { return filepath.Join(root, "deploy", "haproxy", "haproxy.cfg") }

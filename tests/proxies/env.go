package proxies

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Env is what a proxy configuration leaves open.
type Env struct {
	ProxyAddr    string // PROXY_ADDR: where clients connect (HTTPS)
	ServeAddr    string // OAUTH2_PASSWORD_ADDR: oauth2-password serve
	UpstreamAddr string // UPSTREAM_ADDR: the protected API
	TLSCert      string // TLS_CERT
	TLSKey       string // TLS_KEY
}

// Vars are the placeholder names and their values.
func (e Env) Vars() map[string]string {
	return map[string]string{
		"PROXY_ADDR": e.ProxyAddr, "OAUTH2_PASSWORD_ADDR": e.ServeAddr, "UPSTREAM_ADDR": e.UpstreamAddr,
		"TLS_CERT": e.TLSCert, "TLS_KEY": e.TLSKey,
	}
}

// Environ is Vars as NAME=value lines, for Caddy.
func (e Env) Environ() []string {
	var out []string
	for k, v := range e.Vars() {
		out = append(out, k+"="+v)
	}
	return out
}

var envsubstRe = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

// Envsubst fills the ${NAME} placeholders of the file at path, as
// `envsubst '$PROXY_ADDR …'` would. A placeholder Env does not know is an
// error, so the file and the docs cannot drift apart silently.
func Envsubst(path string, e Env) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	vars := e.Vars()
	var unknown []string
	out := envsubstRe.ReplaceAllStringFunc(string(b), func(m string) string {
		name := envsubstRe.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			unknown = append(unknown, name)
		}
		return v
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("%s: unknown placeholders %s", path, strings.Join(unknown, ", "))
	}
	return out, nil
}

package proxies

import (
	"net/http"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestUnderscoreSpellingsNeverReachTheAPI: a client sends the identity
// headers spelled with underscores (X_Authenticated_Userid, and mixes such
// as X-Consumer_ID), which an upstream reading CGI-style variables
// (PHP-FPM, uWSGI: HTTP_X_AUTHENTICATED_USERID) cannot tell from the real
// ones. Through nginx and Caddy with this repository's configs, the API
// never sees any of them, and still gets the real identity.
func TestUnderscoreSpellingsNeverReachTheAPI(t *testing.T) {
	b := startBackend(t, harness.SQLiteURL(t))
	for _, name := range proxyNames {
		t.Run(name, func(t *testing.T) {
			p := proxyFor(t, name, b.serveAddr(), b.api.addr())
			tr := p.mustToken(t, b.bob, "user-42", "orders.read")
			h := http.Header{}
			for _, id := range identityHeaders {
				for _, spelling := range underscoreSpellings(id) {
					h[spelling] = []string{"spoofed"} // as written, not canonicalized
				}
			}
			for _, token := range []string{tr.AccessToken, ""} {
				a := p.do(t, "GET", "/orders/1", token, h, "")
				if token == "" {
					// Refused (401): nothing reached the API at all.
					if a.status != 401 {
						t.Errorf("%s: no token: %d, want 401", p.name, a.status)
					}
					continue
				}
				e := a.echo(t)
				for got := range e.Header {
					if strings.Contains(got, "_") && isIdentity(got) {
						t.Errorf("%s: the API got %s: %v", p.name, got, e.Header[got])
					}
				}
				if v, _ := e.has("X-Authenticated-Userid"); v != "user-42" {
					t.Errorf("%s: the API got X-Authenticated-Userid %q, want user-42", p.name, v)
				}
			}
		})
	}
}

// underscoreSpellings are the spellings of name with "_" for one or more
// of its "-", in two cases.
func underscoreSpellings(name string) []string {
	parts := strings.Split(name, "-")
	var out []string
	for mask := 1; mask < 1<<(len(parts)-1); mask++ {
		var b strings.Builder
		b.WriteString(parts[0])
		for i, p := range parts[1:] {
			if mask&(1<<i) != 0 {
				b.WriteByte('_')
			} else {
				b.WriteByte('-')
			}
			b.WriteString(p)
		}
		out = append(out, b.String(), strings.ToLower(b.String()))
	}
	return out
}

// isIdentity reports whether header name, with "_" read as "-" as a CGI
// gateway reads it, is one of the identity headers.
func isIdentity(name string) bool {
	n := strings.ReplaceAll(name, "_", "-")
	for _, id := range identityHeaders {
		if strings.EqualFold(n, id) {
			return true
		}
	}
	return false
}

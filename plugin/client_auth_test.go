package plugin

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// TestBasicWithoutColonIsNotLogged: a Basic value without ':' is all
// client_id to Kong, but it may be a secret sent alone by mistake; a line
// about the request (here: the store is down) is logged without it.
func TestBasicWithoutColonIsNotLogged(t *testing.T) {
	v := newEnvWith(t, func(s Store) Store { return blockingStore{s} })
	c := v.config("")
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect"} {
		f := v.tokenReq(url.Values{"grant_type": {"password"}, "token": {"x"}})
		f.path = path
		f.headers["authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(testSecret))}
		access(c, f)
		if f.status != 503 {
			t.Errorf("%s with Basic <secret>, store down: %d %s, want 503", path, f.status, f.respBody)
		}
	}
	if strings.Contains(v.logs(), testSecret) {
		t.Errorf("a Basic value without ':' reached the log:\n%s", v.logs())
	}
	if !strings.Contains(v.logs(), msgStoreFailed) {
		t.Errorf("the failures were not logged at all, so the test proves nothing:\n%s", v.logs())
	}
}

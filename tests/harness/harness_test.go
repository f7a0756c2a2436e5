package harness

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestSmoke: a client created by the CLI gets a token from the real plugin
// over TLS, and the token opens the protected route.
func TestSmoke(t *testing.T) {
	db := SQLiteURL(t)
	st := Start(t, db)
	cons, err := st.Host.AddConsumer(konghost.Consumer{Username: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Host.AddService(konghost.ServiceSpec{Name: "api", Host: "api.test",
		Config: map[string]any{"provision_key": "pk-harness-0123456789"}}); err != nil {
		t.Fatal(err)
	}
	c := CreateClient(t, db, "bob", "web")
	form := url.Values{"grant_type": {"password"}, "provision_key": {"pk-harness-0123456789"},
		"authenticated_userid": {"u1"}, "client_id": {c.ID}, "client_secret": {c.Secret}}
	resp, err := st.Front.Client().PostForm("https://api.test/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := DecodeToken(resp)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Status != 200 || tok.AccessToken == "" {
		t.Fatalf("token endpoint answered %d %s: %s", tok.Status, tok.Error, tok.ErrorDescription)
	}
	req, _ := http.NewRequest("GET", "http://api.test/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err = st.Front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	echo, err := konghost.DecodeEcho(resp)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got, _ := echo.Header("x-consumer-id"); got != cons.ID {
		t.Errorf("X-Consumer-ID = %q, want %q", got, cons.ID)
	}
	if got, _ := echo.Header("x-authenticated-userid"); !strings.EqualFold(got, "u1") {
		t.Errorf("X-Authenticated-Userid = %q", got)
	}
}

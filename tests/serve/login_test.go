package serve

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestStandardPasswordGrant: serve mode takes the same authenticate_*
// fields from its config file as Kong mode: golang.org/x/oauth2's
// PasswordCredentialsToken gets tokens for a user its login backend (over
// TLS, trusted with -authenticate-ca-file) vouches for, refreshes them,
// and a wrong password is invalid_grant.
func TestStandardPasswordGrant(t *testing.T) {
	t.Parallel()
	backend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Username, Password string }
		if r.Header.Get("X-Login-Secret") != "s3cret-for-the-backend" || json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad request", 500)
			return
		}
		if in.Username != "alice" || in.Password != "alice-pass-0123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"authenticated_userid": "user-alice"})
	}))
	defer backend.Close()
	ca := filepath.Join(t.TempDir(), "login-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: backend.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	db := harness.SQLiteURL(t)
	s := harness.StartServeTLS(t, db, harness.ServeConfig(
		"  accounts:\n    provision_key: \""+provisionKey+"\"\n    scopes: [email]\n"+
			"    authenticate_url: "+backend.URL+"/login\n"+
			"    authenticate_headers: {X-Login-Secret: s3cret-for-the-backend}"), "-authenticate-ca-file", ca)
	c := harness.CreateClient(t, db, "bob", "app")

	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, s.Client), 30*time.Second)
	defer cancel()
	conf := &oauth2.Config{ClientID: c.ID, ClientSecret: c.Secret, Scopes: []string{"email"},
		Endpoint: oauth2.Endpoint{TokenURL: s.URL + "/services/accounts/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-pass-0123")
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	a := get(t, s, "/services/accounts/auth", "Authorization", "Bearer "+tok.AccessToken)
	if a.status != 200 || a.header.Get("X-Authenticated-Userid") != "user-alice" || a.header.Get("X-Authenticated-Scope") != "email" {
		t.Errorf("forward auth with the token: %d, user %q scope %q", a.status, a.header.Get("X-Authenticated-Userid"), a.header.Get("X-Authenticated-Scope"))
	}
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := conf.TokenSource(ctx, tok).Token()
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Fatalf("refresh through golang.org/x/oauth2: %v", err)
	}
	_, err = conf.PasswordCredentialsToken(ctx, "alice", "wrong")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 400 || re.ErrorCode != "invalid_grant" {
		t.Errorf("wrong password: %v", err)
	}
}

// TestLoginSlowerThanTheWriteTimeout: a login backend slower than serve's
// -write-timeout, under an authenticate_timeout longer still, is answered
// 503 temporarily_unavailable before the write timeout, not with the
// connection closed unanswered.
func TestLoginSlowerThanTheWriteTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer backend.Close()
	defer close(release)
	db := harness.SQLiteURL(t)
	s := harness.StartServeTLS(t, db, harness.ServeConfig(
		"  accounts:\n    provision_key: \""+provisionKey+"\"\n"+
			"    authenticate_url: "+backend.URL+"/login\n    authenticate_timeout: 6000"), "-write-timeout", "2s")
	c := harness.CreateClient(t, db, "bob", "app")
	start := time.Now()
	a := post(t, s, "/services/accounts/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw-0123456789"},
		"client_id": {c.ID}, "client_secret": {c.Secret}})
	if a.status != 503 || a.json(t)["error"] != "temporarily_unavailable" {
		t.Errorf("after %v: %d %s, want 503 temporarily_unavailable", time.Since(start).Round(time.Millisecond), a.status, a.body)
	}
}

package plugin

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"scopes": null}`)
	tok := v.issue(c, "scope", "<del>")
	if tok["expires_in"] != float64(7200) {
		t.Errorf("expires_in = %v, want the default 7200", tok["expires_in"])
	}
	st, err := v.st.TokenByRefresh(t.Context(), digestOfStr(str(tok, "refresh_token")))
	if err != nil {
		t.Fatal(err)
	}
	if got := st.RefreshExpiresAt.Sub(st.IssuedAt).Seconds(); got != 1209600 {
		t.Errorf("refresh lifetime = %vs, want the default 1209600", got)
	}
	// auth_header_name defaults to authorization.
	if f := v.proxy(c, str(tok, "access_token")); f.exited {
		t.Errorf("token in Authorization refused: %d %s", f.status, f.respBody)
	}
}

func TestConfigUnmarshalPicksScopeIDs(t *testing.T) {
	c := NewConfig(nil)
	err := json.Unmarshal([]byte(`{"provision_key":"provision-key-0123456789","service_id":"s-9","route_id":"r-9","__seq__":3,"plugin_instance_name":null}`), c)
	if err != nil || c.serviceID != "s-9" || c.routeID != "r-9" {
		t.Errorf("got err=%v service=%q route=%q", err, c.serviceID, c.routeID)
	}
}

func TestInvalidConfigAnswers500NamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name, json, field string
	}{
		{"provision_key missing", `{"scopes":["a"]}`, "provision_key"},
		{"provision_key empty", `{"provision_key":""}`, "provision_key"},
		{"provision_key not a string", `{"provision_key":12}`, "provision_key"},
		{"negative token_expiration", `{"provision_key":"` + testProvisionKey + `","token_expiration":-1}`, "token_expiration"},
		{"fractional token_expiration", `{"provision_key":"` + testProvisionKey + `","token_expiration":1.5}`, "token_expiration"},
		{"token_expiration past 32 bits", `{"provision_key":"` + testProvisionKey + `","token_expiration":10000000000}`, "token_expiration"},
		{"refresh_token_ttl too big", `{"provision_key":"` + testProvisionKey + `","refresh_token_ttl":100000001}`, "refresh_token_ttl"},
		{"refresh_token_ttl negative", `{"provision_key":"` + testProvisionKey + `","refresh_token_ttl":-5}`, "refresh_token_ttl"},
		{"refresh_token_grace_period negative", `{"provision_key":"` + testProvisionKey + `","refresh_token_grace_period":-1}`, "refresh_token_grace_period"},
		{"refresh_token_grace_period too long", `{"provision_key":"` + testProvisionKey + `","refresh_token_grace_period":301}`, "refresh_token_grace_period"},
		{"mandatory_scope without scopes", `{"provision_key":"` + testProvisionKey + `","mandatory_scope":true}`, "scopes"},
		{"scope with a space", `{"provision_key":"` + testProvisionKey + `","scopes":["a b"]}`, "scopes"},
		{"empty scope", `{"provision_key":"` + testProvisionKey + `","scopes":[""]}`, "scopes"},
		{"empty auth_header_name", `{"provision_key":"` + testProvisionKey + `","auth_header_name":""}`, "auth_header_name"},
		{"boolean as string", `{"provision_key":"` + testProvisionKey + `","hide_credentials":"yes"}`, "hide_credentials"},
		{"scopes not strings", `{"provision_key":"` + testProvisionKey + `","scopes":["a",1]}`, "scopes"},
		{"not an object", `[1,2]`, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			c := NewConfig(v.e)
			if err := c.UnmarshalJSON([]byte(tc.json)); err != nil {
				t.Fatalf("UnmarshalJSON returned %v; it must never fail", err)
			}
			var kongLogs []string
			for i := 0; i < 2; i++ {
				f := v.kong()
				f.path = "/api"
				access(c, f)
				m := f.json()
				msg := str(m, "message")
				if f.status != 500 || !strings.HasPrefix(msg, "invalid plugin configuration: "+tc.field+": ") {
					t.Fatalf("got %d %q, want 500 naming %s", f.status, msg, tc.field)
				}
				if strings.Contains(msg, testProvisionKey) {
					t.Errorf("message echoes the provision key: %q", msg)
				}
				kongLogs = append(kongLogs, f.kongLogs...)
			}
			if len(kongLogs) != 1 || !strings.Contains(v.logs(), "invalid plugin configuration") {
				t.Errorf("config error logged %d times in Kong's log (want once); process log %q", len(kongLogs), v.logs())
			}
			if strings.Contains(v.logs(), testProvisionKey) {
				t.Errorf("log contains the provision key")
			}
		})
	}
}

// TestWeakProvisionKeyRefused: the example's placeholder or a short key is
// a configuration error naming provision_key and how to make a good one,
// without echoing the key; 16 characters are enough.
func TestWeakProvisionKeyRefused(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		refused   bool
	}{
		{"kong.yml's placeholder", "CHANGE-ME-to-a-long-random-value", true},
		{"placeholder in another spelling", "please_changeme_before_production", true},
		{"15 characters", "k3N9vQ2xLp7RtY4", true},
		{"one character", "Q", true},
		{"16 characters", "k3N9vQ2xLp7RtY4w", false},
		{"openssl rand -base64 32", "q1E0Yh7mKc2Hk9yJ3bFvT6wZpXrN4sLdA8uGiQeoR5M=", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t)
			c := NewConfig(v.e)
			raw, _ := json.Marshal(map[string]string{"provision_key": tc.key})
			if err := c.UnmarshalJSON(raw); err != nil {
				t.Fatal(err)
			}
			f := v.kong()
			f.path = "/api"
			access(c, f)
			msg := str(f.json(), "message")
			if !tc.refused {
				if f.status == 500 {
					t.Fatalf("a usable key refused: %q", msg)
				}
				return
			}
			if f.status != 500 || !strings.HasPrefix(msg, "invalid plugin configuration: provision_key: ") ||
				!strings.Contains(msg, "at least 16 characters") || !strings.Contains(msg, "openssl rand") {
				t.Fatalf("got %d %q, want 500 saying provision_key is too weak and how to generate one", f.status, msg)
			}
			if strings.Contains(msg, tc.key) || strings.Contains(v.logs(), tc.key) {
				t.Errorf("the answer or the log echoes the key: %q", msg)
			}
		})
	}
}

func TestConfigAcceptsIntegralFloats(t *testing.T) {
	v := newEnv(t)
	c := v.config(`{"token_expiration": 60.0}`)
	if tok := v.issue(c); tok["expires_in"] != float64(60) {
		t.Errorf("expires_in = %v", tok["expires_in"])
	}
}

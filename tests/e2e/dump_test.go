package e2e

import (
	"sort"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestDump: `oauth2-password -dump`, Kong's query command, reports what
// Kong needs to load the plugin: the ProtoBuf protocol, the plugin name
// (the binary's name), the access phase only, priority 1400, and every
// configuration field of the contract with its type, and nothing else
// (Kong would then accept fields the plugin ignores).
func TestDump(t *testing.T) {
	t.Parallel()
	info, err := konghost.Dump(harness.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Protocol != "ProtoBuf:1" || info.Name != "oauth2-password" || info.Priority != 1400 {
		t.Errorf("dump: protocol %q, name %q, priority %d; want ProtoBuf:1, oauth2-password, 1400", info.Protocol, info.Name, info.Priority)
	}
	if len(info.Phases) != 1 || !info.HasPhase("access") {
		t.Errorf("phases %v, want [access]", info.Phases)
	}
	want := map[string]string{
		"provision_key":                     "string",
		"scopes":                            "array",
		"mandatory_scope":                   "boolean",
		"token_expiration":                  "integer",
		"refresh_token_ttl":                 "integer",
		"reuse_refresh_token":               "boolean",
		"global_credentials":                "boolean",
		"hide_credentials":                  "boolean",
		"accept_http_if_already_terminated": "boolean",
		"anonymous":                         "string",
		"auth_header_name":                  "string",
		"realm":                             "string",
		// The standard password grant (README), beyond the contract's table.
		"authenticate_url":     "string",
		"authenticate_timeout": "integer",
		"authenticate_headers": "map",
		"authenticate_params":  "array",
		// Upstream identity (docs/upstream-jwt.md).
		"upstream_jwt":        "boolean",
		"upstream_jwt_header": "string",
		"upstream_jwt_ttl":    "integer",
		// Retries of a refresh whose answer was lost (HA docs).
		"refresh_token_grace_period": "integer",
	}
	var got []string
	for _, f := range info.Fields {
		got = append(got, f.Name)
		typ, ok := want[f.Name]
		switch {
		case !ok:
			t.Errorf("schema has field %q, which is not in the contract", f.Name)
		case f.Type != typ:
			t.Errorf("field %q has type %q, want %q", f.Name, f.Type, typ)
		}
	}
	for name := range want {
		if _, ok := info.Field(name); !ok {
			t.Errorf("schema lacks field %q", name)
		}
	}
	if f, ok := info.Field("scopes"); ok {
		if el, _ := f.Decl["elements"].(map[string]any); el["type"] != "string" {
			t.Errorf("scopes elements %v, want strings", f.Decl["elements"])
		}
	}
	if f, ok := info.Field("authenticate_headers"); ok {
		keys, _ := f.Decl["keys"].(map[string]any)
		values, _ := f.Decl["values"].(map[string]any)
		if keys["type"] != "string" || values["type"] != "string" {
			t.Errorf("authenticate_headers %v, want a map of strings to strings", f.Decl)
		}
	}
	sort.Strings(got)
	t.Logf("schema fields: %v", got)
}

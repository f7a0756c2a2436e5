package e2e

import (
	"maps"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestKongYML: the shipped declarative config is one Kong 3.x accepts for
// this plugin (every config field exists in the schema the binary reports,
// with the right type), and the plugin works with it.
func TestKongYML(t *testing.T) {
	t.Parallel()
	doc, err := harness.ReadKongYML("")
	if err != nil {
		t.Fatalf("kong/kong.yml: %v", err)
	}
	if doc.FormatVersion != "3.0" {
		t.Errorf("_format_version %q, want \"3.0\" (Kong 3.x)", doc.FormatVersion)
	}
	info, err := konghost.Dump(harness.Binary(t))
	if err != nil {
		t.Fatal(err)
	}

	var config map[string]any
	var prefix string
	for _, s := range doc.Services {
		for _, p := range s.Plugins {
			if p.Name != "oauth2-password" {
				continue
			}
			if config != nil {
				t.Fatal("more than one oauth2-password plugin: update this test")
			}
			config = p.Config
			if len(s.Routes) > 0 && len(s.Routes[0].Paths) > 0 {
				prefix = s.Routes[0].Paths[0]
			}
		}
	}
	if config == nil {
		t.Fatal("kong/kong.yml enables no plugin named oauth2-password")
	}
	for name, v := range config {
		f, ok := info.Field(name)
		if !ok {
			t.Errorf("config field %q is not in the plugin's schema: Kong would reject kong.yml", name)
			continue
		}
		if got := yamlType(v); got != f.Type {
			t.Errorf("config field %q is a %s in kong.yml, the schema says %s", name, got, f.Type)
		}
		if list, ok := v.([]any); ok {
			el, _ := f.Decl["elements"].(map[string]any)
			for _, x := range list {
				if yamlType(x) != el["type"] {
					t.Errorf("config field %q has a %s element, the schema says %v", name, yamlType(x), el["type"])
				}
			}
		}
	}
	if len(doc.Consumers) == 0 {
		t.Fatal("kong/kong.yml declares no consumer to register clients for")
	}

	// The same config, fed to the real plugin: as shipped, its placeholder
	// provision_key is refused with a message saying what to do; with a
	// real key it issues and validates tokens.
	db := harness.SQLiteURL(t)
	e := start(t, db)
	yc := doc.Consumers[0]
	if yc.Username == "" || yc.CustomID == "" {
		t.Fatalf("kong.yml's consumer %+v: this test needs a username and a custom_id", yc)
	}
	cons := e.consumer(konghost.Consumer{Username: yc.Username, CustomID: yc.CustomID})
	e.service(konghost.ServiceSpec{Name: "placeholder", Host: "placeholder.example", PathPrefix: prefix, Config: config})
	if r := e.get("https://placeholder.example"+prefix+"/orders/1", ""); r.StatusCode != 500 ||
		!strings.Contains(string(r.body), "provision_key: must be a random value") {
		t.Errorf("kong.yml's placeholder provision_key: %d %s; want 500 naming provision_key", r.StatusCode, r.body)
	}
	const pk = "kongyml-test-provision-key-0123456789"
	config = maps.Clone(config)
	config["provision_key"] = pk
	e.service(konghost.ServiceSpec{Name: "orders", Host: "kong.example", PathPrefix: prefix, Config: config})
	c := harness.CreateClient(t, db, cons.Username, "web")
	form := passwordForm(c, pk, "user-1", "orders.read")
	_, tr := e.postToken("kong.example"+prefix, form) // the token endpoint under the route's path
	if tr.Status != 200 || tr.AccessToken == "" {
		t.Fatalf("password grant with kong.yml's config: %d %s %s", tr.Status, tr.Error, tr.ErrorDescription)
	}
	ec := e.get("https://kong.example"+prefix+"/orders/1", tr.AccessToken).echo(t)
	if got, _ := ec.Header("x-consumer-custom-id"); got != cons.CustomID {
		t.Errorf("X-Consumer-Custom-ID %q, want %q", got, cons.CustomID)
	}
	if got, _ := ec.Header("x-authenticated-scope"); got != "orders.read" {
		t.Errorf("X-Authenticated-Scope %q", got)
	}
	if hide, _ := config["hide_credentials"].(bool); hide {
		if _, sent := ec.Header("authorization"); sent {
			t.Error("hide_credentials is on in kong.yml but the token reached the upstream")
		}
	}
}

// yamlType names a decoded YAML value with Kong's schema type names.
func yamlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int:
		return "integer"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "record"
	}
	return "null"
}

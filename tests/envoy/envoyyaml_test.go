package envoy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"

	// The @types envoy.yaml names; protojson resolves an Any only to a
	// registered type, so a typo in a type URL fails the parse.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// grpcFilter is the gRPC ext_authz filter's name in envoy.yaml.
const grpcFilter = "envoy.filters.http.ext_authz"

// loadBootstrap parses an Envoy config the way Envoy reads it: YAML as
// JSON into envoy.config.bootstrap.v3.Bootstrap, no unknown field, then
// Envoy's own validation rules (protoc-gen-validate).
func loadBootstrap(t *testing.T, path string) *bootstrapv3.Bootstrap {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s: not representable as JSON: %v", path, err)
	}
	var b bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &b); err != nil {
		t.Fatalf("%s does not parse as an Envoy bootstrap: %v", path, err)
	}
	if err := b.ValidateAll(); err != nil {
		t.Fatalf("%s breaks Envoy's validation rules: %v", path, err)
	}
	return &b
}

// TestEnvoyYAMLParses: the example parses, and a typo in a field or a type
// URL does not (so the check has teeth).
func TestEnvoyYAMLParses(t *testing.T) {
	loadBootstrap(t, "../../deploy/envoy/envoy.yaml")
	raw, err := os.ReadFile("../../deploy/envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]string{
		"unknown field":  strings.Replace(string(raw), "failure_mode_allow: false", "failure_mode_alow: false", 1),
		"unknown @type":  strings.Replace(string(raw), "ext_authz.v3.ExtAuthzPerRoute", "ext_authz.v3.ExtAuthzPerRout", 1),
		"invalid status": strings.Replace(string(raw), "code: ServiceUnavailable", "code: Unavailable", 1),
	} {
		if broken == string(raw) {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		var doc any
		if err := yaml.Unmarshal([]byte(broken), &doc); err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(doc)
		if err := protojson.Unmarshal(js, &bootstrapv3.Bootstrap{}); err == nil {
			t.Errorf("%s: envoy.yaml with it still parses", name)
		}
	}
}

// TestEnvoyYAMLRoutes: what the README promises of the example. Every
// route either disables the gRPC filter or names a SERVICE that serve.yaml
// configures; the HTTP filter's path_prefix names one too; the token route
// reaches serve's HTTP listener with both filters off; no ext_authz filter
// fails open; the gRPC cluster speaks HTTP/2.
func TestEnvoyYAMLRoutes(t *testing.T) {
	b := loadBootstrap(t, "../../deploy/envoy/envoy.yaml")
	services := serveServices(t, "../../deploy/envoy/serve.yaml")
	hcm := &hcmv3.HttpConnectionManager{}
	if err := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	filters := map[string]*extauthzv3.ExtAuthz{}
	for _, f := range hcm.GetHttpFilters() {
		ea := &extauthzv3.ExtAuthz{}
		if f.GetTypedConfig().MessageIs(ea) {
			if err := f.GetTypedConfig().UnmarshalTo(ea); err != nil {
				t.Fatal(err)
			}
			filters[f.GetName()] = ea
			if ea.GetFailureModeAllow() {
				t.Errorf("filter %s: failure_mode_allow is true: a failed check would let requests through", f.GetName())
			}
		}
	}
	if filters[grpcFilter].GetGrpcService() == nil {
		t.Fatalf("no gRPC ext_authz filter named %s", grpcFilter)
	}
	for name, f := range filters {
		if hs := f.GetHttpService(); hs != nil {
			svc, ok := strings.CutPrefix(hs.GetPathPrefix(), "/services/")
			svc, ok2 := strings.CutSuffix(svc, "/ext-authz")
			if !ok || !ok2 || !services[svc] {
				t.Errorf("filter %s: path_prefix %q is not /services/SERVICE/ext-authz of a service in serve.yaml", name, hs.GetPathPrefix())
			}
		}
	}

	var sawToken, sawGRPC, sawHTTP bool
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			per := perRoute(t, r)
			// A filter a route does not configure runs on it.
			enabled := 0
			for name := range filters {
				if !per[name].GetDisabled() {
					enabled++
				}
			}
			g := per[grpcFilter]
			if !g.GetDisabled() {
				svc := g.GetCheckSettings().GetContextExtensions()["service"]
				if !services[svc] {
					t.Errorf("route %s: context_extensions service %q is not in serve.yaml", r.GetMatch().GetPrefix(), svc)
				}
				sawGRPC = true
			}
			if enabled > 1 {
				t.Errorf("route %s: checked by %d ext_authz filters", r.GetMatch().GetPrefix(), enabled)
			}
			if enabled == 1 && g.GetDisabled() {
				sawHTTP = true
			}
			if rw := r.GetRoute().GetPrefixRewrite(); strings.HasSuffix(rw, "/oauth2/") {
				svc := strings.TrimSuffix(strings.TrimPrefix(rw, "/services/"), "/oauth2/")
				if !services[svc] || enabled != 0 || r.GetRoute().GetCluster() != "oauth2_password_http" {
					t.Errorf("token route %s: rewrite %q, %d ext_authz filters on, cluster %q", r.GetMatch().GetPrefix(), rw, enabled, r.GetRoute().GetCluster())
				}
				sawToken = true
			}
		}
	}
	if !sawToken || !sawGRPC || !sawHTTP {
		t.Errorf("envoy.yaml has token route %v, gRPC-checked route %v, HTTP-checked route %v; want all", sawToken, sawGRPC, sawHTTP)
	}

	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() != filters[grpcFilter].GetGrpcService().GetEnvoyGrpc().GetClusterName() {
			continue
		}
		opts := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
		js, _ := protojson.Marshal(opts)
		if !strings.Contains(string(js), "http2ProtocolOptions") {
			t.Errorf("cluster %s does not speak HTTP/2: %s", c.GetName(), js)
		}
	}
}

// perRoute decodes a route's ExtAuthzPerRoute configs by filter name.
func perRoute(t *testing.T, r *routev3.Route) map[string]*extauthzv3.ExtAuthzPerRoute {
	t.Helper()
	out := map[string]*extauthzv3.ExtAuthzPerRoute{}
	for name, a := range r.GetTypedPerFilterConfig() {
		p := &extauthzv3.ExtAuthzPerRoute{}
		if err := a.UnmarshalTo(p); err != nil {
			t.Fatalf("route %s, %s: %v", r.GetMatch().GetPrefix(), name, err)
		}
		out[name] = p
	}
	return out
}

// serveServices are the SERVICE names of a serve config file.
func serveServices(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for k := range c.Services {
		out[k] = true
	}
	return out
}

// TestEnvoyYAMLRejectsUnderscoreHeaders: the example refuses header names
// with underscores (X_Authenticated_Userid), which an upstream reading
// CGI-style variables would take for the identity headers ext_authz sets;
// Envoy's default is to allow them.
func TestEnvoyYAMLRejectsUnderscoreHeaders(t *testing.T) {
	b := loadBootstrap(t, "../../deploy/envoy/envoy.yaml")
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if !f.GetTypedConfig().MessageIs(hcm) {
					continue
				}
				if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
					t.Fatal(err)
				}
				got := hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction()
				if got != corev3.HttpProtocolOptions_REJECT_REQUEST && got != corev3.HttpProtocolOptions_DROP_HEADER {
					t.Errorf("listener %s: headers_with_underscores_action is %v, want REJECT_REQUEST or DROP_HEADER", l.GetName(), got)
				}
			}
		}
	}
}

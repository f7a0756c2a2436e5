package k8s

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	kongv1 "github.com/kong/kubernetes-configuration/api/configuration/v1"
	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	istionetv1 "istio.io/client-go/pkg/apis/networking/v1"
	istionetv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	istiosecv1 "istio.io/client-go/pkg/apis/security/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	"sigs.k8s.io/yaml"
)

// manifestDocs reads every YAML document of a manifest file of
// deploy/kubernetes.
func manifestDocs(t *testing.T, rel string) []Doc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(Root(), "deploy", "kubernetes", rel))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := SplitDocs(rel, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// TestManifests decodes every object of the Kong Ingress Controller, Envoy
// Gateway and Istio manifests strictly into its project's own Go type; an
// object of a kind not listed here fails the test, so nothing goes
// unchecked.
func TestManifests(t *testing.T) {
	decoders := map[string]func(Doc) error{
		"configuration.konghq.com/v1 KongPlugin":             strictInto[kongv1.KongPlugin],
		"configuration.konghq.com/v1 KongClusterPlugin":      strictInto[kongv1.KongClusterPlugin],
		"networking.k8s.io/v1 Ingress":                       strictInto[networkingv1.Ingress],
		"gateway.networking.k8s.io/v1 HTTPRoute":             strictInto[gwv1.HTTPRoute],
		"gateway.networking.k8s.io/v1beta1 ReferenceGrant":   strictInto[gwv1beta1.ReferenceGrant],
		"gateway.envoyproxy.io/v1alpha1 SecurityPolicy":      strictInto[egv1a1.SecurityPolicy],
		"gateway.envoyproxy.io/v1alpha1 ClientTrafficPolicy": strictInto[egv1a1.ClientTrafficPolicy],
		"security.istio.io/v1 AuthorizationPolicy":           strictInto[istiosecv1.AuthorizationPolicy],
		"networking.istio.io/v1 VirtualService":              strictInto[istionetv1.VirtualService],
		"networking.istio.io/v1alpha3 EnvoyFilter":           strictInto[istionetv1alpha3.EnvoyFilter],
	}
	for _, file := range []string{
		"kong/plugin.yaml", "kong/ingress.yaml",
		"envoy-gateway/security-policy.yaml",
		"istio/authorization-policy.yaml", "istio/virtualservice.yaml", "istio/envoyfilter.yaml", "istio/reject-underscore-headers.yaml",
	} {
		for _, d := range manifestDocs(t, file) {
			dec, ok := decoders[d.APIVersion+" "+d.Kind]
			if !ok {
				t.Errorf("%s: %s %s has no decoder in this test", d.Source, d.APIVersion, d.Kind)
				continue
			}
			if err := dec(d); err != nil {
				t.Error(err)
			}
		}
	}
}

func strictInto[T any](d Doc) error {
	var v T
	return Strict(d, &v)
}

// TestManifestsPointAtTheChart: the manifests name what the chart renders
// (Service oauth2-password in auth, ports 8080 and 9191), the gRPC providers
// fail closed, and the token endpoints reach serve's /services/SERVICE/oauth2/.
func TestManifestsPointAtTheChart(t *testing.T) {
	var sp egv1a1.SecurityPolicy
	var tokenRoute gwv1.HTTPRoute
	var ctp egv1a1.ClientTrafficPolicy
	for _, d := range manifestDocs(t, "envoy-gateway/security-policy.yaml") {
		switch {
		case d.Kind == "SecurityPolicy":
			must(t, Strict(d, &sp))
		case d.Kind == "HTTPRoute" && d.Metadata.Name == "orders-oauth2":
			must(t, Strict(d, &tokenRoute))
		case d.Kind == "ClientTrafficPolicy":
			must(t, Strict(d, &ctp))
		}
	}
	ext := sp.Spec.ExtAuth
	if ext == nil || ext.GRPC == nil || len(ext.GRPC.BackendRefs) != 1 {
		t.Fatalf("SecurityPolicy extAuth %+v, want gRPC to one backend", ext)
	}
	ref := ext.GRPC.BackendRefs[0]
	if ref.Name != "oauth2-password" || string(*ref.Namespace) != "auth" || *ref.Port != 9191 {
		t.Errorf("extAuth backend %s/%s:%d, want the chart's Service auth/oauth2-password:9191", *ref.Namespace, ref.Name, *ref.Port)
	}
	if ext.FailOpen == nil || *ext.FailOpen {
		t.Error("extAuth must fail closed (failOpen: false)")
	}
	rw := tokenRoute.Spec.Rules[0].Filters[0].URLRewrite.Path.ReplacePrefixMatch
	if rw == nil || *rw != "/services/orders/oauth2/" || tokenRoute.Spec.Rules[0].BackendRefs[0].Port == nil || *tokenRoute.Spec.Rules[0].BackendRefs[0].Port != 8080 {
		t.Errorf("token route rewrites to %v on port %v, want /services/orders/oauth2/ on 8080", rw, tokenRoute.Spec.Rules[0].BackendRefs[0].Port)
	}
	if ctp.Spec.Headers == nil || ctp.Spec.Headers.WithUnderscoresAction == nil || *ctp.Spec.Headers.WithUnderscoresAction == egv1a1.WithUnderscoresActionAllow {
		t.Error("ClientTrafficPolicy lets clients send underscore header spellings")
	}

	var ap istiosecv1.AuthorizationPolicy
	must(t, Strict(manifestDocs(t, "istio/authorization-policy.yaml")[0], &ap))
	if ap.Spec.GetAction().String() != "CUSTOM" || ap.Spec.GetProvider().GetName() != "oauth2-password" {
		t.Errorf("AuthorizationPolicy action %s provider %s", ap.Spec.GetAction(), ap.Spec.GetProvider().GetName())
	}
	var plugin kongv1.KongPlugin
	must(t, Strict(manifestDocs(t, "kong/plugin.yaml")[0], &plugin))
	if plugin.PluginName != "oauth2-password" || plugin.ConfigFrom == nil {
		t.Errorf("KongPlugin names %q, configFrom %v; want oauth2-password with its config from a Secret", plugin.PluginName, plugin.ConfigFrom)
	}
	var ing networkingv1.Ingress
	must(t, Strict(manifestDocs(t, "kong/ingress.yaml")[0], &ing))
	if ing.Annotations["konghq.com/plugins"] != plugin.Name {
		t.Errorf("Ingress konghq.com/plugins %q, want the KongPlugin %q", ing.Annotations["konghq.com/plugins"], plugin.Name)
	}
}

// TestIstioMeshConfig decodes istiod-values.yaml's meshConfig into Istio's
// MeshConfig (protojson refuses unknown fields) and checks the provider
// the AuthorizationPolicy names.
func TestIstioMeshConfig(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(Root(), "deploy", "kubernetes", "istio", "istiod-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		MeshConfig any `json:"meshConfig"`
	}
	if err := yaml.UnmarshalStrict(raw, &values); err != nil {
		t.Fatal(err)
	}
	j, err := yaml.Marshal(values.MeshConfig)
	must(t, err)
	j, err = yaml.YAMLToJSON(j)
	must(t, err)
	var mc meshv1alpha1.MeshConfig
	if err := protojson.Unmarshal(j, &mc); err != nil {
		t.Fatalf("meshConfig: %v", err)
	}
	var found bool
	for _, p := range mc.GetExtensionProviders() {
		g := p.GetEnvoyExtAuthzGrpc()
		if p.GetName() != "oauth2-password" || g == nil {
			continue
		}
		found = true
		if g.GetService() != "oauth2-password.auth.svc.cluster.local" || g.GetPort() != 9191 || g.GetFailOpen() {
			t.Errorf("provider: service %s port %d failOpen %v", g.GetService(), g.GetPort(), g.GetFailOpen())
		}
	}
	if !found {
		t.Fatal("no envoyExtAuthzGrpc provider named oauth2-password")
	}
}

// TestKongValues: Kong's chart values load our plugin server: the plugin is
// enabled, its start command serves the socket Kong is told of, and its
// query command is -dump.
func TestKongValues(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(Root(), "deploy", "kubernetes", "kong", "kong-values.yaml"))
	must(t, err)
	var v struct {
		Env           map[string]string `json:"env"`
		SecretVolumes []string          `json:"secretVolumes"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	e := v.Env
	if !strings.Contains(e["plugins"], "oauth2-password") || e["pluginserver_names"] != "oauth2-password" {
		t.Errorf("plugins %q pluginserver_names %q", e["plugins"], e["pluginserver_names"])
	}
	socket, start := e["pluginserver_oauth2_password_socket"], e["pluginserver_oauth2_password_start_cmd"]
	if !strings.Contains(start, "-kong-prefix "+filepath.Dir(socket)) || filepath.Base(socket) != "oauth2-password.socket" {
		t.Errorf("start_cmd %q does not serve the socket %q", start, socket)
	}
	if !strings.HasSuffix(e["pluginserver_oauth2_password_query_cmd"], "oauth2-password -dump") {
		t.Errorf("query_cmd %q", e["pluginserver_oauth2_password_query_cmd"])
	}
	if !strings.Contains(start, "-database-url-file /etc/secrets/"+v.SecretVolumes[0]+"/") {
		t.Errorf("start_cmd %q reads no file of the mounted Secret %v", start, v.SecretVolumes)
	}
	// Trusting every address lets any client name its own address to the
	// throttles and claim TLS at the token endpoint.
	for _, r := range strings.Split(e["trusted_ips"], ",") {
		if r == "0.0.0.0/0" || r == "::/0" || r == "" {
			t.Errorf("trusted_ips %q trusts every address", e["trusted_ips"])
		}
	}
	if e["real_ip_recursive"] != "on" {
		t.Errorf("real_ip_recursive %q: with X-Forwarded-For, the right-most untrusted hop is the client", e["real_ip_recursive"])
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestIstioPolicyChecksEveryRequest: the CUSTOM policy on the API workload
// exempts no path (an exempted path reaches the API unchecked, perhaps
// spelled so that the API resolves it to a protected one).
func TestIstioPolicyChecksEveryRequest(t *testing.T) {
	for _, d := range manifestDocs(t, "istio/authorization-policy.yaml") {
		var p istiosecv1.AuthorizationPolicy
		must(t, Strict(d, &p))
		rules := p.Spec.GetRules()
		if len(rules) == 0 {
			t.Errorf("%s: no rules: a CUSTOM policy without rules checks nothing", p.Name)
		}
		for _, r := range rules {
			if len(r.GetFrom()) > 0 || len(r.GetTo()) > 0 || len(r.GetWhen()) > 0 {
				t.Errorf("%s: rule %v narrows which requests are checked", p.Name, r)
			}
		}
	}
}

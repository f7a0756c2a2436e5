package k8s

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
)

var valueSets = []string{"postgres-values.yaml", "embedded-values.yaml", "full-values.yaml"}

// TestChartLint: `helm lint --strict` passes for every value set of ci/.
func TestChartLint(t *testing.T) {
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range valueSets {
		t.Run(name, func(t *testing.T) {
			vals, err := ValuesFile(name)
			if err != nil {
				t.Fatal(err)
			}
			l := action.NewLint()
			l.Strict, l.Namespace, l.KubeVersion = true, Release.Namespace, kv
			res := l.Run([]string{ChartDir()}, vals)
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			if len(res.Errors) > 0 || res.TotalChartsLinted != 1 {
				t.Fatalf("helm lint --strict: %d charts linted, errors %v", res.TotalChartsLinted, res.Errors)
			}
		})
	}
}

// rendered is a value set's objects decoded into their API types.
type rendered struct {
	deployments  []appsv1.Deployment
	statefulSets []appsv1.StatefulSet
	services     []corev1.Service
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	accounts     []corev1.ServiceAccount
	jobs         []batchv1.Job
	pdbs         []policyv1.PodDisruptionBudget
	hpas         []autoscalingv2.HorizontalPodAutoscaler
	monitors     []monitoringv1.ServiceMonitor
	notes        string
}

// decodeAll decodes every rendered object strictly into its kind's type;
// a kind the chart is not known to render is an error.
func decodeAll(docs []Doc) (*rendered, error) {
	r := &rendered{}
	for _, d := range docs {
		var err error
		switch d.APIVersion + " " + d.Kind {
		case "apps/v1 Deployment":
			r.deployments, err = appendStrict(r.deployments, d)
		case "apps/v1 StatefulSet":
			r.statefulSets, err = appendStrict(r.statefulSets, d)
		case "v1 Service":
			r.services, err = appendStrict(r.services, d)
		case "v1 ConfigMap":
			r.configMaps, err = appendStrict(r.configMaps, d)
		case "v1 Secret":
			r.secrets, err = appendStrict(r.secrets, d)
		case "v1 ServiceAccount":
			r.accounts, err = appendStrict(r.accounts, d)
		case "batch/v1 Job":
			r.jobs, err = appendStrict(r.jobs, d)
		case "policy/v1 PodDisruptionBudget":
			r.pdbs, err = appendStrict(r.pdbs, d)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpas, err = appendStrict(r.hpas, d)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.monitors, err = appendStrict(r.monitors, d)
		default:
			err = fmt.Errorf("%s: unexpected object %s %s", d.Source, d.APIVersion, d.Kind)
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func appendStrict[T any](list []T, d Doc) ([]T, error) {
	var v T
	if err := Strict(d, &v); err != nil {
		return list, err
	}
	return append(list, v), nil
}

func renderSet(t *testing.T, name string) *rendered {
	t.Helper()
	vals, err := ValuesFile(name)
	if err != nil {
		t.Fatal(err)
	}
	docs, notes, err := Render(vals)
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	r, err := decodeAll(docs)
	if err != nil {
		t.Fatal(err)
	}
	r.notes = notes
	return r
}

// TestChartObjects: what each value set renders, decoded strictly into the
// Kubernetes API types, and the properties an operator relies on.
func TestChartObjects(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		r := renderSet(t, "postgres-values.yaml")
		if len(r.deployments) != 1 || len(r.statefulSets) != 0 {
			t.Fatalf("%d Deployments, %d StatefulSets; want a Deployment", len(r.deployments), len(r.statefulSets))
		}
		d := r.deployments[0]
		if *d.Spec.Replicas != 2 {
			t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
		}
		checkPod(t, d.Spec.Template.Spec, false)
		checkMigrateHook(t, r.jobs, d.Spec.Selector.MatchLabels)
		checkService(t, r.services, []string{"http", "grpc", "metrics"})
		if len(r.secrets) != 2 {
			t.Fatalf("%d Secrets, want the database URL's and the provision keys'", len(r.secrets))
		}
		if !strings.Contains(r.notes, "exec deploy/oauth2-password") {
			t.Errorf("NOTES do not show the CLI against the deployment:\n%s", r.notes)
		}
	})
	t.Run("embedded", func(t *testing.T) {
		r := renderSet(t, "embedded-values.yaml")
		if len(r.deployments) != 0 || len(r.statefulSets) != 1 || len(r.jobs) != 0 || len(r.hpas) != 0 {
			t.Fatalf("%d Deployments, %d StatefulSets, %d Jobs, %d HPAs; want one StatefulSet only", len(r.deployments), len(r.statefulSets), len(r.jobs), len(r.hpas))
		}
		s := r.statefulSets[0]
		if *s.Spec.Replicas != 1 || len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "data" {
			t.Fatalf("StatefulSet: replicas %d, claims %v; want 1 replica with a data volume", *s.Spec.Replicas, s.Spec.VolumeClaimTemplates)
		}
		checkPod(t, s.Spec.Template.Spec, true)
	})
	t.Run("full", func(t *testing.T) {
		r := renderSet(t, "full-values.yaml")
		if len(r.pdbs) != 1 || len(r.hpas) != 1 || len(r.monitors) != 1 {
			t.Fatalf("%d PDBs, %d HPAs, %d ServiceMonitors; want one each", len(r.pdbs), len(r.hpas), len(r.monitors))
		}
		if len(r.secrets) != 0 {
			t.Errorf("%d Secrets rendered; with existing Secrets named the chart makes none", len(r.secrets))
		}
		d := r.deployments[0]
		if d.Spec.Replicas != nil {
			t.Errorf("replicas set (%d) while the HorizontalPodAutoscaler owns them", *d.Spec.Replicas)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if i := slices.Index(c.Args, "-grpc-default-service"); i < 0 || c.Args[i+1] != "orders" {
			t.Errorf("args %v lack -grpc-default-service orders", c.Args)
		}
		env := c.Env[0]
		if env.ValueFrom.SecretKeyRef.Name != "oauth2-password-db" || env.ValueFrom.SecretKeyRef.Key != "url" {
			t.Errorf("database URL from %+v, want the existing Secret oauth2-password-db key url", env.ValueFrom.SecretKeyRef)
		}
		if m := r.monitors[0]; m.Labels["release"] != "prometheus" || m.Spec.Endpoints[0].Port != "metrics" {
			t.Errorf("ServiceMonitor labels %v endpoints %+v", m.Labels, m.Spec.Endpoints)
		}
	})
	// A SERVICE name YAML would read as a number, a boolean or null
	// ([A-Za-z0-9._-]+ allows them) stays a string argument.
	t.Run("service name that looks like a number", func(t *testing.T) {
		vals, err := ValuesFile("full-values.yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"2024", "true", "null"} {
			vals["grpc"].(map[string]any)["defaultService"] = name
			docs, _, err := Render(vals)
			if err != nil {
				t.Fatal(err)
			}
			r, err := decodeAll(docs)
			if err != nil {
				t.Fatalf("defaultService %s: %v", name, err)
			}
			if args := r.deployments[0].Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, name) {
				t.Errorf("defaultService %s: args %q", name, args)
			}
		}
	})
}

// checkPod: probes on serve's endpoints, a drain that fits in the grace
// period, non-root with a read-only root filesystem, resource requests.
func checkPod(t *testing.T, p corev1.PodSpec, embedded bool) {
	t.Helper()
	if len(p.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(p.Containers))
	}
	c := p.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %+v liveness %+v; want /readyz and /healthz", c.ReadinessProbe, c.LivenessProbe)
	}
	// serve drains for up to 10 s after SIGTERM, which comes after preStop.
	pre := c.Lifecycle.PreStop.Sleep.Seconds
	if p.TerminationGracePeriodSeconds == nil || *p.TerminationGracePeriodSeconds < pre+10 {
		t.Errorf("terminationGracePeriodSeconds %v < preStop %d s + serve's 10 s drain", p.TerminationGracePeriodSeconds, pre)
	}
	if sc := p.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod may run as root: %+v", sc)
	}
	if sc := c.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v, want a read-only root and no privilege escalation", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("no resource requests: %+v", c.Resources.Requests)
	}
	hasData := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/data" })
	if hasData != embedded {
		t.Errorf("/data mounted: %v, want %v", hasData, embedded)
	}
}

func checkMigrateHook(t *testing.T, jobs []batchv1.Job, serveSelector map[string]string) {
	t.Helper()
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want the migrate hook", len(jobs))
	}
	j := jobs[0]
	// The Job's pod is not one of serve's: the Service would send it
	// requests, the PDB and HPA would count it.
	matches := true
	for k, v := range serveSelector {
		matches = matches && j.Spec.Template.Labels[k] == v
	}
	if matches {
		t.Errorf("migrate Job pod labels %v match serve's selector %v", j.Spec.Template.Labels, serveSelector)
	}
	if hook := j.Annotations["helm.sh/hook"]; hook != "pre-install,pre-upgrade" {
		t.Errorf("migrate Job hook %q, want pre-install,pre-upgrade", hook)
	}
	if args := j.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args, []string{"migrate"}) {
		t.Errorf("migrate Job args %v", args)
	}
}

func checkService(t *testing.T, services []corev1.Service, ports []string) {
	t.Helper()
	if len(services) != 1 {
		t.Fatalf("%d Services, want 1", len(services))
	}
	var got []string
	for _, p := range services[0].Spec.Ports {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, ports) {
		t.Errorf("Service ports %v, want %v", got, ports)
	}
}

// TestChartRefusesIncompleteValues: values a release cannot run with fail
// at render time with a line naming the value, not at the pod.
func TestChartRefusesIncompleteValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no service", map[string]any{"database": map[string]any{"url": "postgres://x@db/x"}}, "services: name at least one service"},
		{"no database", map[string]any{"services": map[string]any{"orders": map[string]any{}}, "provisionKeys": map[string]any{"orders": "k"}}, "database.url"},
		{"no provision key", map[string]any{"database": map[string]any{"url": "postgres://x@db/x"}, "services": map[string]any{"orders": map[string]any{}}}, "provisionKeys.orders is required"},
		{"X-Forwarded-Proto believed from no one", map[string]any{"database": map[string]any{"url": "postgres://x@db/x"},
			"services": map[string]any{"orders": map[string]any{"accept_http_if_already_terminated": true}}, "provisionKeys": map[string]any{"orders": "k"}}, "trustedIPs is required"},
		{"embedded with two replicas", map[string]any{"database": map[string]any{"embedded": true}, "services": map[string]any{"orders": map[string]any{}}, "provisionKeys": map[string]any{"orders": "k"}}, "runs one pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Render(tc.vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

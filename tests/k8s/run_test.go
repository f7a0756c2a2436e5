package k8s

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }

// TestChartPodStartsServe takes the rendered pod spec's container (command,
// args, env, mounts) and runs the real binary with it, paths mapped to a
// temporary directory and listen addresses to free loopback ports: the
// migrate hook Job's command first (as Helm runs it), then serve until its
// readiness probe answers. A client registered with the CLI as NOTES.txt
// shows then gets a token with the provision key from the chart's Secret,
// and SIGTERM stops serve within the pod's grace period.
func TestChartPodStartsServe(t *testing.T) {
	for _, tc := range []struct{ name, values string }{
		{"postgres", "postgres-values.yaml"},
		{"embedded", "embedded-values.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := ValuesFile(tc.values)
			must(t, err)
			if tc.name == "postgres" {
				vals["database"] = map[string]any{"url": pg.NewDatabase(t)}
			}
			// A real key: serve refuses the values files' change-me placeholders.
			vals["provisionKeys"] = map[string]any{"orders": "pk-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-orders-key"}
			// TLS ends at the gateway; serve believes X-Forwarded-Proto
			// from the gateway's pods, here the test itself.
			vals["trustedIPs"] = []any{"127.0.0.1/32"}
			svc := vals["services"].(map[string]any)
			svc["orders"] = map[string]any{"accept_http_if_already_terminated": true}
			docs, _, err := Render(vals)
			must(t, err)
			r, err := decodeAll(docs)
			must(t, err)

			var spec corev1.PodSpec
			var grace int64
			switch {
			case len(r.deployments) == 1:
				spec = r.deployments[0].Spec.Template.Spec
			case len(r.statefulSets) == 1:
				spec = r.statefulSets[0].Spec.Template.Spec
			default:
				t.Fatal("no workload rendered")
			}
			grace = *spec.TerminationGracePeriodSeconds
			pod := &Pod{Dir: t.TempDir(), Binary: harness.Binary(t), ConfigMaps: map[string]corev1.ConfigMap{}, Secrets: map[string]corev1.Secret{}}
			for _, cm := range r.configMaps {
				pod.ConfigMaps[cm.Name] = cm
			}
			for _, s := range r.secrets {
				pod.Secrets[s.Name] = s
			}
			c := spec.Containers[0]
			must(t, pod.Mount(spec, c))
			env, err := pod.Env(c)
			must(t, err)

			for _, j := range r.jobs {
				runJob(t, pod, j)
			}
			addrs := map[string]string{} // port name → local address
			args := make([]string, len(c.Args))
			for i, a := range c.Args {
				args[i] = pod.Map(a)
				if i > 0 && strings.HasPrefix(a, "0.0.0.0:") {
					free := harness.FreeAddr(t)
					for _, p := range c.Ports {
						if a == "0.0.0.0:"+itoa(p.ContainerPort) {
							addrs[p.Name] = free
						}
					}
					args[i] = free
				}
			}
			cmd := exec.Command(pod.Map(c.Command[0]), args...)
			cmd.Env = append(baseEnv(), env...)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			must(t, cmd.Start())
			exited := make(chan error, 1)
			done := make(chan struct{})
			go func() { exited <- cmd.Wait(); close(done) }()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-done
			})

			probe := c.ReadinessProbe.HTTPGet
			readyURL := "http://" + addrs[probe.Port.StrVal] + probe.Path
			waitReady(t, readyURL, exited, &out)

			// The CLI against the same store, with the pod's environment.
			cli := exec.Command(pod.Binary, "clients", "create", "--consumer", "bob", "--name", "web")
			cli.Env = append(baseEnv(), env...)
			created, err := cli.Output()
			if err != nil {
				t.Fatalf("clients create: %v", err)
			}
			var client struct {
				ID     string `json:"client_id"`
				Secret string `json:"client_secret"`
			}
			must(t, json.Unmarshal(created, &client))
			form := url.Values{"grant_type": {"password"}, "provision_key": {vals["provisionKeys"].(map[string]any)["orders"].(string)},
				"authenticated_userid": {"alice"}, "client_id": {client.ID}, "client_secret": {client.Secret}}
			req, _ := http.NewRequest("POST", "http://"+addrs["http"]+"/services/orders/oauth2/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-Proto", "https")
			resp, err := http.DefaultClient.Do(req)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("token with the Secret's provision key: %d, want 200\n%s", resp.StatusCode, out.String())
			}

			must(t, cmd.Process.Signal(syscall.SIGTERM))
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("serve after SIGTERM: %v\n%s", err, out.String())
				}
			case <-time.After(time.Duration(grace) * time.Second):
				t.Fatalf("serve still running %d s (the pod's grace period) after SIGTERM", grace)
			}
		})
	}
}

// runJob runs a hook Job's container to completion.
func runJob(t *testing.T, pod *Pod, j batchv1.Job) {
	t.Helper()
	c := j.Spec.Template.Spec.Containers[0]
	env, err := pod.Env(c)
	must(t, err)
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = pod.Map(a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pod.Map(c.Command[0]), args...)
	cmd.Env = append(baseEnv(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Job %s: %v\n%s", j.Name, err, out)
	}
}

// baseEnv is the test's environment without a store URL of its own.
func baseEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "OAUTH2_PASSWORD_") {
			env = append(env, e)
		}
	}
	return append(env, "GORACE=atexit_sleep_ms=0")
}

func waitReady(t *testing.T, u string, exited <-chan error, out *strings.Builder) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("serve exited before ready: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready in 30 s\n%s", u, out.String())
		}
	}
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

package onboarding

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestDockerfile: the image of kong/Dockerfile starts Kong DB-less with
// kong.yml, the plugin server exactly as kong/kong.conf configures it, and
// the embedded store on a volume the kong user owns; the build context
// keeps what the build needs.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	d := parseDockerfile(t)
	if d.user != "kong" {
		t.Errorf("the image runs as %q, want kong (Kong's image user, which owns its prefix)", d.user)
	}

	// DB-less with the copied kong.yml.
	if d.env["KONG_DATABASE"] != "off" {
		t.Errorf("KONG_DATABASE = %q, want off", d.env["KONG_DATABASE"])
	}
	decl := d.env["KONG_DECLARATIVE_CONFIG"]
	if src := d.copies[decl]; src != "kong/kong.yml" {
		t.Errorf("KONG_DECLARATIVE_CONFIG = %q, which is copied from %q; want kong/kong.yml there", decl, src)
	}
	for dst, src := range d.copies {
		if _, err := os.Stat(filepath.Join(harness.Root(), src)); err != nil {
			t.Errorf("COPY %s %s: %v", src, dst, err)
		}
		if dockerignored(t, src) {
			t.Errorf("COPY %s: .dockerignore keeps it out of the build context", src)
		}
	}

	// The plugin server: the same settings as kong.conf, the same binary.
	conf := kongConf(t)
	for _, name := range []string{"plugins", "pluginserver_names", "pluginserver_oauth2_password_socket",
		"pluginserver_oauth2_password_start_cmd", "pluginserver_oauth2_password_query_cmd"} {
		env := "KONG_" + strings.ToUpper(name)
		if conf[name] == "" || d.env[env] != conf[name] {
			t.Errorf("%s = %q in the Dockerfile, %s = %q in kong.conf: want both set, the same", env, d.env[env], name, conf[name])
		}
	}
	for k := range d.env {
		if setting, ok := strings.CutPrefix(k, "KONG_PLUGINSERVER_"); ok {
			if _, inConf := conf["pluginserver_"+strings.ToLower(setting)]; !inConf {
				t.Errorf("%s has no kong.conf counterpart", k)
			}
		}
	}
	start := strings.Fields(d.env["KONG_PLUGINSERVER_OAUTH2_PASSWORD_START_CMD"])
	if len(start) == 0 || start[0] != d.bin {
		t.Errorf("start_cmd %q does not run the binary the image installs (%s)", start, d.bin)
	}

	// The store: the URL reaches the plugin server through nginx (which
	// clears the environment) and names a file on a volume owned by kong.
	for _, a := range start {
		if strings.HasPrefix(a, "-database-url") {
			t.Errorf("start_cmd passes %s: the image's OAUTH2_PASSWORD_DATABASE_URL would be ignored, and the CLI would use another store", a)
		}
	}
	if !strings.Contains(","+d.env["KONG_NGINX_MAIN_ENV"]+",", ",OAUTH2_PASSWORD_DATABASE_URL,") {
		t.Errorf("KONG_NGINX_MAIN_ENV = %q: nginx would not pass OAUTH2_PASSWORD_DATABASE_URL to the plugin server", d.env["KONG_NGINX_MAIN_ENV"])
	}
	path, ok := strings.CutPrefix(d.env["OAUTH2_PASSWORD_DATABASE_URL"], "sqlite:")
	if !ok || !filepath.IsAbs(path) {
		t.Fatalf("OAUTH2_PASSWORD_DATABASE_URL = %q, want sqlite:/ABSOLUTE/PATH", d.env["OAUTH2_PASSWORD_DATABASE_URL"])
	}
	dir := filepath.Dir(path)
	if !slices.Contains(d.volumes, dir) {
		t.Errorf("VOLUME %v does not hold the store's directory %s", d.volumes, dir)
	}
	if !anyRun(d.runs, "mkdir -p "+dir) || !anyRun(d.runs, "chown kong "+dir) {
		t.Errorf("no RUN creates %s owned by kong: %q", dir, d.runs)
	}

	// The build stage copies the whole context: everything the binary is
	// built from must be in it.
	list := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/oauth2-password")
	list.Dir = harness.Root()
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs(harness.Root())
	for _, dir := range append(strings.Fields(string(out)), filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")) {
		if rel, err := filepath.Rel(root, dir); err == nil && !strings.HasPrefix(rel, "..") && dockerignored(t, rel) {
			t.Errorf("%s is needed by the build but .dockerignore excludes it", rel)
		}
	}
	for _, big := range []string{".git", "bin", "tests"} {
		if !dockerignored(t, big) {
			t.Errorf(".dockerignore lets %s into the build context", big)
		}
	}
}

// TestKongYMLDeck: decK accepts kong/kong.yml (file schema, entity
// relationships; offline), and refuses it with a mistake in it.
func TestKongYMLDeck(t *testing.T) {
	t.Parallel()
	deck, err := exec.LookPath("deck")
	if err != nil {
		t.Fatal("decK is not installed: apt-get install deck (.ci/run does)")
	}
	file := filepath.Join(harness.Root(), "kong", "kong.yml")
	if out, err := exec.Command(deck, "validate", "--state", file).CombinedOutput(); err != nil {
		t.Errorf("deck validate kong/kong.yml: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(bad, []byte(strings.Replace(read(t, "kong/kong.yml"), "    routes:", "    routez:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(deck, "validate", "--state", bad).CombinedOutput(); err == nil {
		t.Errorf("deck validate accepted a misspelt field:\n%s", out)
	}
}

// kongYMLServiceURL is the upstream of kong.yml's (only) service.
func kongYMLServiceURL(t *testing.T) *url.URL {
	t.Helper()
	doc, err := harness.ReadKongYML("")
	if err != nil || len(doc.Services) != 1 {
		t.Fatalf("kong/kong.yml: %v, %d services; this test expects one", err, len(doc.Services))
	}
	u, err := url.Parse(doc.Services[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func anyRun(runs []string, sub string) bool {
	for _, r := range runs {
		if strings.Contains(r, sub) {
			return true
		}
	}
	return false
}

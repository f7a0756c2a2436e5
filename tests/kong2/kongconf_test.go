package kong2

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestKong2Conf: kong/kong2.conf names what `make legacy` builds and what
// this suite runs: go-pluginserver as go_pluginserver_exe, a directory for
// oauth2-password.so as go_plugins_dir, the plugin in plugins, no
// pluginserver_names (which would make Kong 2.8 ignore go_plugins_dir),
// and the 64k body buffer the suite's host is started with.
func TestKong2Conf(t *testing.T) {
	f, err := os.Open(filepath.Join(harness.Root(), "kong", "kong2.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conf := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			conf[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if exe := conf["go_pluginserver_exe"]; !filepath.IsAbs(exe) || filepath.Base(exe) != "go-pluginserver" {
		t.Errorf("go_pluginserver_exe = %q, want an absolute path to go-pluginserver", exe)
	}
	if dir := conf["go_plugins_dir"]; !filepath.IsAbs(dir) {
		t.Errorf("go_plugins_dir = %q, want an absolute directory", dir)
	}
	if p := strings.Split(conf["plugins"], ","); len(p) != 2 || p[0] != "bundled" || p[1] != "oauth2-password" {
		t.Errorf("plugins = %q, want bundled,oauth2-password", conf["plugins"])
	}
	if _, set := conf["pluginserver_names"]; set {
		t.Error("pluginserver_names is set: Kong 2.8 would ignore go_plugins_dir")
	}
	if b := conf["nginx_http_client_body_buffer_size"]; b != "64k" {
		t.Errorf("nginx_http_client_body_buffer_size = %q, want 64k (the plugin's body cap)", b)
	}
}

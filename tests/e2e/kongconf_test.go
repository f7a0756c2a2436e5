package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestKongConfAndDockerfile: the shipped kong.conf snippet and Dockerfile
// configure Kong so that it finds the plugin: the plugin is enabled and
// named as a plugin server, every command is an absolute path to a binary
// called oauth2-password, the query command is -dump, and the socket Kong
// connects to is the one the plugin listens on (<-kong-prefix>/
// oauth2-password.socket). A mismatch there is the classic "connect() …
// failed (2: No such file or directory)" of Go plugins in Kong.
func TestKongConfAndDockerfile(t *testing.T) {
	t.Parallel()
	conf := readSettings(t, "kong.conf", regexp.MustCompile(`^\s*([a-z0-9_]+)\s*=\s*(.+?)\s*$`), "")
	docker := readSettings(t, "Dockerfile", regexp.MustCompile(`^\s*(?:ENV\s+)?(KONG_[A-Z0-9_]+)=("?)(.+?)("?)\s*\\?$`), "KONG_")
	for name, s := range map[string]map[string]string{"kong.conf": conf, "Dockerfile": docker} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(s["plugins"], "oauth2-password") || !strings.Contains(s["plugins"], "bundled") {
				t.Errorf("plugins = %q, want bundled,oauth2-password", s["plugins"])
			}
			if s["pluginserver_names"] != "oauth2-password" {
				t.Errorf("pluginserver_names = %q", s["pluginserver_names"])
			}
			start := strings.Fields(s["pluginserver_oauth2_password_start_cmd"])
			query := strings.Fields(s["pluginserver_oauth2_password_query_cmd"])
			socket := s["pluginserver_oauth2_password_socket"]
			if len(start) == 0 || len(query) == 0 || socket == "" {
				t.Fatalf("start_cmd %q, query_cmd %q, socket %q: all three must be set", start, query, socket)
			}
			for _, cmd := range [][]string{start, query} {
				if !filepath.IsAbs(cmd[0]) || filepath.Base(cmd[0]) != "oauth2-password" {
					t.Errorf("command %q: want an absolute path to a binary named oauth2-password", cmd)
				}
			}
			if len(query) != 2 || query[1] != "-dump" {
				t.Errorf("query_cmd %q, want <binary> -dump", query)
			}
			prefix := "/usr/local/kong" // go-pdk's default
			for i, a := range start {
				if a == "-kong-prefix" && i+1 < len(start) {
					prefix = start[i+1]
				}
			}
			if want := filepath.Join(prefix, "oauth2-password.socket"); socket != want {
				t.Errorf("socket %q, but the plugin started with -kong-prefix %s listens on %q", socket, prefix, want)
			}
			if len(socket) >= 108 {
				t.Errorf("socket path %q is too long for a Unix socket", socket)
			}
			// The start command's flags are ones the binary accepts: run it
			// with -dump appended (Kong mode parses every flag first).
			args := append(append([]string{}, start[1:]...), "-dump")
			for i := range args {
				if args[i] == "-database-url-file" {
					t.Fatalf("the active start_cmd needs a URL file; keep that variant commented out")
				}
			}
			out, errOut, code := harness.RunCLI(t, "", args...)
			if code != 0 || !strings.Contains(string(out), `"ProtoBuf:1"`) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		})
	}
}

// readSettings reads name=value pairs from a file under kong/, keeping
// uncommented lines only; trim is a prefix to strip from names, which are
// then lower-cased (KONG_PLUGINS → plugins).
func readSettings(t *testing.T, file string, re *regexp.Regexp, trim string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(harness.Root(), "kong", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		val := m[2]
		if len(m) > 3 {
			val = m[3]
		}
		out[strings.ToLower(strings.TrimPrefix(m[1], trim))] = val
	}
	return out
}

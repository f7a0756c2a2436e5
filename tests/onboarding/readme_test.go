package onboarding

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// section returns the README's text under a heading; see sectionOf.
func section(t *testing.T, heading string) string {
	t.Helper()
	return sectionOf(t, "README.md", heading)
}

// sectionOf returns a Markdown file's text from the heading to the next
// heading of the same or a higher level (headings inside code fences do not
// count).
func sectionOf(t *testing.T, file, heading string) string {
	t.Helper()
	text := "\n" + read(t, file)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("%s has no %q", file, heading)
	}
	level := len(strings.SplitN(heading, " ", 2)[0])
	var out []string
	fenced := false
	for _, l := range strings.Split(text[i+1+len(heading)+1:], "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if h := len(l) - len(strings.TrimLeft(l, "#")); !fenced && h > 0 && h <= level && strings.HasPrefix(l[h:], " ") {
			break
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

var shBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// shBlocks returns the ```sh blocks of a README section, in order.
func shBlocks(t *testing.T, heading string) []string {
	t.Helper()
	return shBlocksOf(t, "README.md", heading)
}

// shBlocksOf returns the ```sh blocks of a section of a Markdown file.
func shBlocksOf(t *testing.T, file, heading string) []string {
	t.Helper()
	var out []string
	for _, m := range shBlock.FindAllStringSubmatch(sectionOf(t, file, heading), -1) {
		out = append(out, m[1])
	}
	return out
}

// runBash runs a script with set -euo pipefail in dir and returns its
// stdout and stderr; err says how it failed, with both outputs.
func runBash(ctx context.Context, dir string, env []string, script string) (string, string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), harness.ChildEnv()...), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%v\nstdout:\n%s\nstderr:\n%s\nscript:\n%s", err, o.String(), e.String(), script)
	}
	return o.String(), e.String(), err
}

// binPath is a PATH whose first directory holds the binary as
// oauth2-password, the name the README uses.
func binPath(t *testing.T) string {
	return "PATH=" + filepath.Dir(harness.Binary(t)) + string(os.PathListSeparator) + os.Getenv("PATH")
}

// TestReadmeQuickstart runs the README's Docker quickstart as written,
// except for what needs Docker: `docker compose … up` is the plugin
// started as the image's start_cmd and environment say, under the
// Kong-side test host with the services and consumers of the kong.yml the
// first step edited; `docker compose … exec -T kong CMD` runs CMD with the
// kong service's store setting, its volume mapped to a directory; and
// https://localhost:8443 is the test host's TLS address.
func TestReadmeQuickstart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blocks := shBlocks(t, "## Kong 3.x")
	if len(blocks) != 4 {
		t.Fatalf("%d sh blocks in the quickstart; this test runs 4: key, up, client, token and call", len(blocks))
	}

	// The repository as a newcomer has it, as far as the steps touch it: a
	// git checkout (the first step copies it with git archive).
	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "kong"), 0o755); err != nil {
		t.Fatal(err)
	}
	kongYML := read(t, "kong/kong.yml")
	if err := os.WriteFile(filepath.Join(work, "kong", "kong.yml"), []byte(kongYML), 0o644); err != nil {
		t.Fatal(err)
	}
	git := "git init -q && git add kong/kong.yml && git -c user.name=t -c user.email=t@example.invalid commit -qm checkout"
	if _, _, err := runBash(ctx, work, nil, git); err != nil {
		t.Fatal(err)
	}

	// What the dbless profile's kong container would run.
	p, err := loadCompose(t, composeFile(), "dbless")
	if err != nil {
		t.Fatal(err)
	}
	d := parseDockerfile(t)
	kong := p.Services["kong"]
	dbURL := mergedEnv(d, kong)["OAUTH2_PASSWORD_DATABASE_URL"]
	volume := filepath.Join(work, "volume")
	if err := os.Mkdir(volume, 0o755); err != nil {
		t.Fatal(err)
	}
	containerDir := filepath.Dir(strings.TrimPrefix(dbURL, "sqlite:"))
	if !mountsVolume(kong, containerDir) {
		t.Fatalf("the kong service has no volume at %s", containerDir)
	}
	hostURL := strings.Replace(dbURL, containerDir, volume, 1)
	env := []string{binPath(t), "CONTAINER_STORE=" + hostURL, "SIGNAL=" + work, "TMPDIR=" + work}

	// The steps share shell variables: one script, with `up` handing over
	// to the test (which starts the host from the edited kong.yml) through
	// two files.
	const shim = `docker() {
  case "$*" in
  "compose -f kong/docker-compose.yml --profile dbless up "*)
    : > "$SIGNAL/up"
    for _ in $(seq 1200); do [ -e "$SIGNAL/ready" ] && return 0; sleep 0.05; done
    echo "the test host did not start" >&2; return 1 ;;
  "compose -f kong/docker-compose.yml exec -T kong "*)
    shift 6; OAUTH2_PASSWORD_DATABASE_URL="$CONTAINER_STORE" "$@" ;;
  *) echo "docker $*: not a command of the quickstart" >&2; return 1 ;;
  esac
}
`
	type result struct {
		stdout, stderr string
		err            error
	}
	done := make(chan result, 1)
	front := make(chan string, 1)
	go func() {
		// The curl lines go to the test host's address.
		script := strings.ReplaceAll(shim+strings.Join(blocks, "\n"), "https://localhost:8443", <-front)
		o, e, err := runBash(ctx, work, env, script)
		done <- result{o, e, err}
	}()

	// The host must exist before the script starts (its address is in the
	// script); the service appears when the script says `up`.
	h, err := konghost.Start(ctx, konghost.Options{
		Bin:  harness.Binary(t),
		Args: startArgs(t, d),
		Env:  []string{"OAUTH2_PASSWORD_DATABASE_URL=" + hostURL},
		Log:  harness.SafeLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	f, err := konghost.NewFront(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	front <- f.TLSURL

	up := filepath.Join(work, "up")
	for {
		if _, err := os.Stat(up); err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the quickstart ended before `docker compose up`: %v", r.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	service := declare(t, h, filepath.Join(work, "kong-quickstart", "kong", "kong.yml"))
	(&harness.Stack{DB: hostURL, Host: h, Front: f}).WaitStore(t, service)
	if err := os.WriteFile(filepath.Join(work, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	r := <-done
	if r.err != nil {
		t.Fatalf("the quickstart failed: %v", r.err)
	}
	// The checkout stays as it was: the key went into the copy.
	if got, err := os.ReadFile(filepath.Join(work, "kong", "kong.yml")); err != nil || string(got) != kongYML {
		t.Error("the quickstart changed kong/kong.yml in the checkout")
	}
	if out, _, err := runBash(ctx, work, nil, "git status --porcelain --untracked-files=all -- kong"); err != nil || out != "" {
		t.Errorf("the checkout's kong/ after the quickstart: %q %v", out, err)
	}
	// What the README says the steps show.
	for _, want := range []string{`"consumer":"web-app","name":"web app","client_type":"confidential"`,
		`"token_type":"bearer","expires_in":7200`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the quickstart's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if want := "oauth2-password: embedded store " + strings.TrimPrefix(hostURL, "sqlite:"); !strings.Contains(r.stderr, want) {
		t.Errorf("the CLI did not say %q:\n%s", want, r.stderr)
	}
	// The last command's output: the upstream's view of the call.
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var echo konghost.Echo
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &echo); err != nil {
		t.Fatalf("the API call printed %q, not the upstream's echo", lines[len(lines)-1])
	}
	for name, want := range map[string]string{"x-consumer-username": "web-app", "x-authenticated-userid": "user-4711", "x-authenticated-scope": "orders.read"} {
		if got, _ := echo.Header(name); got != want {
			t.Errorf("upstream header %s = %q, want %q", name, got, want)
		}
	}
	if _, sent := echo.Header("authorization"); sent {
		t.Error("the token reached the upstream despite hide_credentials")
	}
	// And the call without the token is refused, as the README says.
	resp, err := f.Client().Get(f.TLSURL + "/api/orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the call without a token: %d, want 401", resp.StatusCode)
	}
}

// startArgs are the image's start_cmd arguments after the binary, less
// -kong-prefix (the test host gives its own, short enough for a socket).
func startArgs(t *testing.T, d dockerfile) []string {
	t.Helper()
	var out []string
	f := strings.Fields(d.env["KONG_PLUGINSERVER_OAUTH2_PASSWORD_START_CMD"])
	for i := 1; i < len(f); i++ {
		if f[i] == "-kong-prefix" {
			i++
			continue
		}
		out = append(out, f[i])
	}
	return out
}

// declare gives the host kong.yml's consumers and its service with the
// plugin, routed by the route's first path, and returns the service name.
func declare(t *testing.T, h *konghost.Host, file string) string {
	t.Helper()
	doc, err := harness.ReadKongYML(file)
	if err != nil || len(doc.Services) != 1 {
		t.Fatalf("kong.yml after the first step: %v (%d services)", err, len(doc.Services))
	}
	for _, c := range doc.Consumers {
		if _, err := h.AddConsumer(konghost.Consumer{Username: c.Username, CustomID: c.CustomID}); err != nil {
			t.Fatal(err)
		}
	}
	s := doc.Services[0]
	if len(s.Routes) == 0 || len(s.Routes[0].Paths) == 0 || len(s.Plugins) != 1 {
		t.Fatalf("kong.yml's service %q: want a route with a path and the plugin", s.Name)
	}
	if _, err := h.AddService(konghost.ServiceSpec{Name: s.Name, PathPrefix: s.Routes[0].Paths[0], Config: s.Plugins[0].Config}); err != nil {
		t.Fatal(err)
	}
	return s.Name
}

// TestReadmeAdminCLI runs the Admin CLI block line by line, as written,
// against a fresh embedded store holding real tokens, and compares every
// output the README spells out ("# {…}") with what the command printed.
func TestReadmeAdminCLI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	blocks := shBlocksOf(t, "docs/cli.md", "# Admin CLI")
	if len(blocks) != 1 {
		t.Fatalf("%d sh blocks in Admin CLI, want 1", len(blocks))
	}
	db := harness.SQLiteURL(t)
	st := harness.Start(t, db)
	if _, err := st.Host.AddConsumer(konghost.Consumer{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	const pk = "readme-admin-cli-provision-key"
	if _, err := st.Host.AddService(konghost.ServiceSpec{Name: "api", Config: map[string]any{"provision_key": pk}}); err != nil {
		t.Fatal(err)
	}
	st.WaitStore(t, "api")
	c := harness.CreateClient(t, db, "bob", "tokens")
	grant := func(user string) harness.TokenResponse {
		resp, err := st.Front.Client().PostForm(st.Front.TLSURL+"/oauth2/token", url.Values{"grant_type": {"password"},
			"provision_key": {pk}, "authenticated_userid": {user}, "client_id": {c.ID}, "client_secret": {c.Secret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr harness.TokenResponse
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
			t.Fatalf("grant: %d %v", resp.StatusCode, err)
		}
		return tr
	}
	env := []string{binPath(t), "OAUTH2_PASSWORD_DATABASE_URL=" + db,
		"ACCESS_TOKEN=" + grant("alice").AccessToken, "REFRESH_TOKEN=" + grant("carol").RefreshToken}
	grant("user-4711")

	// One marker line before each command, so outputs map to lines.
	var script strings.Builder
	var cmds []string
	for _, l := range strings.Split(blocks[0], "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		fmt.Fprintf(&script, "echo '@@%d'\n%s\n", len(cmds), l)
		cmds = append(cmds, l)
	}
	out, _, err := runBash(ctx, t.TempDir(), env, script.String())
	if err != nil {
		t.Fatalf("the Admin CLI block failed: %v", err)
	}
	outputs := regexp.MustCompile(`(?m)^@@\d+\n`).Split(out, -1)[1:]
	if len(outputs) != len(cmds) {
		t.Fatalf("%d outputs for %d commands:\n%s", len(outputs), len(cmds), out)
	}
	said := regexp.MustCompile(`#.*?(\{[^{}…]*\})\s*$`)
	checked := 0
	for i, l := range cmds {
		if m := said.FindStringSubmatch(l); m != nil {
			checked++
			if got := strings.TrimSpace(outputs[i]); got != m[1] {
				t.Errorf("%s\n  printed %q, the README says %s", l, got, m[1])
			}
		}
		if strings.Contains(l, "clients create") && !strings.Contains(outputs[i], `"client_type":`) {
			t.Errorf("%s\n  printed %q", l, outputs[i])
		}
	}
	if checked < 2 {
		t.Errorf("only %d outputs spelled out in the block: the test's pattern no longer matches the README", checked)
	}
}

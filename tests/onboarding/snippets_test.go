package onboarding

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestReadmeSnippetsMatchFiles: what the README's "Kong 3.x" and
// kong/README.md's "Run it in Kong" name — variables,
// paths in the image, repository files, compose profiles and services, the
// image name, the placeholder to replace — is what the files have, so no
// snippet drifts from them.
func TestReadmeSnippetsMatchFiles(t *testing.T) {
	t.Parallel()
	text := section(t, "## Kong 3.x") + sectionOf(t, "kong/README.md", "## Run it in Kong")
	d := parseDockerfile(t)
	p, err := loadCompose(t, composeFile(), "dbless", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	files := read(t, "kong/Dockerfile") + read(t, "kong/docker-compose.yml") + read(t, "kong/kong.conf") + read(t, "kong/kong.yml")

	vars := map[string]bool{}
	for k := range d.env {
		vars[k] = true
	}
	for _, s := range p.Services {
		for k := range s.Environment {
			vars[k] = true
		}
	}
	for _, v := range regexp.MustCompile(`\bKONG_[A-Z0-9_]*[A-Z0-9]\b`).FindAllString(text, -1) {
		if !vars[v] {
			t.Errorf("the README names %s, which neither kong/Dockerfile nor the compose file sets", v)
		}
	}

	for _, m := range regexp.MustCompile("(?:^|[\\s`(])(kong/[A-Za-z0-9._-]+|\\.dockerignore)").FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(filepath.Join(harness.Root(), m[1])); err != nil {
			t.Errorf("the README names %s: %v", m[1], err)
		}
	}
	for _, m := range regexp.MustCompile("[`=:\\s](/(?:kong|data|usr/local|etc/kong)/[A-Za-z0-9._/-]*[A-Za-z0-9])").FindAllStringSubmatch(text, -1) {
		if !strings.Contains(files, m[1]) {
			t.Errorf("the README names %s, which no file under kong/ has", m[1])
		}
	}

	// docker compose lines: the file, profiles and services exist, and
	// `exec` names a service that runs the image (and so the CLI).
	profiles := p.Profiles
	for _, line := range regexp.MustCompile(`docker compose [^\n]*`).FindAllString(text, -1) {
		for _, m := range regexp.MustCompile(`-f (\S+)`).FindAllStringSubmatch(line, -1) {
			if m[1] != "kong/docker-compose.yml" {
				t.Errorf("%q: compose file %s, want kong/docker-compose.yml", line, m[1])
			}
		}
		for _, m := range regexp.MustCompile(`--profile (\S+)`).FindAllStringSubmatch(line, -1) {
			if !slices.Contains(profiles, m[1]) {
				t.Errorf("%q: no profile %s (have %v)", line, m[1], profiles)
			}
		}
	}
	for _, m := range regexp.MustCompile("exec -T ([a-z-]+)").FindAllStringSubmatch(text, -1) {
		s, ok := p.Services[m[1]]
		if !ok || s.Build == nil || s.Build.Dockerfile != "kong/Dockerfile" {
			t.Errorf("the README execs into %q, which is not a service running kong/Dockerfile's image", m[1])
		}
	}
	image := p.Services["kong"].Image
	for _, m := range regexp.MustCompile(`docker (?:build|run) [^\n`+"`"+`]*`).FindAllString(text, -1) {
		if !strings.Contains(m, " "+image) {
			t.Errorf("%q: the image is %s in the compose file", m, image)
		}
		if strings.HasPrefix(m, "docker run") && !strings.Contains(m, ":"+filepath.Dir(strings.TrimPrefix(d.env["OAUTH2_PASSWORD_DATABASE_URL"], "sqlite:"))+" ") {
			t.Errorf("%q: no volume at the store's directory", m)
		}
	}

	// The placeholder the first step replaces is kong.yml's.
	m := regexp.MustCompile(`sed "s/([^/]+)/`).FindStringSubmatch(text)
	if m == nil || !strings.Contains(read(t, "kong/kong.yml"), `provision_key: "`+m[1]+`"`) {
		t.Errorf("the README's first step replaces %q, which is not kong.yml's provision_key", m)
	}
}

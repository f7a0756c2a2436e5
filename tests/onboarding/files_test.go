// Package onboarding checks that a newcomer can follow the README from a
// fresh clone: the Docker and Compose files are valid and agree with each
// other, with kong/kong.conf, kong/kong.yml and the README's snippets, and
// the README's shell blocks that can run without Docker run as written.
package onboarding

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// read returns a file of the repository as text.
func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.Root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadCompose loads kong/docker-compose.yml the way `docker compose
// --profile P` does (compose-go is docker compose's own loader: schema
// validation, interpolation, merge keys, consistency checks), with no
// variable taken from the test's environment.
func loadCompose(t *testing.T, file string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithProfiles(profiles),
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithEnv(nil))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

func composeFile() string { return filepath.Join(harness.Root(), "kong", "docker-compose.yml") }

// dockerfile is what the checks read from kong/Dockerfile's final stage.
type dockerfile struct {
	user    string            // the last USER
	env     map[string]string // ENV of the final stage
	copies  map[string]string // destination → source, COPY from the build context
	bin     string            // destination of the binary copied from the build stage
	volumes []string
	runs    []string
}

var envPair = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|(\S+))`)

// parseDockerfile reads the instructions of the last stage, joining
// continuation lines.
func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	var lines []string
	var cur string
	sc := bufio.NewScanner(strings.NewReader(read(t, "kong/Dockerfile")))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if c, ok := strings.CutSuffix(l, `\`); ok {
			cur += c + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	var d dockerfile
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			d = dockerfile{env: map[string]string{}, copies: map[string]string{}}
		case "USER":
			d.user = rest
		case "ENV":
			for _, m := range envPair.FindAllStringSubmatch(rest, -1) {
				d.env[m[1]] = m[3] + m[4]
			}
		case "COPY":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--from=") {
				d.bin = f[len(f)-1]
				continue
			}
			d.copies[f[len(f)-1]] = f[0]
		case "VOLUME":
			d.volumes = append(d.volumes, strings.Fields(rest)...)
		case "RUN":
			d.runs = append(d.runs, rest)
		}
	}
	return d
}

// kongConf returns the active settings of kong/kong.conf.
func kongConf(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(read(t, "kong/kong.conf"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// dockerignored reports whether a build-context path is excluded by the
// repository's .dockerignore: Docker matches each pattern against the path
// from the context's root, and excluding a directory excludes its files.
func dockerignored(t *testing.T, rel string) bool {
	t.Helper()
	for _, p := range strings.Split(read(t, ".dockerignore"), "\n") {
		p = strings.TrimPrefix(strings.TrimSpace(p), "/")
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		for part := rel; part != "." && part != "/"; part = filepath.Dir(part) {
			if ok, _ := filepath.Match(p, part); ok {
				return true
			}
		}
	}
	return false
}

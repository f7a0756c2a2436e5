package onboarding

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// TestComposeProfiles: kong/docker-compose.yml loads with docker compose's
// own loader for each profile the README names, and each profile is the
// set-up the README describes.
func TestComposeProfiles(t *testing.T) {
	t.Parallel()
	d := parseDockerfile(t)
	for _, tc := range []struct {
		profile string
		kong    string   // the service the README's `exec` names
		want    []string // every service the profile starts
	}{
		{"dbless", "kong", []string{"echo", "kong"}},
		{"postgres", "kong-postgres", []string{"echo", "postgres", "kong-migrations", "migrate", "kong-postgres"}},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			p, err := loadCompose(t, composeFile(), tc.profile)
			if err != nil {
				t.Fatalf("docker compose --profile %s would refuse the file: %v", tc.profile, err)
			}
			if got := p.ServiceNames(); !sameSet(got, tc.want) {
				t.Errorf("services %v, want %v", got, tc.want)
			}
			kong, ok := p.Services[tc.kong]
			if !ok {
				t.Fatalf("no service %q", tc.kong)
			}
			// Built from the repository's root with kong/Dockerfile, whose
			// .dockerignore is then the one at the root.
			if kong.Build == nil || filepath.Clean(kong.Build.Context) != filepath.Clean(harness.Root()) || kong.Build.Dockerfile != "kong/Dockerfile" {
				t.Errorf("%s builds %+v, want context = repository root, dockerfile kong/Dockerfile", tc.kong, kong.Build)
			}
			published := map[uint32]bool{}
			for _, port := range kong.Ports {
				published[port.Target] = true
			}
			if !published[8443] || !published[8000] {
				t.Errorf("%s publishes %+v, want Kong's proxy ports 8000 and 8443", tc.kong, kong.Ports)
			}
			for name, s := range p.Services {
				if s.Image == kong.Image && s.Build == nil {
					t.Errorf("%s runs %s but cannot build it: that profile would try to pull it", name, s.Image)
				}
			}

			// The echo upstream kong.yml's service points at.
			u := kongYMLServiceURL(t)
			if _, ok := p.Services[u.Hostname()]; !ok {
				t.Errorf("kong.yml's service points at %s, which is no service of profile %s", u, tc.profile)
			}

			dbURL := mergedEnv(d, kong)["OAUTH2_PASSWORD_DATABASE_URL"]
			switch tc.profile {
			case "dbless":
				// The embedded store on a volume at the directory the image owns.
				path, ok := strings.CutPrefix(dbURL, "sqlite:")
				if !ok {
					t.Fatalf("%s: OAUTH2_PASSWORD_DATABASE_URL %q, want the embedded store", tc.kong, dbURL)
				}
				if !mountsVolume(kong, filepath.Dir(path)) {
					t.Errorf("%s: no named volume at %s, the store's directory: clients and tokens would go with the container", tc.kong, filepath.Dir(path))
				}
			case "postgres":
				checkPostgresProfile(t, p, d, dbURL)
			}
		})
	}
}

// checkPostgresProfile: the plugin's database is the one the init script
// creates on the compose PostgreSQL, migrate runs the image's binary before
// Kong starts, and Kong's migrations import the image's kong.yml.
func checkPostgresProfile(t *testing.T, p *types.Project, d dockerfile, dbURL string) {
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme != "postgres" {
		t.Fatalf("OAUTH2_PASSWORD_DATABASE_URL %q, want postgres://", dbURL)
	}
	pg := p.Services["postgres"]
	if user := mergedEnv(d, pg)["POSTGRES_USER"]; u.Hostname() != "postgres" || u.User.Username() != user {
		t.Errorf("the store URL names host %s user %s; the compose PostgreSQL is postgres, user %s",
			u.Hostname(), u.User.Username(), user)
	}
	db := strings.TrimPrefix(u.Path, "/")
	var initSQL string
	for _, v := range pg.Volumes {
		if strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") {
			b, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatalf("the init script mounted into postgres: %v", err)
			}
			initSQL = string(b)
		}
	}
	if !regexp.MustCompile(`(?m)^CREATE DATABASE ` + regexp.QuoteMeta(db) + ` OWNER ` + regexp.QuoteMeta(u.User.Username()) + `;`).MatchString(initSQL) {
		t.Errorf("no init script creates database %s owned by %s: %q", db, u.User.Username(), initSQL)
	}
	migrate := p.Services["migrate"]
	if want := []string{d.bin, "migrate"}; !slices.Equal(migrate.Command, want) {
		t.Errorf("migrate runs %q, want %q (the binary the image installs)", migrate.Command, want)
	}
	if got := mergedEnv(d, migrate)["OAUTH2_PASSWORD_DATABASE_URL"]; got != dbURL {
		t.Errorf("migrate migrates %q, Kong's plugin uses %q", got, dbURL)
	}
	kong := p.Services["kong-postgres"]
	for _, dep := range []string{"migrate", "kong-migrations"} {
		if c := kong.DependsOn[dep].Condition; c != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("kong-postgres starts after %s with condition %q, want it completed successfully", dep, c)
		}
	}
	km := strings.Join(p.Services["kong-migrations"].Command, " ")
	if !strings.Contains(km, "kong migrations bootstrap") || !strings.Contains(km, "db_import "+d.env["KONG_DECLARATIVE_CONFIG"]) {
		t.Errorf("kong-migrations runs %q: want Kong's bootstrap and db_import of %s", km, d.env["KONG_DECLARATIVE_CONFIG"])
	}
	if e := mergedEnv(d, kong); e["KONG_DATABASE"] != "postgres" || e["KONG_PG_HOST"] != "postgres" {
		t.Errorf("kong-postgres: KONG_DATABASE %q, KONG_PG_HOST %q", e["KONG_DATABASE"], e["KONG_PG_HOST"])
	}
}

// TestComposeLoaderRefusesMistakes: the loader the checks rely on does fail
// on the mistakes it is there to catch.
func TestComposeLoaderRefusesMistakes(t *testing.T) {
	t.Parallel()
	orig := read(t, "kong/docker-compose.yml")
	for name, edit := range map[string][2]string{
		"misspelt key":          {"    ports:\n", "    portz:\n"},
		"unknown dependency":    {"      - echo\n", "      - ech0\n"},
		"undeclared volume":     {"      - oauth2-password-data:/data", "      - no-such-volume:/data"},
		"bad depends condition": {"condition: service_completed_successfully", "condition: service_done"},
	} {
		if !strings.Contains(orig, edit[0]) {
			t.Fatalf("%s: %q not in the compose file; update this test", name, edit[0])
		}
		f := filepath.Join(t.TempDir(), "docker-compose.yml")
		if err := os.WriteFile(f, []byte(strings.Replace(orig, edit[0], edit[1], 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadCompose(t, f, "dbless", "postgres"); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}

// mergedEnv is a service's environment as the container sees it: the
// image's ENV overridden by the compose file's.
func mergedEnv(d dockerfile, s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	if s.Build != nil && s.Build.Dockerfile == "kong/Dockerfile" {
		for k, v := range d.env {
			out[k] = v
		}
	}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func mountsVolume(s types.ServiceConfig, dir string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeVolume && v.Target == dir {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

package metrics

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exported are the metric families this package exports (histograms also
// as their _bucket, _sum and _count series).
var exported = []string{Requests, RequestDuration, TokensIssued, FamilyRevocations, CacheLookups, CacheEvictions,
	StoreCalls, StoreCallDuration, StoreReady, CacheSyncAge, ListenerUp, ReplicaReads, ThrottleKeys, BuildInfo}

var ourMetric = regexp.MustCompile(`\boauth2_password_[a-z_]+`)

// exportedSeries reports whether name is a series of an exported family.
func exportedSeries(name string) bool {
	for _, f := range exported {
		if name == f {
			return true
		}
		if f == RequestDuration || f == StoreCallDuration {
			for _, sfx := range []string{"_bucket", "_sum", "_count"} {
				if name == f+sfx {
					return true
				}
			}
		}
	}
	return false
}

// TestDashboardQueries: every query of the Grafana dashboard names one of
// our metrics, and only metrics we export; the dashboard shows what the
// README promises.
func TestDashboardQueries(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("monitoring", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var exprs []string
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok && strings.Contains(q, "oauth2_password") {
			exprs = append(exprs, q)
		}
	}
	for _, e := range exprs {
		names := ourMetric.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("query names none of our metrics: %s", e)
		}
		for _, n := range names {
			if !exportedSeries(n) {
				t.Errorf("query names %s, which we do not export: %s", n, e)
			}
		}
	}
	all := strings.ToLower(strings.Join(titles, "\n"))
	for _, want := range []string{"tokens issued", "outcome", "validation latency p50 / p99", "cache hit ratio", "store errors", "throttling"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel titled with %q; panels: %v", want, titles)
		}
	}
}

// TestScrapeExample: the Prometheus scrape example and its alert rules are
// valid (promtool check config also checks the rule files it names), and
// every alert names a metric we export.
func TestScrapeExample(t *testing.T) {
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (.ci/run does)")
	}
	out, err := exec.Command(bin, "check", "config", filepath.Join("monitoring", "prometheus.yml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rules found") {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
	rules, err := os.ReadFile(filepath.Join("monitoring", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			for _, n := range ourMetric.FindAllString(e, -1) {
				if !exportedSeries(n) {
					t.Errorf("alert names %s, which we do not export: %s", n, e)
				}
			}
		}
	}
}

// TestOperatingDocListsEveryMetric: docs/operating.md, the operator's list,
// names every family we export, and the 503 alert every outcome answered
// 503.
func TestOperatingDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operating.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range exported {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/operating.md does not list %s", name)
		}
	}
	rules, err := os.ReadFile(filepath.Join("monitoring", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, outcome := range []string{"store_unavailable", "login_unavailable", "busy"} {
		if !regexp.MustCompile(`outcome=~"[^"]*\b` + outcome + `\b`).Match(rules) {
			t.Errorf("no alert fires on the 503 outcome %s", outcome)
		}
	}
}

package harness

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ParseMetrics reads a Prometheus text exposition into its samples, keyed
// by the series as written (`name{label="v",…}`, labels in the order the
// exposition gives them, which client_golang sorts). Comments are skipped.
func ParseMetrics(text string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("metrics line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// metricsLine is the process's log line naming its metrics address, in
// either log format.
var metricsLine = regexp.MustCompile(`metrics listening"?,? ?"?addr"?[=:]"?([0-9.:\[\]a-f]+)`)

// MetricsURL waits until the plugin (started with -metrics, e.g.
// 127.0.0.1:0) logs the address its metrics listener took, and returns the
// URL of its /metrics.
func (s *Stack) MetricsURL(t testing.TB) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := s.Host.Process().Output()
		for i := len(out) - 1; i >= 0; i-- {
			if m := metricsLine.FindStringSubmatch(out[i]); m != nil {
				return "http://" + m[1] + "/metrics"
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin never logged its metrics address:\n%s", strings.Join(out, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Scrape GETs a /metrics URL and returns its text and samples.
func Scrape(t testing.TB, url string) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scraping %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	samples, err := ParseMetrics(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return string(b), samples
}

// WaitMetrics scrapes url until every series in want has moved by its
// value since before (a front records a request just after answering it,
// so the last answers may reach a test before their counts do), and
// returns the last exposition and samples. It fails the test after 10 s.
func WaitMetrics(t testing.TB, url string, before, want map[string]float64) (string, map[string]float64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		text, after := Scrape(t, url)
		var wrong []string
		for series, w := range want {
			if got := after[series] - before[series]; got != w {
				wrong = append(wrong, fmt.Sprintf("%s moved by %v, want %v", series, got, w))
			}
		}
		if len(wrong) == 0 {
			return text, after
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics after the requests:\n%s\n\n%s", strings.Join(wrong, "\n"), text)
		}
	}
}

// PromtoolCheck runs `promtool check metrics` (Debian package prometheus,
// which .ci/run installs) on an exposition.
func PromtoolCheck(t testing.TB, text string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: apt-get install prometheus (.ci/run does)")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

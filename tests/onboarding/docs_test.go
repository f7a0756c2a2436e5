package onboarding

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/oauth2-password/oauth2-password/tests/harness"
)

// readmeMaxLines keeps the README a front door: what it is, how to try it,
// one short section per gateway, and links to the documents that hold the
// rest (issue 25: a 1,521-line README cost newcomers their first hour).
const readmeMaxLines = 400

func TestReadmeLength(t *testing.T) {
	t.Parallel()
	if n := strings.Count(read(t, "README.md"), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the detail into the document it belongs to and link it", n, readmeMaxLines)
	}
}

// docFiles are the Markdown documents whose links are checked: the README,
// docs/, and the READMEs next to the gateway files.
func docFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"README.md", "docs/*.md", "kong/*.md", "deploy/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(harness.Root(), pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(harness.Root(), f)
			out = append(out, filepath.ToSlash(rel))
		}
	}
	return out
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	fence     = regexp.MustCompile("(?ms)^```.*?^```")
	codeSpan  = regexp.MustCompile("`[^`\n]*`")
	headingRe = regexp.MustCompile(`(?m)^#{1,6} +(.+?)\s*$`)
)

// anchors are the fragment ids GitHub gives a Markdown file's headings:
// lower case, punctuation other than '-' and '_' dropped, spaces as '-',
// a repeated heading suffixed -1, -2, ….
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingRe.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestDocLinks: every relative link of the README and the documents next to
// it names a file of the repository, and every #anchor into a Markdown file
// names one of its headings, so that the split documents keep pointing at
// each other as they move.
func TestDocLinks(t *testing.T) {
	t.Parallel()
	files := docFiles(t)
	if len(files) < 10 {
		t.Fatalf("only %d documents found: %v", len(files), files)
	}
	for _, f := range files {
		text := read(t, f)
		prose := codeSpan.ReplaceAllString(fence.ReplaceAllString(text, ""), "")
		for _, m := range mdLink.FindAllStringSubmatch(prose, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(link, "#")
			target := f
			if path != "" {
				target = filepath.ToSlash(filepath.Join(filepath.Dir(f), path))
				if _, err := os.Stat(filepath.Join(harness.Root(), target)); err != nil {
					t.Errorf("%s links to %s: no such file", f, link)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			if !anchors(read(t, target))[frag] {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", f, link, target, frag)
			}
		}
		// Paths of the machine the project was written on, spelt in
		// pieces so that this file does not contain them itself.
		for _, bad := range []string{"/" + "work/", "shared" + "/reference"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s points outside the repository (%q)", f, bad)
			}
		}
	}
}

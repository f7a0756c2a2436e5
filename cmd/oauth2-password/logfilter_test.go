package main

import (
	"bytes"
	"encoding/json"
	"log"
	"strings"
	"testing"
)

// TestQuietLog: the benign connection-end lines of go-pdk are dropped; any
// other line, including other go-pdk errors, reaches the log.
func TestQuietLog(t *testing.T) {
	tests := []struct {
		msg  string
		kept bool
	}{
		{"EOF", false},
		{"write unix /usr/local/kong/oauth2-password.socket->@: use of closed network connection", false},
		{"no plugin instance 5", true},
		{"oauth2-password: token store: storing a token: connection refused", true},
		{"unexpected EOF in the middle", true},
		{"closed instance 7", true},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		l := log.New(quietLog{&buf}, "", log.LstdFlags)
		l.Print(tc.msg)
		if got := buf.Len() > 0; got != tc.kept {
			t.Errorf("%q: kept = %v, want %v (log %q)", tc.msg, got, tc.kept, buf.String())
		}
	}
}

// TestLibraryLogFormats: a go-pdk line that is kept becomes one record of
// the chosen format, with a level, the fixed message and the line.
func TestLibraryLogFormats(t *testing.T) {
	const line = "no plugin instance 5"
	for _, tc := range []struct {
		format string
		check  func(out string) bool
	}{
		{"json", func(out string) bool {
			var rec map[string]any
			return json.Unmarshal([]byte(out), &rec) == nil && rec["level"] == "WARN" &&
				rec["msg"] == "gateway library" && rec["line"] == line
		}},
		{"text", func(out string) bool {
			return strings.Contains(out, "level=WARN") && strings.Contains(out, `msg="gateway library"`) &&
				strings.Contains(out, `line="`+line+`"`)
		}},
	} {
		var buf bytes.Buffer
		f := engineFlags{logFormat: tc.format}
		l := log.New(quietLog{libraryLog{f.logger(&buf), "gateway library"}}, "", 0)
		l.Print(line)
		l.Print("EOF")
		out := strings.TrimSpace(buf.String())
		if strings.Count(out, "\n") != 0 || !tc.check(out) {
			t.Errorf("%s: got %q", tc.format, out)
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuietLog: exactly go-pdk's two connection-end lines are dropped; any
// other line, including other go-pdk errors and our own store errors that
// happen to end in "EOF", reaches the log.
func TestQuietLog(t *testing.T) {
	tests := []struct {
		msg  string
		kept bool
	}{
		{"EOF", false},
		{"write unix /usr/local/kong/oauth2-password.socket->@: use of closed network connection", false},
		{"no plugin instance 5", true},
		{"oauth2-password: token store: storing a token: connection refused", true},
		{"oauth2-password: token store: storing a token: unexpected EOF", true},
		{"oauth2-password: token cache: read change feed: EOF", true},
		{"unexpected EOF", true},
		{"unexpected EOF in the middle", true},
		{"closed instance 7", true},
		{"read unix /usr/local/kong/oauth2-password.socket->@: connection reset by peer", true},
		{"oauth2-password: x: write unix /a->@: use of closed network connection", true},
	}
	for _, flags := range []int{log.LstdFlags, log.LstdFlags | log.Lmicroseconds, 0} {
		for _, tc := range tests {
			var buf bytes.Buffer
			l := log.New(quietLog{&buf}, "", flags)
			l.Print(tc.msg)
			if got := buf.Len() > 0; got != tc.kept {
				t.Errorf("flags %d, %q: kept = %v, want %v (log %q)", flags, tc.msg, got, tc.kept, buf.String())
			}
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

// TestQuietLogRealErrors: the lines dropped are the text of the errors
// go-pdk really logs: io.EOF, and the error of a write on a Unix
// connection that was closed on our side.
func TestQuietLogRealErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("unix", sock)
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	_, werr := conn.Write([]byte{0})
	if werr == nil || !errors.Is(werr, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v", werr)
	}
	for _, e := range []error{io.EOF, werr} {
		var buf bytes.Buffer
		log.New(quietLog{&buf}, "", log.LstdFlags).Print(e)
		if buf.Len() != 0 {
			t.Errorf("go-pdk's line %q was kept", buf.String())
		}
	}
	var buf bytes.Buffer
	log.New(quietLog{&buf}, "", log.LstdFlags).Print(io.ErrUnexpectedEOF)
	if buf.Len() == 0 {
		t.Errorf("%q was dropped", io.ErrUnexpectedEOF)
	}
}

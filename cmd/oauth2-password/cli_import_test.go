package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestImportProgress: on a terminal the import rewrites one line (carriage
// return, erase to the end) with the tokens read, the estimated total and
// the rate, and ends it with a newline so that what follows starts a line
// of its own.
func TestImportProgress(t *testing.T) {
	var out bytes.Buffer
	p := &progress{w: &out, start: time.Now().Add(-time.Second), total: 10_000}
	p.update(2_000)
	p.update(4_000) // within 250 ms of the last draw: not drawn
	p.last = time.Time{}
	p.update(6_000)
	p.end()
	lines := strings.Split(out.String(), "\r")
	if len(lines) != 4 || lines[0] != "" {
		t.Fatalf("progress wrote %q, want three redraws", out.String())
	}
	for i, want := range []string{"2000 tokens read of about 10000 (20%)", "6000 tokens read of about 10000 (60%)", "6000 tokens read"} {
		if !strings.HasPrefix(lines[i+1], "import-kong: "+want) || !strings.Contains(lines[i+1], "/s\x1b[K") {
			t.Errorf("redraw %d = %q, want %q with a rate, erasing the rest of the line", i, lines[i+1], want)
		}
	}
	if !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("the progress line is not ended: %q", out.String())
	}
}

// TestImportProgressOnlyOnTerminal: a file or a pipe gets no progress
// line (a log would fill with carriage returns).
func TestImportProgressOnlyOnTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, wr := range map[string]io.Writer{"file": f, "pipe": w, "buffer": &bytes.Buffer{}} {
		if isTerminal(wr) {
			t.Errorf("a %s is taken for a terminal", name)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/kongimport"
)

// importKong reads Kong's oauth2 credentials (and, from a database, its
// live password-grant tokens) and writes them into our store, printing the
// contract's one JSON report. Problems are listed, not fatal: exit 0.
func (c *cli) importKong(args []string) error {
	fs := c.flagSet("import-kong")
	var kongURL, kongConfig string
	var dryRun bool
	fs.StringVar(&kongURL, "kong-database-url", "", "Kong's PostgreSQL database (read only)")
	fs.StringVar(&kongConfig, "kong-config", "", "a decK / kong.yml file")
	fs.BoolVar(&dryRun, "dry-run", false, "report what would be imported, write nothing")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("import-kong takes no arguments, got %q", pos[0])
	case (kongURL == "") == (kongConfig == ""):
		return usagef("import-kong: exactly one of --kong-database-url and --kong-config")
	case kongURL != "" && !store.IsPostgresURL(kongURL):
		return usagef("import-kong: --kong-database-url wants a postgres:// or postgresql:// URL")
	}
	return c.withStoreTimeout(importTimeout, func(ctx context.Context, s store.Store) error {
		bulk, ok := s.(kongimport.Store)
		if !ok {
			return errorf("import-kong: the store %T cannot take tokens in bulk", s)
		}
		var src kongimport.Source
		if kongURL != "" {
			src, err = kongimport.ReadDatabase(ctx, kongURL)
		} else {
			src, err = kongimport.ReadConfig(kongConfig)
		}
		if err != nil {
			return err
		}
		defer src.Close()
		opt := kongimport.Options{DryRun: dryRun, Now: time.Now()}
		if kongURL != "" && isTerminal(c.stderr) {
			p := &progress{w: c.stderr, start: time.Now(), total: kongimport.EstimateTokens(ctx, kongURL)}
			opt.Progress = p.update
			defer p.end()
		}
		rep, err := kongimport.Import(ctx, bulk, src, opt)
		if err != nil {
			return err
		}
		return c.printJSON(rep)
	})
}

// importTimeout bounds an import: far longer than other commands, since a
// busy Kong has many live tokens (10 million take minutes).
const importTimeout = 4 * time.Hour

// isTerminal reports whether w is a terminal: progress is for a person
// watching, never for a log file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress rewrites one stderr line, at most a few times a second.
type progress struct {
	w         io.Writer
	start     time.Time
	last      time.Time
	total     int64 // PostgreSQL's estimate; -1 unknown
	done      int
	redrawing bool
}

func (p *progress) update(done int) {
	p.done = done
	if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	secs := time.Since(p.start).Seconds()
	line := fmt.Sprintf("import-kong: %d tokens read", p.done)
	if p.total > 0 {
		line += fmt.Sprintf(" of about %d (%d%%)", p.total, min(100, int64(p.done)*100/p.total))
	}
	if secs > 0 {
		line += fmt.Sprintf(", %.0f/s", float64(p.done)/secs)
	}
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.redrawing = true
}

// end draws the final count and ends the line, so the JSON on stdout and
// the shell prompt start on lines of their own.
func (p *progress) end() {
	if p.done > 0 {
		p.draw()
	}
	if p.redrawing {
		fmt.Fprintln(p.w)
	}
}

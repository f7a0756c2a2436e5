package main

import (
	"context"
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
	}
	return c.withStoreTimeout(importTimeout, func(ctx context.Context, s store.Store) error {
		var src kongimport.Source
		if kongURL != "" {
			src, err = kongimport.ReadDatabase(ctx, kongURL)
		} else {
			src, err = kongimport.ReadConfig(kongConfig)
		}
		if err != nil {
			return err
		}
		rep, err := kongimport.Import(ctx, s, src, dryRun, time.Now())
		if err != nil {
			return err
		}
		return c.printJSON(rep)
	})
}

// importTimeout bounds an import: far longer than other commands, since a
// busy Kong has many live tokens (about a millisecond each over a network).
const importTimeout = time.Hour

package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

var (
	engineOnce sync.Once
	theEngine  *plugin.Engine
)

// maxBodyBytes is the engine's token-request body cap (the default: the
// plugin takes no flags).
var maxBodyBytes = plugin.DefaultOptions().MaxBodyBytes

// engine is the process's engine over a lazily opened store, made at the
// first instance start and never at load: go-pluginserver also loads the
// plugin for -dump-plugin-info, which must not touch a store. go-pluginserver
// passes no flags to a plugin, so every option has its default and the
// store comes from OAUTH2_PASSWORD_DATABASE_URL, else the embedded store in
// the -kong-prefix go-pluginserver was started with.
func engine() *plugin.Engine {
	engineOnce.Do(func() {
		url := os.Getenv("OAUTH2_PASSWORD_DATABASE_URL")
		if url == "" {
			url = "sqlite:" + store.DefaultPathFor(kongPrefix())
		}
		st := store.OpenLazy(context.Background(), url, store.LazyOptions{
			Cache: store.DefaultCacheOptions(), PurgeEvery: time.Minute, PurgeBatch: 1000, Log: slog.Default()})
		o := plugin.DefaultOptions()
		o.Store = st // o.Log is slog.Default(): go-pluginserver's log
		e, err := plugin.NewEngine(o)
		if err != nil { // the defaults are valid; kept as a clear line rather than a nil engine
			log.Printf("oauth2-password: %v", err)
		}
		theEngine = e
	})
	return theEngine
}

// kongPrefix is go-pluginserver's -kong-prefix: a plugin shares the
// process's flag set.
func kongPrefix() string {
	if f := flag.Lookup("kong-prefix"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return "/usr/local/kong"
}

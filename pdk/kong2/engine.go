package main

import (
	"context"
	"flag"
	"log"
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

// engine is the process's engine, made at the first instance start, never
// at load: go-pluginserver also loads the plugin for -dump-plugin-info,
// which must not touch a store.
func engine() *plugin.Engine {
	engineOnce.Do(func() {
		url := os.Getenv("OAUTH2_PASSWORD_DATABASE_URL")
		if url == "" {
			url = "sqlite:" + store.DefaultPathFor(kongPrefix())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := store.Open(ctx, url)
		if err != nil {
			log.Printf("oauth2-password: opening the store failed: %v", err)
			theEngine = plugin.NewEngine(plugin.Options{})
			return
		}
		c := store.NewCached(s, store.CacheOptions{Logf: log.Printf})
		c.Start(context.Background())
		c.StartPurge(context.Background(), time.Minute, 1000)
		theEngine = plugin.NewEngine(plugin.Options{Store: c})
	})
	return theEngine
}

// kongPrefix is go-pluginserver's -kong-prefix: the plugin shares the
// process's flag set.
func kongPrefix() string {
	if f := flag.Lookup("kong-prefix"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return "/usr/local/kong"
}

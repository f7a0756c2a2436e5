package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/Kong/go-pdk/server"

	"github.com/oauth2-password/oauth2-password/pdk/kong"
	"github.com/oauth2-password/oauth2-password/store"
)

// priority places the plugin in Kong's authentication band, like Kong's own
// oauth2 plugin (1400): after jwt (1450), before acl (950).
const priority = 1400

// runKong serves the plugin on <kong-prefix>/oauth2-password.socket, or
// prints the plugin info with -dump.
func runKong() error {
	var f engineFlags
	f.register(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		return usagef("unexpected argument %q: admin commands come first (oauth2-password %s -database-url …)", flag.Arg(0), flag.Arg(0))
	}

	if flag.Lookup("dump").Value.String() == "true" {
		// Kong's query command: print the info and touch no store.
		return server.StartServer(kong.Constructor(nil), version, priority)
	}
	if err := f.check(); err != nil {
		return err
	}
	prefix := flag.Lookup("kong-prefix").Value.String()
	if err := checkSocketPath(prefix); err != nil {
		return err
	}

	// Our lines and go-pdk's (which uses the standard logger) reach
	// Kong's log through one slog handler, so that every line has the
	// chosen format and a level; go-pdk's noise is dropped first.
	logger := f.logger(os.Stderr)
	log.SetFlags(0)
	log.SetOutput(quietLog{libraryLog{logger, "gateway library"}})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, engine, err := f.start(ctx, store.DefaultPathFor(prefix), logger)
	if err != nil {
		return err
	}

	go logStatsOn(syscall.SIGUSR1)
	warnLowFileLimit(func(msg string) { logger.Warn(msg) })

	// Kong stops the plugin server with SIGTERM when its worker exits.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		cancel()
		st.Close()
		os.Exit(0)
	}()

	return server.StartServer(kong.Constructor(engine), version, priority)
}

// maxSocketPath is the longest Unix socket path Linux accepts (108 bytes
// with the terminating NUL). go-pdk would fail later with a bare "bind:
// invalid argument" (kong/PROTOCOL.md §1).
const maxSocketPath = 107

// checkSocketPath refuses a -kong-prefix whose socket path cannot exist.
func checkSocketPath(prefix string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	p := filepath.Join(prefix, filepath.Base(exe)+".socket")
	if len(p) > maxSocketPath {
		return usagef("socket path %s is %d bytes, more than the %d a Unix socket allows: use a shorter -kong-prefix", p, len(p), maxSocketPath)
	}
	return nil
}

// logStatsOn logs one line of process figures each time sig arrives (kill
// -USR1 PID): live heap after a collection and goroutines. It is
// how an operator, or `make soak`, watches a plugin process that serves no
// HTTP of its own for leaks.
func logStatsOn(sig os.Signal) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, sig)
	for range c {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		log.Printf("oauth2-password: stats: heap_alloc=%d heap_sys=%d goroutines=%d", m.HeapAlloc, m.HeapSys, runtime.NumGoroutine())
	}
}

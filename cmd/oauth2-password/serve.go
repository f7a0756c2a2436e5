package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

// shutdownGrace bounds how long in-flight requests may take after SIGTERM.
const shutdownGrace = 10 * time.Second

// serveFlags are serve mode's own flags; engineFlags are shared with Kong
// mode.
type serveFlags struct {
	engineFlags
	config             string
	http               string
	grpc               string
	grpcDefaultService string
	spoe               string
	tlsCert            string
	tlsKey             string
	limits             connLimits
}

// serveUsage heads serve's help; the flags follow.
const serveUsage = `usage: oauth2-password serve -config FILE [flags]
  the standalone server: token, revoke and introspect endpoints, forward auth
  (nginx, Caddy, Traefik), Envoy ext_authz (gRPC with -grpc, and HTTP), HAProxy SPOE.
The store: -database-url URL or -database-url-file PATH, else $` + envDatabaseURL + `,
else the embedded store $XDG_DATA_HOME/` + serveStoreFile + `
(~/.local/share/` + serveStoreFile + ` when XDG_DATA_HOME is unset; created).
A store that cannot be opened at start is an error (exit 1); PostgreSQL is
waited for up to -store-start-timeout.
flags:`

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.engineFlags.register(fs)
	fs.StringVar(&f.config, "config", "", "the config file (YAML): trusted_ips, consumers, services")
	fs.StringVar(&f.http, "http", "127.0.0.1:8080", "address of the HTTP listener (HTTPS with -tls-cert and -tls-key)")
	fs.StringVar(&f.grpc, "grpc", "", "address of the gRPC listener for Envoy's ext_authz Check and grpc.health.v1 (TLS with -tls-cert and -tls-key); off when empty")
	fs.StringVar(&f.spoe, "spoe", "", "address of the HAProxy SPOE agent listener (SPOP, plaintext: keep it on loopback or a private network); off when empty")
	fs.StringVar(&f.grpcDefaultService, "grpc-default-service", "", "SERVICE of a gRPC check whose context_extensions name none (Envoy Gateway's and Istio's providers set none); default: such checks are denied")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "certificate file (PEM) for HTTPS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "private key file (PEM) for HTTPS")
	fs.DurationVar(&f.startTimeout, "store-start-timeout", 30*time.Second, "how long to wait at start for a PostgreSQL store that is not up yet before exiting 1 (the embedded store is tried once); meanwhile requests are answered 503")
	f.limits.register(fs)
}

// runServe is `oauth2-password serve`: the engine as a standalone server.
// It returns when SIGTERM or SIGINT has been handled, or on a start-up
// error.
func runServe(args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, serveUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		}
		return usagef("serve: %v (oauth2-password serve -help lists the flags)", err)
	}
	switch {
	case fs.NArg() > 0:
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	case f.config == "":
		return usagef("serve: -config FILE is required")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return usagef("serve: -tls-cert and -tls-key go together")
	case f.startTimeout <= 0:
		return usagef("serve: -store-start-timeout must be more than 0")
	}
	if err := f.check(); err != nil {
		return err
	}
	if err := f.limits.check(); err != nil {
		return err
	}
	conf, err := loadServeConfig(f.config)
	if err != nil {
		return err
	}
	if d := f.grpcDefaultService; d != "" {
		if _, ok := conf.services[d]; !ok {
			return usagef("serve: -grpc-default-service %q is not a service of %s", d, f.config)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	storeCtx, cancelStore := context.WithCancel(context.Background())
	defer cancelStore()
	logger := f.logger(stderr)
	defaultPath := store.DefaultPath
	if u, err := f.db.resolve(); err == nil && u == "" {
		if defaultPath, err = serveDefaultStore(); err != nil {
			return err
		}
		logger.Info("no store named: the embedded store", "file", defaultPath)
	}
	st, engine, err := f.start(storeCtx, defaultPath, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	services, err := conf.configs(engine)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		return errorf("serve: %v", err)
	}
	srv := &http.Server{
		Handler:           newRouter(conf, services, st, f.engine.MaxBodyBytes, f.limits.answerWithin(), engine, f.signing.issuer),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(libraryLog{logger, "http server"}, "", 0),
	}
	ln = f.limits.apply(srv, ln)
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	logger.Info("serving", "services", len(services), "url", scheme+"://"+ln.Addr().String())
	done := make(chan error, 2)
	var g *grpcFront
	if f.grpc != "" {
		if g, err = newGRPCFront(f.grpc, f.grpcDefaultService, conf, services, f.tlsCert, f.tlsKey); err != nil {
			ln.Close()
			return err
		}
		logger.Info("serving Envoy ext_authz (gRPC)", "addr", g.ln.Addr().String())
		go g.watchReady(storeCtx, st)
		go g.serve(done)
	}
	var sp *spoeFront
	if f.spoe != "" {
		if sp, err = newSPOEFront(f.spoe, conf, services, logger); err != nil {
			ln.Close()
			if g != nil {
				g.srv.Stop()
			}
			return err
		}
		logger.Info("serving HAProxy SPOE agent", "addr", sp.ln.Addr().String())
		go sp.serve(done)
		defer func() { // on the way out without a shutdown (below)
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			sp.stop(ctx, logger)
		}()
	}
	go func() {
		if f.tlsCert != "" {
			done <- srv.ServeTLS(ln, f.tlsCert, f.tlsKey)
		} else {
			done <- srv.Serve(ln)
		}
	}()

	select {
	case err := <-done:
		return errorf("serve: %v", err)
	case <-st.Failed():
		srv.Close()
		if g != nil {
			g.srv.Stop()
		}
		return errorf("serve: cannot open the store (waited up to -store-start-timeout %s for PostgreSQL): %v", f.startTimeout, st.Err())
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Every listener stops accepting at once and drains within the one
	// grace period: SIGTERM's promise is the same for all of them.
	var stopping sync.WaitGroup
	if g != nil {
		stopping.Go(func() { g.stop(sctx, logger) })
	}
	if sp != nil {
		stopping.Go(func() { sp.stop(sctx, logger) })
	}
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("shutdown incomplete", "err", err)
	}
	stopping.Wait()
	return nil
}

// readiness is what /readyz asks.
type readiness interface{ Ready() bool }

// newRouter is serve's HTTP handler: the routes of newServeMux, the
// well-known documents when serve signs upstream JWTs, and the routes of
// forward auth and Envoy's HTTP ext_authz ahead of them all (authRoute).
func newRouter(conf *loadedConfig, configs map[string]*plugin.Config, ready readiness, maxBody int, answerWithin time.Duration, e *plugin.Engine, issuer string) http.Handler {
	dir := httpfront.NewDirectory(conf.consumers)
	services := make(map[string]*httpfront.Service, len(configs))
	for name, c := range configs {
		services[name] = &httpfront.Service{Config: c, Consumers: dir, Trusted: conf.trusted, MaxBody: int64(maxBody), AnswerWithin: answerWithin}
	}
	mux := addWellKnown(newServeMux(services, ready), e, issuer, slices.Collect(maps.Keys(services)))
	return authRoute{services: services, next: mux}
}

// newServeMux routes serve mode's endpoints (docs/serve.md, "Use it without
// Kong"). An unknown SERVICE is 404 with an OAuth-style JSON error.
func newServeMux(services map[string]*httpfront.Service, ready readiness) *http.ServeMux {
	mux := http.NewServeMux()
	route := func(pattern string, h func(*httpfront.Service) http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s, ok := services[r.PathValue("service")]
			if !ok {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "invalid_request", "error_description": "Unknown service " + r.PathValue("service")})
				return
			}
			h(s)(w, r)
		})
	}
	for _, suffix := range []string{"", "/"} {
		route("/services/{service}/oauth2/token"+suffix, func(s *httpfront.Service) http.HandlerFunc { return s.Token })
		route("/services/{service}/oauth2/revoke"+suffix, func(s *httpfront.Service) http.HandlerFunc { return s.Revoke })
		route("/services/{service}/oauth2/introspect"+suffix, func(s *httpfront.Service) http.HandlerFunc { return s.Introspect })
	}
	route("/services/{service}/auth", func(s *httpfront.Service) http.HandlerFunc { return s.ForwardAuth })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "no route matched " + r.URL.Path})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	u := plugin.JSONResponse(status, v)
	httpfront.WriteResponse(w, &u)
}

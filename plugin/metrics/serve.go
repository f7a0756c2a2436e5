package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the metrics are served.
const Path = "/metrics"

// retryBind is how long Serve waits before trying its address again.
const retryBind = 2 * time.Second

// Handler serves the metrics in Prometheus's exposition formats.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// Serve serves the metrics on addr, a listener of their own (never a
// public one), until ctx is done. It logs the address it listens on. The
// address may be taken for a while (Kong starts a new plugin process as
// the old one exits), so a failed bind is logged and retried every 2 s
// instead of ending the process.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) {
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err == nil {
			m.serveOn(ctx, ln, log)
			return
		}
		if ctx.Err() != nil {
			return
		}
		log.Error("metrics listener failed; retrying in 2s", "addr", addr, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryBind):
		}
	}
}

func (m *Metrics) serveOn(ctx context.Context, ln net.Listener, log *slog.Logger) {
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "path", Path)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener stopped", "err", err)
	}
}

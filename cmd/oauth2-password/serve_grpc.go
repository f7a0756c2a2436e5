package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/oauth2-password/oauth2-password/pdk/envoy"
	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/plugin"
)

// grpcFront is serve's gRPC listener: Envoy's ext_authz Check and
// grpc.health.v1.Health.
type grpcFront struct {
	srv    *grpc.Server
	health *health.Server
	ln     net.Listener
}

// newGRPCFront listens on addr. With a certificate it speaks TLS (the
// same files as the HTTP listener), else plaintext HTTP/2 (h2c): what
// Envoy's http2_protocol_options cluster speaks to a loopback or
// same-pod neighbour.
func newGRPCFront(addr, defaultService string, conf *loadedConfig, services map[string]*plugin.Config, tlsCert, tlsKey string) (*grpcFront, error) {
	// Checks run on long-lived workers instead of a new goroutine per
	// stream (envoy.StreamWorkers says why and how many).
	opts := envoy.ServerOptions()
	if tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			return nil, usagef("serve: -tls-cert/-tls-key: %v", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, errorf("serve: -grpc: %v", err)
	}
	g := &grpcFront{srv: grpc.NewServer(opts...), health: health.NewServer(), ln: ln}
	authv3.RegisterAuthorizationServer(g.srv, &envoy.Server{
		Services: services, DefaultService: defaultService, Consumers: httpfront.NewDirectory(conf.consumers), Trusted: conf.trusted})
	healthpb.RegisterHealthServer(g.srv, g.health)
	g.setServing(false)
	return g, nil
}

// healthNames are the names a health check may ask about: the server as
// a whole ("") and the Authorization service.
var healthNames = []string{"", authv3.Authorization_ServiceDesc.ServiceName}

func (g *grpcFront) setServing(on bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if on {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, n := range healthNames {
		g.health.SetServingStatus(n, st)
	}
}

// watchReady reports SERVING once the store is open, as /readyz does;
// until then Check answers 503 and health checks say NOT_SERVING.
func (g *grpcFront) watchReady(ctx context.Context, ready readiness) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !ready.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	g.setServing(true)
}

func (g *grpcFront) serve(done chan<- error) {
	if err := g.srv.Serve(g.ln); err != nil {
		done <- err
	}
}

// stop lets in-flight checks finish until ctx ends, then cuts the rest.
func (g *grpcFront) stop(ctx context.Context, logger *slog.Logger) {
	g.health.Shutdown() // NOT_SERVING: Envoy's health checks drain us first
	finished := make(chan struct{})
	go func() {
		g.srv.GracefulStop()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		logger.Error("gRPC shutdown incomplete", "err", ctx.Err())
		g.srv.Stop()
	}
}

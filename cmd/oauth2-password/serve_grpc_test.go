package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/tests/harness"
)

type readyFlag struct{ atomic.Bool }

func (r *readyFlag) Ready() bool { return r.Load() }

// TestGRPCFrontTLS: with -tls-cert/-tls-key the gRPC listener speaks TLS
// with that certificate (a plaintext client is refused), health says
// NOT_SERVING until the store is ready and SERVING after, and Check
// answers over it.
func TestGRPCFrontTLS(t *testing.T) {
	certFile, keyFile, hc := harness.TLSFiles(t)
	pool := hc.Transport.(*http.Transport).TLSClientConfig.RootCAs
	g, err := newGRPCFront("127.0.0.1:0", "", &loadedConfig{}, map[string]*plugin.Config{}, certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go g.serve(done)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.stop(ctx, slog.New(slog.DiscardHandler))
	})
	addr := g.ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	plain, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := healthpb.NewHealthClient(plain).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("a plaintext client was answered by the TLS listener")
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
		if err != nil {
			t.Fatalf("health over TLS: %v", err)
		}
		return res.GetStatus()
	}
	if s := status(); s != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("before the store is ready: %v, want NOT_SERVING", s)
	}
	var ready readyFlag
	ready.Store(true)
	g.watchReady(ctx, &ready)
	if s := status(); s != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("once the store is ready: %v, want SERVING", s)
	}

	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{"service": "nosuch"}}})
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 500 {
		t.Errorf("Check over TLS: %v %v, want a 500 denial for an unknown service", resp, err)
	}
	select {
	case err := <-done:
		t.Fatalf("gRPC listener stopped: %v", err)
	default:
	}
}

package envoy

import (
	"context"
	"net"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The gRPC benchmarks put Check behind grpc-go on loopback, server and
// client in this process, as serve -grpc and the floor ext_authz server
// (tests/envoy/floorauthz) run it: BenchmarkCheckGRPC is our server,
// BenchmarkCheckGRPCFloor the same stack answering every Check with the
// answer our server gave once. Their ratio is what the bench's Check row
// measures between two processes, without the process noise; a
// -cpuprofile of each shows where the difference goes.
func BenchmarkCheckGRPC(b *testing.B) {
	s := newTestServer(b)
	benchGRPC(b, s, checkOf("orders", benchHeaders(), false))
}

func BenchmarkCheckGRPCFloor(b *testing.B) {
	s := newTestServer(b)
	req := checkOf("orders", benchHeaders(), false)
	resp, err := s.Check(context.Background(), req)
	if err != nil || resp.GetStatus().GetCode() != int32(code.Code_OK) {
		b.Fatalf("Check: %v %v", resp, err)
	}
	benchGRPC(b, floorServer{resp: resp}, req)
}

func benchHeaders() map[string]string {
	return map[string]string{":authority": "api.example.com", ":method": "GET", ":path": "/things?page=1", ":scheme": "https",
		"authorization": "Bearer " + tokenOf("orders"), "x-forwarded-proto": "https", "user-agent": "curl/8.5.0",
		"x-request-id": "3f1c0b8e-7a51-4a70-9a5e-1b2c3d4e5f60"}
}

// floorServer answers every Check with resp and does nothing else.
type floorServer struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

func (f floorServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return f.resp, nil
}

// benchGRPC serves srv on loopback with serve -grpc's options and runs
// Check from 8 goroutines over one connection, as Envoy keeps one.
func benchGRPC(b *testing.B, srv authv3.AuthorizationServer, req *authv3.CheckRequest) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer(ServerOptions()...)
	authv3.RegisterAuthorizationServer(g, srv)
	go g.Serve(ln)
	defer g.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := authv3.NewAuthorizationClient(conn)
	ctx := context.Background()
	if _, err := c.Check(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4) // 4 × GOMAXPROCS 2 = 8 at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Check(ctx, req)
			if err != nil || resp.GetStatus().GetCode() != int32(code.Code_OK) {
				b.Errorf("Check: %v %v", resp, err)
				return
			}
		}
	})
}

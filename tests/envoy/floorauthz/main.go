// Command floorauthz is the floor of `make bench`'s gRPC ext_authz row: an
// Envoy Authorization server on the same grpc-go stack as serve -grpc that
// answers every Check OK with the upstream changes serve makes for a valid
// token (four identity headers set, three removed), and does nothing else.
// What serve costs above it is the engine and building its answer.
//
//	floorauthz -grpc 127.0.0.1:9192
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/oauth2-password/oauth2-password/pdk/envoy"
	"github.com/oauth2-password/oauth2-password/store"
)

type floor struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

func (f *floor) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return f.resp, nil
}

// okResponse is serve's answer for a valid token without a scope of
// consumer bob, who has no custom id.
func okResponse(consumerID, clientID, userID string) *authv3.CheckResponse {
	set := func(k, v string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: k, Value: v},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD}
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(code.Code_OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{set("x-consumer-id", consumerID), set("x-consumer-username", "bob"),
				set("x-credential-identifier", clientID), set("x-authenticated-userid", userID)},
			HeadersToRemove: []string{"x-consumer-custom-id", "x-anonymous-consumer", "x-authenticated-scope"}}}}
}

func main() {
	addr := flag.String("grpc", "127.0.0.1:9192", "listen address")
	consumer := flag.String("consumer-id", "bob", "x-consumer-id")
	client := flag.String("client-id", "client", "x-credential-identifier")
	user := flag.String("user", "user-1", "x-authenticated-userid")
	flag.Parse()
	// The collector setting the binary gives itself, so that the floor
	// differs from it in code, not in runtime settings.
	store.KeepHeapGoalAbove(store.MinHeapGoal)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorauthz:", err)
		os.Exit(1)
	}
	srv := grpc.NewServer(envoy.ServerOptions()...) // serve's
	authv3.RegisterAuthorizationServer(srv, &floor{resp: okResponse(*consumer, *client, *user)})
	fmt.Fprintln(os.Stderr, "floorauthz: serving on", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "floorauthz:", err)
		os.Exit(1)
	}
}

// Command floorspoe is the floor of `make bench`'s HAProxy row: an SPOE
// agent on the same library as serve -spoe (negasus/haproxy-spoe-go) that
// answers every oauth2-check message with the variables serve sets for a
// valid token of orders (deploy/haproxy/serve.yaml: hide_credentials), and
// decides nothing. What serve costs above it is the engine and building
// its answer.
//
//	floorspoe -spoe 127.0.0.1:12345
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/negasus/haproxy-spoe-go/action"
	"github.com/negasus/haproxy-spoe-go/agent"
	"github.com/negasus/haproxy-spoe-go/logger"
	"github.com/negasus/haproxy-spoe-go/request"

	"github.com/oauth2-password/oauth2-password/pdk/spoe"
	"github.com/oauth2-password/oauth2-password/store"
)

func main() {
	addr := flag.String("spoe", "127.0.0.1:12345", "listen address")
	consumer := flag.String("consumer-id", "bob", "X-Consumer-ID")
	client := flag.String("client-id", "client", "X-Credential-Identifier")
	user := flag.String("user", "user-1", "X-Authenticated-Userid")
	flag.Parse()
	// The collector setting the binary gives itself, so that the floor
	// differs from it in code, not in runtime settings.
	store.KeepHeapGoalAbove(store.MinHeapGoal)
	// serve's variables for a valid token without a scope of consumer bob,
	// who has no custom id, on a service with hide_credentials.
	vars := []struct{ name, value string }{
		{"X-Consumer-ID", *consumer}, {"X-Consumer-Username", "bob"}, {"X-Consumer-Custom-ID", ""},
		{"X-Credential-Identifier", *client}, {"X-Authenticated-Userid", *user}, {"X-Authenticated-Scope", ""},
		{"X-Anonymous-Consumer", ""}, {"Authorization", ""},
	}
	handler := func(req *request.Request) {
		for _, m := range *req.Messages {
			if m.Name != spoe.MessageName {
				continue
			}
			req.Actions.SetVar(action.ScopeTransaction, spoe.VarAllow, true)
			for _, v := range vars {
				req.Actions.SetVar(action.ScopeTransaction, spoe.HeaderVar(v.name), v.value)
			}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorspoe:", err)
		os.Exit(1)
	}
	if err := agent.New(handler, logger.NewLog(log.New(os.Stderr, "floorspoe: ", 0))).Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "floorspoe:", err)
		os.Exit(1)
	}
}

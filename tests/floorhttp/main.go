// Command floorhttp is the forward-auth floor: an HTTP server that answers
// every request 200 with the identity headers of a validated request and
// does nothing else. `make bench` measures serve's forward-auth endpoint
// against it, with the same client and net/http stack on both sides.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/oauth2-password/oauth2-password/pdk/httpfront"
	"github.com/oauth2-password/oauth2-password/store"
)

func main() {
	addr := flag.String("http", "127.0.0.1:0", "listen address")
	flag.Parse()
	// The collector setting the binary gives itself, so that the floor
	// differs from it in code, not in runtime settings.
	store.KeepHeapGoalAbove(store.MinHeapGoal)
	identity := map[string]string{
		"X-Consumer-Id":           "5c3c0000-0000-4000-8000-0000000000b0",
		"X-Consumer-Username":     "bob",
		"X-Credential-Identifier": "0123456789abcdefghijklmnopqrstuv",
		"X-Authenticated-Userid":  "user-1",
	}
	// serve's default deadlines too: net/http sets them on every request.
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: httpfront.ReadTimeout, WriteTimeout: httpfront.WriteTimeout, IdleTimeout: httpfront.IdleTimeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for k, v := range identity {
				w.Header().Set(k, v)
			}
			w.WriteHeader(http.StatusOK)
		})}
	log.Fatal(srv.ListenAndServe())
}

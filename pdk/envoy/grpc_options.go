package envoy

import "google.golang.org/grpc"

// StreamWorkers is how many long-lived goroutines run Checks (grpc-go's
// NumStreamWorkers). A Check that finds no idle worker runs on a new
// goroutine, whose 2 KiB stack grows (and is copied) two or three times
// on the engine's call path; a worker's stack grows again only after the
// GC has shrunk it while idle. Envoy keeps one connection per worker
// thread with many Checks in flight on each, so one worker per CPU
// (grpc-go's suggestion) left most Checks on fresh goroutines at
// concurrency 8: stack copying was 15 % of serve's CPU in a profile, 1.8 %
// with 16 workers; 64 leave room for more Checks in flight. An idle worker
// costs its stack (a few KiB).
const StreamWorkers = 64

// ServerOptions are the grpc-go server options of serve -grpc, shared
// with the floor server `make bench` compares it against, so that the
// two differ only in what answers Check.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.NumStreamWorkers(StreamWorkers)}
}

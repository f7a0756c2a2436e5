package store

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// MinHeapGoal is the least heap the binary lets the collector aim for
// (KeepHeapGoalAbove): part of the fixed 64 MiB of the memory budget.
//
// Why: at Go's default GOGC=100 a process whose live heap is small (a few
// MB: the usual node, its cache far from its bound) aims for a 4 MB heap
// and collects every few MB allocated, and a cached-token check allocates
// several KB in gRPC and net/http alone: serve spent 6.6–6.9 µs of
// collector CPU per gRPC Check (docs/performance.md). A static higher
// GOGC would do the same for small heaps but let a large cache's heap grow
// to that multiple of its live data (measured: 1.26 GB of RSS for a full
// million-entry cache at GOGC=400 against about half that at 100); a
// floor on the goal leaves large heaps exactly as before.
const MinHeapGoal = 32 << 20

// KeepHeapGoalAbove makes the collector aim for a heap of about
// max(2 × live heap, goal) instead of Go's 2 × live heap (at least 4 MB):
// after each collection it sets the GC percentage for the next one from
// the live heap that collection left. It does nothing when the operator
// set GOGC, which then wins. The soft memory limit, when set, still caps
// the heap. stop ends it and puts the percentage back to 100 (for tests).
func KeepHeapGoalAbove(goal uint64) (stop func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	var (
		mu      sync.Mutex // stop and a tuning never interleave
		stopped bool
	)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	last := 100
	var arm func()
	arm = func() {
		// The finalizer of an unreachable object runs after the
		// collection that found it; each run arms the next one. The
		// object is 32 bytes so that it is not one of the tiny
		// allocations, whose finalizers may never run.
		runtime.SetFinalizer(new(gcCycle), func(*gcCycle) {
			mu.Lock()
			defer mu.Unlock()
			if stopped {
				return
			}
			metrics.Read(sample)
			live, roots := sample[0].Value.Uint64(), sample[1].Value.Uint64()+sample[2].Value.Uint64()
			if p := heapGoalPercent(live, roots, goal); p != last {
				debug.SetGCPercent(p)
				last = p
			}
			arm()
		})
	}
	arm()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		debug.SetGCPercent(100)
	}
}

type gcCycle [32]byte

// heapGoalPercent is the GC percentage whose goal is about goal bytes of
// heap for a live heap of live bytes and roots bytes of stacks and
// globals to scan. Go's goal is live + (live + roots) × percent/100, but
// never under its minimum heap, 4 MiB × percent/100: the percentage is 100
// (Go's default) once that default reaches goal, and at most the one
// whose minimum heap is goal (800 for 32 MiB), which a small heap gets.
func heapGoalPercent(live, roots, goal uint64) int {
	scan := live + roots
	if live == 0 || live+scan >= goal {
		return 100
	}
	return int(max(100, min(100*goal/goHeapMinimum, 100*(goal-live)/scan)))
}

// goHeapMinimum is the runtime's minimum heap goal at GOGC=100
// (runtime.defaultHeapMinimum); it scales with the percentage.
const goHeapMinimum = 4 << 20

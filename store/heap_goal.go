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
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
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
			if p := heapGoalPercent(sample[0].Value.Uint64(), goal); p != last {
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

// heapGoalPercent is the GC percentage whose goal for a live heap of live
// bytes is about goal: 100 (Go's default) once 2 × live reaches goal, and
// at most 10,000 (a live heap under goal/100 is a process that has barely
// started).
func heapGoalPercent(live, goal uint64) int {
	if live == 0 || 2*live >= goal {
		return 100
	}
	return int(min(10_000, 100*(goal-live)/live))
}

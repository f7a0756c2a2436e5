package store

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestHeapGoalPercent(t *testing.T) {
	const goal = 32 << 20
	for _, tc := range []struct {
		live, roots uint64
		want        int
	}{
		{1 << 20, 0, 800},        // 1 MB live: Go's minimum heap becomes 32 MB
		{4 << 20, 2 << 20, 466},  // stacks and globals count in Go's goal too
		{8 << 20, 0, 300},        // 8 MB: 32 MB
		{16 << 20, 0, 100},       // twice the live heap is the goal already
		{12 << 20, 8 << 20, 100}, // with its roots, Go's default reaches it
		{200 << 20, 0, 100},      // a large cache: Go's default, unchanged
		{100 << 10, 0, 800},      // a process that has barely started
		{0, 0, 100},              // nothing read
		{goal/2 - 1<<10, 0, 100}, // just under half the goal: at least Go's default
	} {
		if got := heapGoalPercent(tc.live, tc.roots, goal); got != tc.want {
			t.Errorf("heapGoalPercent(%d, %d) = %d, want %d", tc.live, tc.roots, got, tc.want)
		}
	}
}

// TestKeepHeapGoalAbove: a process with a small live heap runs with a GC
// percentage that aims for the goal once a collection has run (the
// go_gc_gogc_percent an operator sees), and stop puts Go's default back.
func TestKeepHeapGoalAbove(t *testing.T) {
	t.Setenv("GOGC", "")
	gogc := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	stop := KeepHeapGoalAbove(1 << 30)
	deadline := time.Now().Add(10 * time.Second)
	for gogc() <= 100 {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("GC percentage still %d after collections", gogc())
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the finalizer goroutine runs the tuning
	}
	stop()
	if got := gogc(); got != 100 {
		t.Errorf("after stop: GC percentage %d, want 100", got)
	}

	t.Setenv("GOGC", "100")
	stop = KeepHeapGoalAbove(1 << 30)
	defer stop()
	for range 3 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if got := gogc(); got != 100 {
		t.Errorf("with GOGC set by the operator: GC percentage %d, want it left at 100", got)
	}
}

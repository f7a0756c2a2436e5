package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/oauth2-password/oauth2-password/store"
)

// applyMemoryBudget makes the token cache's memory budget the process's
// soft memory limit, unless the operator chose one with GOMEMLIMIT (Go
// reads that itself). The limit is soft: past it the collector runs more
// often (at most half the CPU, by Go's own cap) rather than the process
// failing, so a budget set too low costs CPU, never answers.
//
// It also keeps the collector's heap goal at store.MinHeapGoal or more
// unless GOGC is set (store.KeepHeapGoalAbove): a small heap is then
// collected several times less often, a large one as before. stopGC ends
// that (for tests).
func applyMemoryBudget(maxEntries int, upstreamJWT bool, log *slog.Logger) (stopGC func()) {
	stopGC = store.KeepHeapGoalAbove(store.MinHeapGoal)
	if os.Getenv("GOMEMLIMIT") != "" {
		return stopGC
	}
	limit := store.MemoryBudget(maxEntries, upstreamJWT)
	debug.SetMemoryLimit(limit)
	log.Debug("soft memory limit from -cache-max-entries", "bytes", limit)
	return stopGC
}

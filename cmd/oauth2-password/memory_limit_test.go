package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryBudgetIsTheSoftLimit: the token cache's bound sets the
// process's soft memory limit, sized for JWTs when keys are configured,
// and an operator's GOMEMLIMIT always wins.
func TestMemoryBudgetIsTheSoftLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	for _, tc := range []struct {
		name       string
		entries    int
		jwt        bool
		gomemlimit string
		want       int64
	}{
		{"default bound", 250_000, false, "", 64<<20 + 250_000*4096},
		{"a million tokens", 1_000_000, false, "", 64<<20 + 1_000_000*4096},
		{"upstream JWTs cached too", 1_000_000, true, "", 64<<20 + 1_000_000*8192},
		{"GOMEMLIMIT set by the operator", 1_000_000, false, "3GiB", math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			debug.SetMemoryLimit(math.MaxInt64)
			defer applyMemoryBudget(tc.entries, tc.jwt, slog.New(slog.DiscardHandler))()
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("soft memory limit %d, want %d", got, tc.want)
			}
		})
	}
}

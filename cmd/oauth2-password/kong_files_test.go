package main

import (
	"strings"
	"testing"
)

func TestLowFileLimit(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		cpus  int
		warn  bool
	}{
		{1024, 1, false},
		{512, 1, false},
		{511, 1, true},
		{256, 2, true},
		{1024, 4, true},
		{1280, 4, false},
		{1048576, 64, false},
	} {
		msg := lowFileLimit(tc.limit, tc.cpus)
		if (msg != "") != tc.warn {
			t.Errorf("limit %d, %d CPUs: %q; want a warning: %v", tc.limit, tc.cpus, msg, tc.warn)
		}
		if tc.warn && !strings.Contains(msg, "ulimit -n") {
			t.Errorf("the warning does not say what to raise: %q", msg)
		}
	}
}

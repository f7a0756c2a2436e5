package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat times
// (100 on every mainstream architecture).
const clockTick = 10 * time.Millisecond

// cpuUse is the CPU time used so far by the processes a round involves.
type cpuUse struct {
	plugin, self, postgres time.Duration
}

func (a cpuUse) sub(b cpuUse) cpuUse {
	return cpuUse{a.plugin - b.plugin, a.self - b.self, a.postgres - b.postgres}
}

func (a cpuUse) add(b cpuUse) cpuUse {
	return cpuUse{a.plugin + b.plugin, a.self + b.self, a.postgres + b.postgres}
}

// readCPU reads the CPU time of the plugin process (pid; 0 = none), of
// this process (the test host and the raw loops) and of every postgres
// process.
func readCPU(pid int) cpuUse {
	var u cpuUse
	if pid > 0 {
		u.plugin, _ = procCPU(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		if d, comm := procCPU(s); comm == "postgres" {
			u.postgres += d
		}
	}
	return u
}

// procCPU returns utime+stime and the command name from a
// /proc/<pid>/stat file.
func procCPU(path string) (time.Duration, string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, ""
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, ""
	}
	comm := s[open+1 : end]
	f := strings.Fields(s[end+1:])
	// After the command: state is field 3 of the file; utime and stime
	// are fields 14 and 15, i.e. f[11] and f[12].
	if len(f) < 13 {
		return 0, comm
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick, comm
}

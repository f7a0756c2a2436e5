package main

import (
	"fmt"
	"runtime"
	"syscall"
)

// Kong keeps a pool of connections to the plugin socket in each worker
// (up to 256, lua_socket_pool_size), and go-pdk's accept loop ends the
// process on any accept error (log.Fatal), "too many open files" included:
// every in-flight request of the node fails until Kong respawns it. The
// plugin cannot catch that, so it says at start when its open-file limit
// is below what Kong may open: 256 per CPU (nginx's worker_processes
// auto), and as many again for the store, the log and spare.
const socketsPerWorker = 256

// lowFileLimit is the warning for an open-file limit of limit on a machine
// of cpus CPUs, or "" when the limit is enough.
func lowFileLimit(limit uint64, cpus int) string {
	want := uint64(cpus+1) * socketsPerWorker
	if limit >= want {
		return ""
	}
	return fmt.Sprintf("the open-file limit (%d) is below %d: Kong's workers may open up to %d connections each to the plugin socket, and the plugin exits when it cannot accept one; raise the limit Kong starts with (ulimit -n, LimitNOFILE, the container's nofile)", limit, want, socketsPerWorker)
}

// fileLimit is the process's open-file limit, as the Go runtime left it
// (it raises the soft limit to the hard one at start).
func fileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return l.Cur, true
}

// warnLowFileLimit logs lowFileLimit's warning, if any.
func warnLowFileLimit(warn func(msg string)) {
	if limit, ok := fileLimit(); ok {
		if msg := lowFileLimit(limit, runtime.NumCPU()); msg != "" {
			warn(msg)
		}
	}
}

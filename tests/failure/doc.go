// Package failure holds the end-to-end failure tests: the real plugin
// binary, under the Kong-side test host, through its real socket, while
// PostgreSQL stops, the process is killed, fifty clients race, requests
// are absurd or hostile, and a brute-force attack runs. Each test says
// what a user would notice and bounds its own running time.
//
// The package runs a PostgreSQL server of its own (store/pgtest), so that
// stopping it disturbs no other package's tests.
package failure

// Package ha tests oauth2-password on highly available PostgreSQL: a
// primary and a streaming-replication standby started from the installed
// PostgreSQL binaries (store/pgtest), the real binary in serve mode and in
// Kong mode, the primary stopped as by a crash and the standby promoted
// while clients issue and validate tokens; the LISTEN session across a
// failover and a restart; connections to a demoted primary; and one run
// under pg_auto_failover, a real failover manager.
//
// Every test starts servers of its own, so that stopping them disturbs no
// other test. The failover tests run one at a time, first, so that their
// unavailable windows are measured on a quiet machine; the others then
// run in parallel (the pg_auto_failover run mostly waits for its
// manager).
package ha

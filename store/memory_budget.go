package store

// The memory budget of a process whose size is its token cache.
//
// A cached token takes about 255 bytes of live heap at the bound (entry,
// key, go-cache item, shard ring slot). A token validated more than once
// also keeps a memo with its entry (plugin/upstream_memo.go: its upstream
// header values, about 200 bytes, and each front's finished answer: about
// 1.5 KB for a gRPC CheckResponse, 0.3 KB for forward auth or for Kong's
// encoded set_headers argument). With upstream
// JWTs the entry also carries the signed JWT (about 500–700 bytes), which
// the remembered answer repeats. Go's collector lets the heap grow to about
// twice the live data between collections (GOGC=100). So a token is
// budgeted, at worst, 4 KiB of process memory, 8 KiB with upstream JWTs.
// What is not the token cache (code, stacks, the client and consumer
// caches, which hold few entries, connection buffers) is budgeted a fixed
// 64 MiB.
const (
	baseProcessBytes           = 64 << 20
	bytesPerCachedToken        = 4 << 10
	bytesPerCachedTokenWithJWT = 8 << 10
)

// MemoryBudget is the memory in bytes that a process caching up to
// maxEntries tokens is sized for, at worst: the base plus maxEntries
// budgeted tokens.
// The binary makes it its soft memory limit (runtime/debug.SetMemoryLimit)
// unless GOMEMLIMIT is set, so that the collector works harder as the
// process nears it instead of letting the heap double past it.
func MemoryBudget(maxEntries int, upstreamJWT bool) int64 {
	per := int64(bytesPerCachedToken)
	if upstreamJWT {
		per = bytesPerCachedTokenWithJWT
	}
	return baseProcessBytes + int64(max(maxEntries, 0))*per
}

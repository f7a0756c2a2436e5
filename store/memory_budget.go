package store

// The memory budget of a process whose size is its token cache.
//
// A cached token takes about 255 bytes of live heap at the bound (entry,
// key, go-cache item, shard ring slot). Go's collector lets the heap grow
// to about twice the live data between collections (GOGC=100), so a token
// is budgeted 512 bytes of process memory. With upstream JWTs a token's
// cache entry also carries its signed JWT (about 500–700 bytes and the
// attachment that holds it): 2 KiB. What is not the token cache (code,
// stacks, the client and consumer caches, which hold few entries,
// connection buffers) is budgeted a fixed 64 MiB.
const (
	baseProcessBytes           = 64 << 20
	bytesPerCachedToken        = 512
	bytesPerCachedTokenWithJWT = 2 << 10
)

// MemoryBudget is the memory in bytes that a process caching up to
// maxEntries tokens is sized for: the base plus maxEntries budgeted tokens.
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

package store

import (
	"context"
	"errors"
	"time"
)

// Metrics is told what the store does, for monitoring; the binary's
// Prometheus collector implements it. Its methods run on the request
// path: they must be cheap and must not block.
type Metrics interface {
	// CacheLookup reports one lookup in Cached's cache: kind is
	// CacheTokens or CacheClients. A read that Cached sends to the
	// database (a miss, or a cache not in use) is a miss.
	CacheLookup(kind string, hit bool)
	// StoreCall reports one call to the database: op names the Store
	// method (the Op constants), result is one of the Result constants.
	StoreCall(op string, took time.Duration, result string)
}

// Cache kinds (Metrics.CacheLookup).
const (
	CacheTokens  = "token"
	CacheClients = "client"
)

// Results of a store call (Metrics.StoreCall). A "no such row" or "already
// used" answer is a call that worked: ResultOK.
const (
	ResultOK      = "ok"
	ResultTimeout = "timeout" // the call's deadline passed (-store-timeout)
	ResultError   = "error"
)

// Ops: the Store methods as StoreCall names them.
const (
	OpMigrate        = "migrate"
	OpCreateClient   = "create_client"
	OpClient         = "client"
	OpClients        = "clients"
	OpDeleteClient   = "delete_client"
	OpCreateToken    = "create_token"
	OpTokenByAccess  = "token_by_access"
	OpTokenByRefresh = "token_by_refresh"
	OpRotateRefresh  = "rotate_refresh"
	OpReissueAccess  = "reissue_access"
	OpRevoke         = "revoke"
	OpPurgeExpired   = "purge_expired"
	OpChanges        = "changes"
	OpSetIntrospect  = "set_introspection"
	OpTokenCheckKey  = "token_check_key"
)

// Ops lists every op.
func Ops() []string {
	return []string{OpMigrate, OpCreateClient, OpClient, OpClients, OpDeleteClient, OpCreateToken,
		OpTokenByAccess, OpTokenByRefresh, OpRotateRefresh, OpReissueAccess, OpRevoke, OpPurgeExpired, OpChanges,
		OpSetIntrospect, OpTokenCheckKey}
}

// resultOf classifies a store call's error.
func resultOf(err error) string {
	switch {
	case err == nil, errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrRefreshReused):
		return ResultOK
	case errors.Is(err, context.DeadlineExceeded):
		return ResultTimeout
	}
	return ResultError
}

// noMetrics is the Metrics of a store nobody watches.
type noMetrics struct{}

func (noMetrics) CacheLookup(string, bool)                {}
func (noMetrics) StoreCall(string, time.Duration, string) {}

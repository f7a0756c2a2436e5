package store

import (
	"context"
	"time"
)

// observed is a Store that reports every call to m: the database as the
// metrics see it, underneath Cached (so cache hits are not store calls).
type observed struct {
	s Store
	m Metrics
}

// Observed wraps s so that every call is reported to m. A store whose
// writes are announced (PostgreSQL) stays one, so that Cached still
// listens for the announcements.
func Observed(s Store, m Metrics) Store {
	if n, ok := s.(notifier); ok {
		return observedNotifier{observed{s, m}, n}
	}
	return observed{s, m}
}

// observedNotifier is an observed PostgreSQL store: Cached finds its
// notifier through it.
type observedNotifier struct {
	observed
	notifier
}

// call runs f, one call of op, and reports it.
func call[T any](o observed, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	o.m.StoreCall(op, time.Since(start), resultOf(err))
	return v, err
}

// call0 is call for the methods that return only an error.
func call0(o observed, op string, f func() error) error {
	_, err := call(o, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

func (o observed) Migrate(ctx context.Context) error {
	return call0(o, OpMigrate, func() error { return o.s.Migrate(ctx) })
}

func (o observed) CreateClient(ctx context.Context, c Client) error {
	return call0(o, OpCreateClient, func() error { return o.s.CreateClient(ctx, c) })
}

func (o observed) Client(ctx context.Context, clientID string) (Client, error) {
	return call(o, OpClient, func() (Client, error) { return o.s.Client(ctx, clientID) })
}

func (o observed) Clients(ctx context.Context, consumer string) ([]Client, error) {
	return call(o, OpClients, func() ([]Client, error) { return o.s.Clients(ctx, consumer) })
}

func (o observed) DeleteClient(ctx context.Context, clientID string) error {
	return call0(o, OpDeleteClient, func() error { return o.s.DeleteClient(ctx, clientID) })
}

func (o observed) SetIntrospection(ctx context.Context, clientID, svc string, allow bool) error {
	return call0(o, OpSetIntrospect, func() error { return o.s.SetIntrospection(ctx, clientID, svc, allow) })
}

func (o observed) TokenCheckKey(ctx context.Context) ([]byte, error) {
	return call(o, OpTokenCheckKey, func() ([]byte, error) { return o.s.TokenCheckKey(ctx) })
}

func (o observed) CreateToken(ctx context.Context, t Token) error {
	return call0(o, OpCreateToken, func() error { return o.s.CreateToken(ctx, t) })
}

func (o observed) TokenByAccess(ctx context.Context, access Digest) (Token, error) {
	return call(o, OpTokenByAccess, func() (Token, error) { return o.s.TokenByAccess(ctx, access) })
}

func (o observed) TokenByRefresh(ctx context.Context, refresh Digest) (Token, error) {
	return call(o, OpTokenByRefresh, func() (Token, error) { return o.s.TokenByRefresh(ctx, refresh) })
}

func (o observed) RotateRefresh(ctx context.Context, old Digest, next Token) error {
	return call0(o, OpRotateRefresh, func() error { return o.s.RotateRefresh(ctx, old, next) })
}

func (o observed) ReissueAccess(ctx context.Context, refresh Digest, access Digest, issuedAt time.Time, expiresIn int64, refreshExpiresAt time.Time) error {
	return call0(o, OpReissueAccess, func() error {
		return o.s.ReissueAccess(ctx, refresh, access, issuedAt, expiresIn, refreshExpiresAt)
	})
}

func (o observed) Revoke(ctx context.Context, r Revocation) (int, error) {
	return call(o, OpRevoke, func() (int, error) { return o.s.Revoke(ctx, r) })
}

func (o observed) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return call(o, OpPurgeExpired, func() (int, error) { return o.s.PurgeExpired(ctx, now, limit) })
}

func (o observed) Changes(ctx context.Context, after int64) (cs []Change, seq int64, err error) {
	cs, err = call(o, OpChanges, func() ([]Change, error) {
		var err error
		cs, seq, err = o.s.Changes(ctx, after)
		return cs, err
	})
	return cs, seq, err
}

func (o observed) Close() error { return o.s.Close() }

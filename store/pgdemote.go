package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"github.com/lib/pq"
)

// A failover can leave this process connected to a server that is no
// longer the primary: a manager that demotes the old primary into a
// standby without restarting it, or a proxy or DNS name that moved while
// connections stayed open. Such a server answers every write with
// SQLSTATE 25006 (read_only_sql_transaction: "cannot execute INSERT in a
// read-only transaction", "cannot execute pg_notify() during recovery"),
// and database/sql would hand the same connections out again and again.
//
// demoteGuard drops them: the first 25006 seen on any connection moves the
// pool to a new epoch, and every connection opened in an older epoch
// reports itself bad (driver.SessionResetter before reuse, driver.Validator
// when returned), so database/sql closes it and opens a new one, which
// lib/pq opens on a host that accepts writes when the URL says
// target_session_attrs=read-write. The request that met the 25006 fails
// (503 temporarily_unavailable); the next ones run on the new primary.
type demoteGuard struct {
	epoch   atomic.Uint64
	demoted atomic.Int64 // 25006 answers seen, for tests and logs
}

// pqConn is what lib/pq's connection implements and database/sql uses.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

type guardedConnector struct {
	c driver.Connector
	g *demoteGuard
}

func (gc guardedConnector) Driver() driver.Driver { return gc.c.Driver() }

func (gc guardedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	epoch := gc.g.epoch.Load()
	cn, err := gc.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := cn.(pqConn)
	if !ok {
		return cn, nil // another driver: nothing to guard
	}
	return &guardedConn{pqConn: pc, g: gc.g, epoch: epoch}, nil
}

type guardedConn struct {
	pqConn
	g     *demoteGuard
	epoch uint64
}

// seen moves the pool to a new epoch if err says the server is read-only.
func (c *guardedConn) seen(err error) error {
	if isReadOnly(err) {
		c.g.demoted.Add(1)
		c.g.epoch.CompareAndSwap(c.epoch, c.epoch+1)
	}
	return err
}

func (c *guardedConn) stale() bool { return c.epoch != c.g.epoch.Load() }

func (c *guardedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.pqConn.ExecContext(ctx, q, args)
	return r, c.seen(err)
}

func (c *guardedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.pqConn.QueryContext(ctx, q, args)
	return r, c.seen(err)
}

// BeginTx opens a transaction with a plain BEGIN when the options are
// the defaults (every transaction of the store). lib/pq says BEGIN READ
// WRITE then, which overrides default_transaction_read_only: on a primary
// demoted in place the transaction's writes would commit there and be
// answered 200, then lost with the failover. After a plain BEGIN the
// first write meets 25006 as an autocommit one does, and the pool moves
// on. lib/pq's connection is its own driver.Tx (Commit, Rollback).
func (c *guardedConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	tx, ok := c.pqConn.(driver.Tx)
	if o != (driver.TxOptions{}) || !ok {
		tx, err := c.pqConn.BeginTx(ctx, o)
		return tx, c.seen(err)
	}
	if _, err := c.pqConn.ExecContext(ctx, "BEGIN", nil); err != nil {
		return nil, c.seen(err)
	}
	return tx, nil
}

func (c *guardedConn) ResetSession(ctx context.Context) error {
	if c.stale() {
		return driver.ErrBadConn
	}
	return c.pqConn.ResetSession(ctx)
}

func (c *guardedConn) IsValid() bool { return !c.stale() && c.pqConn.IsValid() }

// isReadOnly reports SQLSTATE 25006, read_only_sql_transaction: the
// server is a standby (or in default_transaction_read_only).
func isReadOnly(err error) bool {
	pe := (*pq.Error)(nil)
	return err != nil && errors.As(err, &pe) && pe.Code == "25006"
}

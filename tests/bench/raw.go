package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "github.com/lib/pq"  // "postgres"
	_ "modernc.org/sqlite" // "sqlite"

	"github.com/oauth2-password/oauth2-password/store"
)

// writer is the baseline of an issuance comparison: the database writes of
// one token issuance and nothing else.
type writer interface {
	name() string
	store() string
	write(ctx context.Context) error
	close()
}

// rawWriter inserts tokens shaped like the plugin's (random digests, a
// random family id, the same client and service and lifetimes).
type rawWriter struct {
	db       *sql.DB
	label    string
	storeLbl string
	clientID string
	service  any
	insert   string      // store.InsertTokenSQL or store.InsertTokenSQLite
	wmu      *sync.Mutex // SQLite: one writer at a time, as sqlStore does
	// owner, on PostgreSQL, is the client and service's owner id, looked
	// up once as the store does (store.OwnerIDSQL) and cached.
	owner int32
}

func (w *rawWriter) name() string  { return w.label }
func (w *rawWriter) store() string { return w.storeLbl }
func (w *rawWriter) close()        { w.db.Close() }

func (w *rawWriter) write(ctx context.Context) error {
	var b [32 + 32 + 16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	now := time.Now().Unix()
	const expiresIn, refreshTTL = 7200, 1209600
	if w.wmu != nil {
		w.wmu.Lock()
		defer w.wmu.Unlock()
	}
	// The store's own statement, run as CreateToken runs it: one
	// autocommit statement, committed when ExecContext returns.
	args := []any{b[:32], b[32:64], w.clientID, w.service, "user-1", "",
		now, expiresIn, now + refreshTTL, hex.EncodeToString(b[64:]), false, now + refreshTTL}
	if w.insert == store.InsertTokenSQL {
		// store.PgTokenArgs: the owner id, the hex family id's 16 bytes.
		args = []any{b[:32], b[32:64], w.owner, "user-1", "",
			now, expiresIn, now + refreshTTL, b[64:], false, now + refreshTTL}
	}
	res, err := w.db.ExecContext(ctx, w.insert, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("insert: %d rows, %v", n, err)
	}
	return nil
}

// openRawPostgres opens lib/pq with the connector (one round trip per
// statement) and pool settings of store.OpenPostgres.
func openRawPostgres(ctx context.Context, dbURL, clientID, serviceID string) (writer, error) {
	connector, err := store.PostgresConnector(dbURL)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	w := &rawWriter{db: db, label: "raw lib/pq loop", storeLbl: "PostgreSQL", insert: store.InsertTokenSQL, clientID: clientID, service: serviceID}
	if err := db.QueryRowContext(ctx, store.OwnerIDSQL, clientID, serviceID).Scan(&w.owner); err != nil {
		db.Close()
		return nil, err
	}
	return w, nil
}

// openRawSQLite opens the plugin's SQLite file with the settings of
// store.OpenSQLite (WAL, synchronous=NORMAL, BEGIN IMMEDIATE).
func openRawSQLite(ctx context.Context, path, clientID, serviceID string) (writer, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(10 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &rawWriter{db: db, label: "raw SQLite loop", storeLbl: "embedded SQLite", insert: store.InsertTokenSQLite, clientID: clientID, service: serviceID, wmu: &sync.Mutex{}}, nil
}

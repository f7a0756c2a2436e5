package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// SetIntrospection implements Store: it grants (allow) or withdraws the
// right of client clientID to introspect the tokens of service svc. The
// client row is read and written in one transaction, and every cache is
// told to drop what it holds, so that a withdrawn grant stops working
// within the cache's sync interval on every node.
func (s *sqlStore) SetIntrospection(ctx context.Context, clientID, svc string, allow bool) error {
	if svc == "" {
		return errors.New("store: the service to grant introspection of is empty")
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var raw string
		err := tx.QueryRowContext(ctx, `SELECT introspect_services FROM clients WHERE client_id = $1`+s.d.forUpdate, clientID).Scan(&raw)
		if err != nil {
			return notFound(err, "read client")
		}
		var grants []string
		if err := json.Unmarshal([]byte(raw), &grants); err != nil {
			return fmt.Errorf("store: client %q: bad introspect_services: %w", clientID, err)
		}
		has := slices.Contains(grants, svc)
		switch {
		case allow && !has:
			grants = append(grants, svc)
		case !allow && has:
			grants = slices.DeleteFunc(grants, func(g string) bool { return g == svc })
		default:
			return nil // nothing changes
		}
		if grants == nil {
			grants = []string{}
		}
		b, err := json.Marshal(grants)
		if err != nil {
			return fmt.Errorf("store: encode introspect_services: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE clients SET introspect_services = $1 WHERE client_id = $2`, string(b), clientID); err != nil {
			return fmt.Errorf("store: set introspection: %w", err)
		}
		return s.addChanges(ctx, tx, []*Digest{nil})
	})
}

// tokenCheckKeyName is the settings row of the token check key.
const tokenCheckKeyName = "token_check_key"

// TokenCheckKeyLen is the length of the key TokenCheckKey returns.
const TokenCheckKeyLen = 32

// TokenCheckKey implements Store: the key is made by the first caller and
// read by every later one, on every node (INSERT … ON CONFLICT DO NOTHING,
// then SELECT: two nodes starting together agree on the first one
// written).
func (s *sqlStore) TokenCheckKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, tokenCheckKeyName).Scan(&key)
	if err == nil && len(key) == TokenCheckKeyLen {
		return key, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: read token check key: %w", err)
	}
	fresh := make([]byte, TokenCheckKeyLen)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			tokenCheckKeyName, fresh); err != nil {
			return fmt.Errorf("store: write token check key: %w", err)
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, tokenCheckKeyName).Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("store: token check key: %w", err)
	}
	if len(key) != TokenCheckKeyLen {
		return nil, fmt.Errorf("store: token check key is %d bytes, want %d", len(key), TokenCheckKeyLen)
	}
	return key, nil
}

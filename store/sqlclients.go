package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

const clientColumns = `client_id, secret_digest, secret_hash, name, consumer, client_type, redirect_uris, created_at, introspect_services`

// checkClient rejects a client the schema would reject, with a message a
// CLI user can act on.
func checkClient(c Client) error {
	switch {
	case c.ID == "":
		return errors.New("store: client_id is empty")
	case c.Type != Confidential && c.Type != Public:
		return fmt.Errorf("store: client_type must be %q or %q", Confidential, Public)
	case c.SecretHash != "" && (c.SecretDigest != Digest{} || !strings.HasPrefix(c.SecretHash, "$")):
		return errors.New("store: a client secret is either a digest or a slow hash in PHC form ($…)")
	}
	return nil
}

// CreateClient implements Store.
func (s *sqlStore) CreateClient(ctx context.Context, c Client) error {
	if err := checkClient(c); err != nil {
		return err
	}
	uris := c.RedirectURIs
	if uris == nil {
		uris = []string{}
	}
	urisJSON, err := json.Marshal(uris)
	if err != nil {
		return fmt.Errorf("store: encode redirect_uris: %w", err)
	}
	grants := c.IntrospectServices
	if grants == nil {
		grants = []string{}
	}
	grantsJSON, err := json.Marshal(grants)
	if err != nil {
		return fmt.Errorf("store: encode introspect_services: %w", err)
	}
	var secret, hash any // NULL for public clients
	if c.SecretDigest != (Digest{}) {
		secret = c.SecretDigest[:]
	}
	if c.SecretHash != "" {
		hash = c.SecretHash
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO clients (`+clientColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (client_id) DO NOTHING`,
			c.ID, secret, hash, c.Name, c.Consumer, c.Type, string(urisJSON), created.Unix(), string(grantsJSON))
		if err != nil {
			return fmt.Errorf("store: create client: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: create client: %w", err)
		} else if n == 0 {
			return ErrConflict
		}
		return nil
	})
}

type scanner interface{ Scan(dest ...any) error }

func scanClient(row scanner) (Client, error) {
	var (
		c       Client
		secret  []byte
		hash    sql.NullString
		uris    string
		created int64
		grants  string
	)
	if err := row.Scan(&c.ID, &secret, &hash, &c.Name, &c.Consumer, &c.Type, &uris, &created, &grants); err != nil {
		return Client{}, err
	}
	if secret != nil {
		d, err := digestFrom(secret)
		if err != nil {
			return Client{}, err
		}
		c.SecretDigest = d
	}
	c.SecretHash = hash.String
	if err := json.Unmarshal([]byte(uris), &c.RedirectURIs); err != nil {
		return Client{}, fmt.Errorf("store: client %q: bad redirect_uris: %w", c.ID, err)
	}
	if len(c.RedirectURIs) == 0 {
		c.RedirectURIs = nil
	}
	if err := json.Unmarshal([]byte(grants), &c.IntrospectServices); err != nil {
		return Client{}, fmt.Errorf("store: client %q: bad introspect_services: %w", c.ID, err)
	}
	if len(c.IntrospectServices) == 0 {
		c.IntrospectServices = nil
	}
	c.CreatedAt = time.Unix(created, 0)
	return c, nil
}

// Client implements Store.
func (s *sqlStore) Client(ctx context.Context, clientID string) (Client, error) {
	c, err := scanClient(s.db.QueryRowContext(ctx,
		`SELECT `+clientColumns+` FROM clients WHERE client_id = $1`, clientID))
	if err != nil {
		return Client{}, notFound(err, "read client")
	}
	return c, nil
}

// Clients implements Store: the clients of one consumer, or all of them
// for "", oldest first.
func (s *sqlStore) Clients(ctx context.Context, consumer string) ([]Client, error) {
	q := `SELECT ` + clientColumns + ` FROM clients`
	var args []any
	if consumer != "" {
		q += ` WHERE consumer = $1`
		args = append(args, consumer)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, client_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list clients: %w", err)
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list clients: %w", err)
	}
	return out, nil
}

// DeleteClient implements Store. Its tokens go with it (ON DELETE
// CASCADE), and every cache is told to drop everything.
func (s *sqlStore) DeleteClient(ctx context.Context, clientID string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		// The client row, then its tokens, in the lock order (see
		// lockTokens): with the client row locked no token can be added
		// to it, so the cascade below touches only rows locked here.
		if s.d.lockOrder != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE client_id = $1 FOR UPDATE`, clientID).Scan(&one)
			if err != nil {
				return notFound(err, "delete client")
			}
			if _, err := s.lockTokens(ctx, tx, s.d.tok.byClient, clientID); err != nil {
				return fmt.Errorf("store: delete client: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE client_id = $1`, clientID)
		if err != nil {
			return fmt.Errorf("store: delete client: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: delete client: %w", err)
		} else if n == 0 {
			return ErrNotFound
		}
		return s.addChanges(ctx, tx, []*Digest{nil})
	})
}

package kongimport

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/oauth2-password/oauth2-password/store"
)

// ReadDatabase reads every oauth2 credential of the Kong PostgreSQL
// database at url (Kong 3.x schema; a schema other than public is chosen
// with ?search_path=… in the URL) and returns them with a stream of its
// oauth2 tokens; Close releases the database. It only reads. Errors never
// carry the URL's password.
//
// Credentials and tokens are read in one read-only snapshot, as of one
// instant even while Kong keeps issuing; the tokens through a server-side
// cursor, a batch per FETCH, so memory holds one batch whatever the size
// of the table.
func ReadDatabase(ctx context.Context, url string) (Source, error) {
	// store.OpenPostgres connects without migrating, and its errors
	// never carry the URL's password.
	p, err := store.OpenPostgres(ctx, url)
	if err != nil {
		return Source{}, fmt.Errorf("kong database: %w", err)
	}
	tx, err := p.DB().BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		p.Close()
		return Source{}, fmt.Errorf("kong database: connect: %w", err)
	}
	src := Source{close: func() error {
		_ = tx.Rollback()
		return p.Close()
	}}
	if src.Credentials, err = readCredentials(ctx, tx); err != nil {
		src.Close()
		return Source{}, err
	}
	src.Tokens = func(ctx context.Context, batch int, each func([]Token) error) error {
		return readTokens(ctx, tx, batch, each)
	}
	return src, nil
}

// EstimateTokens is PostgreSQL's estimate of the rows of Kong's
// oauth2_tokens (from its statistics, no scan), for a progress line; -1
// when it has none.
func EstimateTokens(ctx context.Context, url string) int64 {
	p, err := store.OpenPostgres(ctx, url)
	if err != nil {
		return -1
	}
	defer p.Close()
	var n float64
	if err := p.DB().QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'oauth2_tokens'::regclass`).Scan(&n); err != nil || n < 0 {
		return -1
	}
	return int64(n)
}

func readCredentials(ctx context.Context, tx *sql.Tx) ([]Credential, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.client_id, c.name, c.consumer_id, co.username,
       c.redirect_uris, c.client_type, c.client_secret, c.hash_secret, c.created_at
FROM oauth2_credentials c LEFT JOIN consumers co ON co.id = c.consumer_id
ORDER BY c.created_at, c.id`)
	if err != nil {
		return nil, fmt.Errorf("kong database: read oauth2_credentials: %w", err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		var (
			c                                               Credential
			clientID, name, consumerID, username, typ, secr sql.NullString
			uris                                            pq.StringArray
			hashed                                          sql.NullBool
			created                                         sql.NullTime
		)
		if err := rows.Scan(&c.ID, &clientID, &name, &consumerID, &username, &uris, &typ, &secr, &hashed, &created); err != nil {
			return nil, fmt.Errorf("kong database: read oauth2_credentials: %w", err)
		}
		c.ClientID, c.Name, c.ConsumerID, c.ConsumerUsername = clientID.String, name.String, consumerID.String, username.String
		c.RedirectURIs, c.ClientType = []string(uris), typ.String
		c.Secret, c.HasSecret, c.Hashed = secr.String, secr.Valid, hashed.Bool
		c.CreatedAt = created.Time
		if len(c.RedirectURIs) == 0 {
			c.RedirectURIs = nil
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kong database: read oauth2_credentials: %w", err)
	}
	return out, nil
}

func readTokens(ctx context.Context, tx *sql.Tx, batch int, each func([]Token) error) error {
	// No ORDER BY: a sequential scan streams from the first row, where a
	// sort of millions of rows would first spill to disk. The import does
	// not depend on the order.
	if _, err := tx.ExecContext(ctx, `DECLARE kong_tokens NO SCROLL CURSOR FOR
SELECT id, credential_id, service_id, access_token, refresh_token,
       authenticated_userid, scope, created_at, expires_in, ttl
FROM oauth2_tokens`); err != nil {
		return fmt.Errorf("kong database: read oauth2_tokens: %w", err)
	}
	fetch := fmt.Sprintf("FETCH FORWARD %d FROM kong_tokens", batch)
	out := make([]Token, 0, batch)
	for {
		out = out[:0]
		if err := fetchTokens(ctx, tx, fetch, &out); err != nil {
			return fmt.Errorf("kong database: read oauth2_tokens: %w", err)
		}
		if len(out) == 0 {
			return nil
		}
		if err := each(out); err != nil {
			return err
		}
	}
}

// fetchTokens appends the rows of one FETCH to out.
func fetchTokens(ctx context.Context, tx *sql.Tx, fetch string, out *[]Token) error {
	rows, err := tx.QueryContext(ctx, fetch)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			t                                       Token
			cred, svc, access, refresh, user, scope sql.NullString
			created, ttl                            sql.NullTime
			expiresIn                               sql.NullInt64
		)
		if err := rows.Scan(&t.ID, &cred, &svc, &access, &refresh, &user, &scope, &created, &expiresIn, &ttl); err != nil {
			return err
		}
		t.CredentialID, t.ServiceID, t.Access, t.Refresh = cred.String, svc.String, access.String, refresh.String
		t.AuthenticatedUserID, t.Scope = user.String, scope.String
		t.CreatedAt, t.ExpiresIn = created.Time, expiresIn.Int64
		if ttl.Valid {
			t.TTL = ttl.Time.Truncate(time.Second)
		}
		*out = append(*out, t)
	}
	return rows.Err()
}

package kongimport

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/oauth2-password/oauth2-password/store"
)

// ReadDatabase reads every oauth2 credential and token from the Kong
// PostgreSQL database at url (Kong 3.x schema; a schema other than public
// is chosen with ?search_path=… in the URL). It only reads. Errors never
// carry the URL's password.
func ReadDatabase(ctx context.Context, url string) (Source, error) {
	// store.OpenPostgres connects without migrating, and its errors
	// never carry the URL's password.
	p, err := store.OpenPostgres(ctx, url)
	if err != nil {
		return Source{}, fmt.Errorf("kong database: %w", err)
	}
	defer p.Close()
	db := p.DB()
	// One read-only snapshot: credentials and tokens as of one instant,
	// even while Kong keeps issuing.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return Source{}, fmt.Errorf("kong database: connect: %w", err)
	}
	defer tx.Rollback()
	var src Source
	if src.Credentials, err = readCredentials(ctx, tx); err != nil {
		return Source{}, err
	}
	if src.Tokens, err = readTokens(ctx, tx); err != nil {
		return Source{}, err
	}
	return src, nil
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

func readTokens(ctx context.Context, tx *sql.Tx) ([]Token, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, credential_id, service_id, access_token, refresh_token,
       authenticated_userid, scope, created_at, expires_in, ttl
FROM oauth2_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("kong database: read oauth2_tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var (
			t                                       Token
			cred, svc, access, refresh, user, scope sql.NullString
			created, ttl                            sql.NullTime
			expiresIn                               sql.NullInt64
		)
		if err := rows.Scan(&t.ID, &cred, &svc, &access, &refresh, &user, &scope, &created, &expiresIn, &ttl); err != nil {
			return nil, fmt.Errorf("kong database: read oauth2_tokens: %w", err)
		}
		t.CredentialID, t.ServiceID, t.Access, t.Refresh = cred.String, svc.String, access.String, refresh.String
		t.AuthenticatedUserID, t.Scope = user.String, scope.String
		t.CreatedAt, t.ExpiresIn = created.Time, expiresIn.Int64
		if ttl.Valid {
			t.TTL = ttl.Time.Truncate(time.Second)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kong database: read oauth2_tokens: %w", err)
	}
	return out, nil
}

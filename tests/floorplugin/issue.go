package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/Kong/go-pdk"
	_ "github.com/lib/pq" // "postgres"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/store"
)

// Issue mode's start flags (go-pdk's StartServer parses the command line).
var (
	issueURL      = flag.String("issue-database-url", "", "PostgreSQL URL: answer every request as the issuance floor, writing token rows there")
	issueClientID = flag.String("issue-client-id", "", "client_id of the rows written in issue mode (must exist: foreign key)")
	issueService  = flag.String("issue-service-id", "", "service_id of the rows written in issue mode")
)

// Lifetimes of the rows written: the plugin's defaults (Kong's
// token_expiration and refresh_token_ttl).
const (
	issueExpiresIn  = 7200
	issueRefreshTTL = 14 * 24 * time.Hour
)

// issueToken is the issuance floor: exactly the PDK calls the real plugin
// makes for a password grant over HTTPS with a form body (plugin/access.go:
// Path, which Access already made, then Method Headers RawQuery RawBody
// Scheme, then Exit) and exactly its database write (store.InsertTokenSQL,
// one autocommit statement, lib/pq with store.OpenPostgres's pool
// settings), of two 32-character random tokens stored as SHA-256 digests.
// It parses nothing and authenticates nobody: what is left is the protocol
// and the write, the least any plugin issuing tokens through Kong pays.
func issueToken(kong *pdk.PDK) {
	if _, err := kong.Request.GetMethod(); err != nil {
		return
	}
	if _, err := kong.Request.GetHeaders(-1); err != nil {
		return
	}
	if _, err := kong.Request.GetRawQuery(); err != nil {
		return
	}
	if _, err := kong.Request.GetRawBody(); err != nil {
		return
	}
	if _, err := kong.Request.GetScheme(); err != nil {
		return
	}
	h := map[string][]string{
		"Content-Type":  {"application/json; charset=utf-8"},
		"Cache-Control": {"no-store"},
		"Pragma":        {"no-cache"},
	}
	body, err := writeToken()
	if err != nil {
		kong.Response.Exit(503, []byte(`{"error":"temporarily_unavailable"}`), h)
		log.Printf("issue: %v", err)
		return
	}
	kong.Response.Exit(200, body, h)
}

// writeToken stores one token row and returns the token response body.
func writeToken() ([]byte, error) {
	db, err := issueDB()
	if err != nil {
		return nil, err
	}
	owner, err := issueOwner()
	if err != nil {
		return nil, err
	}
	access, err := plugin.RandomString()
	if err != nil {
		return nil, err
	}
	refresh, err := plugin.RandomString()
	if err != nil {
		return nil, err
	}
	var family [16]byte
	if _, err := rand.Read(family[:]); err != nil {
		return nil, err
	}
	ad, rd := store.DigestOf(access), store.DigestOf(refresh)
	now := time.Now().UTC().Truncate(time.Second)
	refreshExp := now.Add(issueRefreshTTL).Unix()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// store.PgTokenArgs: the owner id, the hex family id's 16 bytes.
	res, err := db.ExecContext(ctx, store.InsertTokenSQL, ad[:], rd[:], owner,
		"user-1", "", now.Unix(), issueExpiresIn, refreshExp, family[:], false, refreshExp)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return nil, fmt.Errorf("insert affected %d rows (%v)", n, err)
	}
	return json.Marshal(struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
	}{access, "bearer", issueExpiresIn, refresh})
}

// issueDB is the process's pool, opened on first use (after go-pdk parsed
// the flags) with the connector and pool settings of store.OpenPostgres:
// keep them in step. A URL that does not parse fails every write, answered
// with a 503.
var issueDB = sync.OnceValues(func() (*sql.DB, error) {
	connector, err := store.PostgresConnector(*issueURL)
	if err != nil {
		return nil, fmt.Errorf("invalid -issue-database-url")
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
	return db, nil
})

// issueOwner is the owner id of the rows written, looked up once as the
// store does (store.OwnerIDSQL) and kept.
var issueOwner = sync.OnceValues(func() (int32, error) {
	db, err := issueDB()
	if err != nil {
		return 0, err
	}
	var id int32
	err = db.QueryRow(store.OwnerIDSQL, *issueClientID, *issueService).Scan(&id)
	return id, err
})

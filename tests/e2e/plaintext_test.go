package e2e

import (
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	_ "github.com/lib/pq"  // the "postgres" driver
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/oauth2-password/oauth2-password/tests/harness"
	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// TestNoPlaintextSecretInTheStore: clients created by the CLI (a short
// secret among them) and tokens
// issued, refreshed and reissued by the real plugin leave no usable secret
// in the database. Every column of every table is dumped, as text and (for
// binary columns) as raw bytes and hex, and searched for each plaintext
// client secret, access token, refresh token and the provision key.
func TestNoPlaintextSecretInTheStore(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := sc.url(t)
			e := start(t, db)
			e.consumer(konghost.Consumer{Username: "bob"})
			const pk = "pk-plaintext-check-0123456789"
			e.service(konghost.ServiceSpec{Name: "rot", Host: "rot.test", Config: map[string]any{"provision_key": pk}})
			e.service(konghost.ServiceSpec{Name: "reuse", Host: "reuse.test", Config: map[string]any{"provision_key": pk, "reuse_refresh_token": true}})

			secrets := []string{pk}
			conf := harness.CreateClient(t, db, "bob", "web")
			own := harness.CreateClient(t, db, "bob", "legacy", "--client-id", "legacy-web-client", "--client-secret", "operator-chosen-secret-0123456789")
			// A short secret, as apps coming from Kong carry: a slow hash.
			short := harness.CreateClient(t, db, "bob", "short", "--client-secret", "secret123")
			secrets = append(secrets, conf.Secret, own.Secret, short.Secret)
			for _, c := range []harness.Client{conf, own, short} {
				for _, host := range []string{"rot.test", "reuse.test"} {
					tok := e.grant(host, c, pk, "user-"+c.Name, "")
					ref := e.refresh(host, c, tok.RefreshToken)
					secrets = append(secrets, tok.AccessToken, tok.RefreshToken, ref.AccessToken, ref.RefreshToken)
				}
			}

			dump := dumpAll(t, db)
			if !strings.Contains(dump, "legacy-web-client") {
				t.Fatalf("the dump lacks a client_id it must hold, so it proves nothing:\n%s", dump)
			}
			for _, s := range secrets {
				if strings.Contains(dump, s) || strings.Contains(dump, hex.EncodeToString([]byte(s))) {
					t.Errorf("the database holds a plaintext secret %q…", s[:6])
				}
			}
		})
	}
}

// dumpAll renders every row of every table of the store at dbURL.
func dumpAll(t *testing.T, dbURL string) string {
	t.Helper()
	driver, dsn, tablesQuery := "postgres", dbURL,
		`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	if path, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		driver, dsn, tablesQuery = "sqlite", path, `SELECT name FROM sqlite_master WHERE type = 'table'`
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := queryStrings(t, db, tablesQuery)
	if len(tables) < 3 {
		t.Fatalf("found tables %v, want clients, tokens and more", tables)
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s:", table)
			for _, v := range vals {
				if raw, ok := v.([]byte); ok {
					fmt.Fprintf(&b, " %s %x", raw, raw)
					continue
				}
				fmt.Fprintf(&b, " %v", v)
			}
			b.WriteString("\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-password/oauth2-password/store/kongimport/kongtest"
)

// importRow is one run of `import-kong` from a Kong database of n tokens
// into an empty PostgreSQL store.
type importRow struct {
	tokens  int
	rate    float64       // tokens/s, wall time of the whole command
	peakRSS int64         // bytes (getrusage's ru_maxrss)
	cpu     time.Duration // the command's own CPU (user + system) per token
}

// tb lets kongtest, test code, build a Kong database outside a test:
// failures panic (the harness stops), cleanups run at close.
type tb struct {
	testing.TB
	cleanups []func()
}

func (t *tb) Helper()                   {}
func (t *tb) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *tb) Fatal(a ...any)            { panic(fmt.Sprint(a...)) }
func (t *tb) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// newDatabase creates database name on the server and returns its URL.
func (e *env) newDatabase(ctx context.Context, name string) (string, error) {
	if _, err := e.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name); err != nil {
		return "", err
	}
	if _, err := e.admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	u, err := url.Parse(e.pgURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// measureImport builds a Kong 3.9 database of n live password-grant
// tokens (Kong's schema, rows as Kong's plugin writes them, in one
// INSERT … SELECT) and times the binary importing it.
func (e *env) measureImport(ctx context.Context, n int) (importRow, error) {
	r := importRow{tokens: n}
	progress("import-kong: a Kong database of %d tokens", n)
	kongURL, err := e.newDatabase(ctx, fmt.Sprintf("kong_%d", n))
	if err != nil {
		return r, err
	}
	t := &tb{}
	defer t.close()
	var k *kongtest.Kong
	if err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%v", p)
			}
		}()
		k = kongtest.New(t, kongURL)
		consumer, cred := kongtest.UUID(), kongtest.UUID()
		k.Consumer(consumer, "alice")
		k.Credential(kongtest.Credential{ID: cred, ConsumerID: consumer, Name: "web", ClientID: "web", Secret: kongtest.RandomString()})
		_, err = k.DB.ExecContext(ctx, `INSERT INTO oauth2_tokens (id, created_at, credential_id, service_id, access_token,
  refresh_token, token_type, expires_in, authenticated_userid, scope, ttl, ws_id)
SELECT gen_random_uuid(), now(), $1, NULL, md5('a' || i) , md5('r' || i), 'bearer', 7200, 'user-' || (i % 100000), 'email',
  now() + interval '14 days', ws_id
FROM generate_series(1, $2) i, oauth2_credentials WHERE oauth2_credentials.id = $1`, cred, n)
		if err == nil {
			_, err = k.DB.ExecContext(ctx, `VACUUM ANALYZE oauth2_tokens`)
		}
		return err
	}(); err != nil {
		return r, err
	}
	storeURL, err := e.newDatabase(ctx, fmt.Sprintf("import_%d", n))
	if err != nil {
		return r, err
	}
	progress("import-kong: importing %d tokens", n)
	cmd := exec.CommandContext(ctx, e.bin, "import-kong", "--kong-database-url", kongURL, "-database-url", storeURL)
	cmd.Env = append(os.Environ(), "OAUTH2_PASSWORD_DATABASE_URL=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	el := time.Since(start)
	if err != nil {
		return r, fmt.Errorf("import-kong: %v: %s", err, stderr.String())
	}
	var rep struct {
		Tokens struct{ Imported int } `json:"tokens"`
	}
	if err := json.Unmarshal(out, &rep); err != nil || rep.Tokens.Imported != n {
		return r, fmt.Errorf("import-kong printed %s, want %d tokens imported", out, n)
	}
	r.rate = float64(n) / el.Seconds()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakRSS = ru.Maxrss << 10
	}
	r.cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / time.Duration(n)
	t.close()
	t.cleanups = nil
	for _, u := range []string{kongURL, storeURL} {
		db, _ := url.Parse(u)
		if _, err := e.admin.ExecContext(ctx, `DROP DATABASE `+strings.TrimPrefix(db.Path, "/")); err != nil {
			return r, err
		}
	}
	return r, nil
}

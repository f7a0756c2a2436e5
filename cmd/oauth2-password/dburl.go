package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// envDatabaseURL is the fallback when no flag names the store. nginx workers
// clear the environment of the processes they spawn, so in Kong the flags
// (or Kong's nginx_main_env) are the reliable way.
const envDatabaseURL = "OAUTH2_PASSWORD_DATABASE_URL"

// dbFlags are the store flags shared by Kong mode and every CLI command.
type dbFlags struct {
	url  string
	file string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.Func("database-url", "store URL: postgres://… for PostgreSQL, sqlite:PATH for the embedded store (default: $"+envDatabaseURL+", else the embedded store)", nonEmpty(&d.url))
	fs.Func("database-url-file", "file whose first line is the store URL (keeps a password out of the process list)", nonEmpty(&d.file))
}

// nonEmpty sets *p from a flag that must not be given empty: an empty
// -database-url would otherwise quietly mean the default store (a shell
// variable that was never set, say).
func nonEmpty(p *string) func(string) error {
	return func(v string) error {
		if v == "" {
			return errors.New("empty (leave the flag out for $" + envDatabaseURL + " or the embedded store)")
		}
		*p = v
		return nil
	}
}

// resolve returns the store URL: -database-url, then -database-url-file,
// then the environment. "" means the embedded store at its default path.
func (d *dbFlags) resolve() (string, error) {
	if d.url != "" && d.file != "" {
		return "", errors.New("-database-url and -database-url-file are mutually exclusive")
	}
	if d.url != "" {
		return d.url, nil
	}
	if d.file != "" {
		return readFirstLine(d.file)
	}
	return os.Getenv(envDatabaseURL), nil
}

func readFirstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("database URL file: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("database URL file %s: %w", path, err)
		}
		return "", fmt.Errorf("database URL file %s is empty", path)
	}
	u := strings.TrimSpace(sc.Text())
	if u == "" {
		return "", fmt.Errorf("database URL file %s: first line is empty", path)
	}
	return u, nil
}

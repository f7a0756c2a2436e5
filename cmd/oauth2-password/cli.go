package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }
func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

const cliUsage = `usage: oauth2-password COMMAND [flags]
  migrate
  clients create --consumer REF --name NAME [--client-id ID] [--client-secret SECRET] [--public] [--redirect-uri URI]...
  clients list [--consumer REF]
  clients delete CLIENT_ID
  tokens revoke (--access-token T | --refresh-token T | --client CLIENT_ID | --user USERID)
  import-kong (--kong-database-url URL | --kong-config FILE) [--dry-run]
every command takes -database-url URL or -database-url-file PATH (else $` + envDatabaseURL + `)
Kong runs the binary with flags only: -dump, -kong-prefix DIR`

// cliTimeout bounds every CLI command, so a dead database is an error, not
// a hang.
const cliTimeout = 30 * time.Second

// cli carries a command's streams and its opened store.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	db             dbFlags
}

// runCLI runs an admin command and returns the exit status. Errors are one
// line on stderr; results are JSON on stdout.
func runCLI(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	err := c.dispatch(args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "oauth2-password:", oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFail
}

func (c *cli) dispatch(args []string) error {
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "migrate":
		return c.migrate(rest)
	case "import-kong":
		return c.importKong(rest)
	case "clients", "tokens":
		if len(rest) == 0 {
			return usagef("%s needs a subcommand (see 'oauth2-password help')", cmd)
		}
		sub := cmd + " " + rest[0]
		switch sub {
		case "clients create":
			return c.clientsCreate(rest[1:])
		case "clients list":
			return c.clientsList(rest[1:])
		case "clients delete":
			return c.clientsDelete(rest[1:])
		case "tokens revoke":
			return c.tokensRevoke(rest[1:])
		}
		return usagef("unknown command %q (see 'oauth2-password help')", sub)
	case "help":
		fmt.Fprintln(c.stdout, cliUsage)
		return nil
	case "version":
		fmt.Fprintln(c.stdout, version)
		return nil
	}
	return usagef("unknown command %q (see 'oauth2-password help')", cmd)
}

// flagSet returns a silent flag set with the store flags registered.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.db.register(fs)
	return fs
}

// parse parses flags placed before or after positional arguments and
// returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usagef("%s: see 'oauth2-password help'", fs.Name())
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// withStore opens (and so migrates) the store the flags name, runs f with
// it under the command's deadline, and closes it.
func (c *cli) withStore(f func(ctx context.Context, s store.Store) error) error {
	return c.withStoreTimeout(cliTimeout, f)
}

// withStoreTimeout is withStore with another deadline.
func (c *cli) withStoreTimeout(timeout time.Duration, f func(ctx context.Context, s store.Store) error) error {
	url, err := c.db.resolve()
	if err != nil {
		return usagef("%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := store.Open(ctx, url)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(ctx, s)
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	return enc.Encode(v)
}

func (c *cli) migrate(args []string) error {
	fs := c.flagSet("migrate")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate takes no arguments")
	}
	return c.withStore(func(context.Context, store.Store) error { // Open migrates.
		return c.printJSON(map[string]bool{"migrated": true})
	})
}

// warnf writes one warning line on stderr; stdout keeps the JSON result.
func (c *cli) warnf(format string, a ...any) {
	fmt.Fprintln(c.stderr, "oauth2-password:", oneLine(fmt.Sprintf(format, a...)))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

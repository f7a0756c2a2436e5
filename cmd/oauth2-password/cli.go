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

// usage is the admin CLI's help: on stdout when asked for, on stderr after
// a bare `oauth2-password`.
var usage = `usage:
  oauth2-password migrate
  oauth2-password clients create --consumer REF --name NAME [--client-id ID] [--client-secret SECRET] [--public] [--redirect-uri URI]...
  oauth2-password clients list [--consumer REF]
  oauth2-password clients delete CLIENT_ID
  oauth2-password clients get CLIENT_ID
  oauth2-password clients (grant-introspection | revoke-introspection) CLIENT_ID --service SERVICE
  oauth2-password tokens revoke (--access-token T | --refresh-token T | --client CLIENT_ID | --user USERID)
  oauth2-password keys generate [--type ed25519|es256] [--out FILE]   (a signing key for upstream JWTs)
  oauth2-password serve -config FILE   (standalone server; see README)
  oauth2-password help | version
The store: -database-url URL or -database-url-file PATH (every command takes them),
else $` + envDatabaseURL + `, else the embedded store ` + store.DefaultPath + `.
Kong runs the binary with flags only: -kong-prefix DIR (plugin server), -dump (plugin info).`

// cliFlags are the flag spellings of the help and version commands, which
// main routes to the CLI rather than to Kong mode.
var cliFlags = map[string]bool{"-h": true, "-help": true, "--help": true, "-version": true, "--version": true}

// errHelp is a request for the usage text: exit 0, no store touched.
var errHelp = errors.New("help requested")

// cliTimeout bounds every CLI command, so a dead database is an error, not
// a hang.
const cliTimeout = 30 * time.Second

// cli carries a command's streams and its opened store.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	db     dbFlags
}

// runCLI runs an admin command and returns the exit status. Errors are one
// line on stderr; results are JSON on stdout.
func runCLI(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	err := c.dispatch(args)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		fmt.Fprintln(stdout, usage)
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
	case "clients", "tokens", "keys":
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
		case "clients get":
			return c.clientsGet(rest[1:])
		case "clients grant-introspection", "clients revoke-introspection":
			return c.clientsIntrospection(sub, rest[0] == "grant-introspection", rest[1:])
		case "tokens revoke":
			return c.tokensRevoke(rest[1:])
		case "keys generate":
			return c.keysGenerate(rest[1:])
		}
		return usagef("unknown command %q (see 'oauth2-password help')", sub)
	case "help", "-h", "-help", "--help":
		return errHelp
	case "version", "-version", "--version":
		fmt.Fprintln(c.stdout, "oauth2-password", version)
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
				return nil, errHelp
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
// it under the command's deadline, and closes it. After a success with the
// embedded store it says on stderr which file that was: the default one
// is easy to mistake for the file Kong uses.
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
	if err := f(ctx, s); err != nil {
		return err
	}
	if path, ok := store.SQLitePath(url); ok {
		fmt.Fprintln(c.stderr, "oauth2-password: embedded store", path)
	}
	return nil
}

// errNoClient is every command's answer for a client_id the store lacks.
func errNoClient(id string) error { return errorf("no client with client_id %q", id) }

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

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// usageError is a mistake in the command line: exit status 2. With
// showUsage the command's help follows the message (a flag it lacks).
type usageError struct {
	msg       string
	showUsage bool
}

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{msg: fmt.Sprintf(format, a...)} }
func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

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
	cmd    *command      // the command being run, once known
	fs     *flag.FlagSet // its flags, once registered
	group  string        // "clients" for `clients --help` and the like
}

// runCLI runs an admin command and returns the exit status. Errors are one
// line on stderr; results are JSON on stdout.
func runCLI(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usageText())
		return exitUsage
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	err := c.dispatch(args)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		if _, err := fmt.Fprintln(stdout, c.help()); err != nil {
			fmt.Fprintln(stderr, "oauth2-password:", oneLine(err.Error()))
			return exitFail
		}
		return exitOK
	}
	fmt.Fprintln(stderr, "oauth2-password:", oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		if ue.showUsage {
			fmt.Fprintln(stderr, c.help())
		}
		return exitUsage
	}
	return exitFail
}

// help is the help text for what dispatch got to: a command's own, a
// group's, or the general one.
func (c *cli) help() string {
	switch {
	case c.cmd != nil:
		return commandUsage(c.cmd, c.fs)
	case c.group != "":
		return groupUsage(c.group)
	}
	return usageText()
}

func isHelpWord(s string) bool {
	return s == "help" || s == "-h" || s == "-help" || s == "--help"
}

func (c *cli) dispatch(args []string) error {
	switch args[0] {
	case "help", "-h", "-help", "--help":
		// `help clients create` is `clients create --help`; `help help`
		// is help.
		rest := args[1:]
		for len(rest) > 0 && isHelpWord(rest[0]) {
			rest = rest[1:]
		}
		if len(rest) > 0 {
			return c.dispatch(append(rest[:len(rest):len(rest)], "--help"))
		}
		return errHelp
	case "version", "-version", "--version":
		_, err := fmt.Fprintln(c.stdout, "oauth2-password", version)
		return err
	}
	cmd, rest, ok := lookup(args)
	if !ok || cmd.run == nil {
		if g := group(args[0]); len(g) > 0 {
			c.group = args[0]
			if len(args) == 1 {
				return usageError{msg: args[0] + " needs a subcommand", showUsage: true}
			}
			if cliFlags[args[1]] {
				return errHelp
			}
			return usageError{msg: fmt.Sprintf("unknown command %q", args[0]+" "+args[1]), showUsage: true}
		}
		if ok && cmd.name == "serve" {
			// main runs serve before the CLI; only `help serve` gets here.
			return runServe([]string{"-help"}, c.stdout, c.stderr)
		}
		return usagef("unknown command %q (see 'oauth2-password help')", args[0])
	}
	c.cmd = cmd
	return cmd.run(c, rest)
}

// flagSet returns a silent flag set with the store flags registered.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.db.register(fs)
	c.fs = fs
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
			return nil, usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err), showUsage: true}
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
	if err := store.CheckURL(url); err != nil {
		return usagef("%v", err) // as serve and Kong mode: a usage error, not a store that fails
	}
	if path, ok := store.SQLitePath(url); ok && c.cmd != nil && c.cmd.mustExist {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return errorf("embedded store %s does not exist (name the store with -database-url, or create it with 'oauth2-password migrate')", path)
		}
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

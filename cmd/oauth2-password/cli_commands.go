package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oauth2-password/oauth2-password/store"
)

// command is one admin command. The general usage, each command's own help
// and the dispatch are all read from commands, so a command added here
// cannot be missing from `--help`.
type command struct {
	name     string // "clients create"
	synopsis string // what follows the name in the usage line
	summary  string // one line
	// mustExist: the command only reads (or removes) what is already
	// stored, so an embedded store file that does not exist is a typo in
	// the path, answered with an error rather than a new empty store.
	mustExist bool
	run       func(c *cli, args []string) error // nil: handled before runCLI (serve)
}

var commands = []command{
	{name: "migrate", summary: "create or upgrade the store's tables (every other command also does this)", run: (*cli).migrate},
	{name: "clients create", synopsis: "--consumer REF --name NAME [--client-id ID] [--client-secret SECRET|-] [--public] [--redirect-uri URI]...",
		summary: "register a client; prints its client_id and secret once (--client-secret - reads the secret from stdin)", run: (*cli).clientsCreate},
	{name: "clients list", synopsis: "[--consumer REF]", summary: "list clients as JSON, without secrets", mustExist: true, run: (*cli).clientsList},
	{name: "clients delete", synopsis: "CLIENT_ID", summary: "delete a client and every token issued to it", mustExist: true, run: (*cli).clientsDelete},
	{name: "clients get", synopsis: "CLIENT_ID", summary: "print one client as JSON, without its secret", mustExist: true, run: (*cli).clientsGet},
	{name: "clients grant-introspection", synopsis: "CLIENT_ID --service SERVICE", summary: "let a client (a resource server) introspect every token of SERVICE (RFC 7662 §4)", mustExist: true,
		run: func(c *cli, args []string) error {
			return c.clientsIntrospection("clients grant-introspection", true, args)
		}},
	{name: "clients revoke-introspection", synopsis: "CLIENT_ID --service SERVICE", summary: "take that back: the client introspects only its own tokens", mustExist: true,
		run: func(c *cli, args []string) error {
			return c.clientsIntrospection("clients revoke-introspection", false, args)
		}},
	{name: "tokens revoke", synopsis: "(--access-token T | --refresh-token T | --client CLIENT_ID | --user USERID)",
		summary: "revoke tokens (T may be -: read from stdin)", mustExist: true, run: (*cli).tokensRevoke},
	{name: "keys generate", synopsis: "[--type ed25519|es256] [--out FILE]", summary: "a new signing key for upstream JWTs, as PEM (no store)", run: (*cli).keysGenerate},
	{name: "import-kong", synopsis: "(--kong-database-url URL | --kong-config FILE) [--dry-run]",
		summary: "copy Kong oauth2 credentials (and live password-grant tokens) into the store", run: (*cli).importKong},
	{name: "serve", synopsis: "-config FILE [flags]", summary: "the standalone server (token, revoke, introspect, forward auth, ext_authz); serve -help lists its flags"},
	{name: "help", synopsis: "[COMMAND]", summary: "this text, or a command's flags (also: COMMAND --help)"},
	{name: "version", summary: "print the version"},
}

// lookup returns the command named by the first one or two words of args
// and the rest of args.
func lookup(args []string) (*command, []string, bool) {
	for i := range commands {
		words := strings.Fields(commands[i].name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == commands[i].name {
			return &commands[i], args[len(words):], true
		}
	}
	return nil, args, false
}

// group returns the commands whose first word is word ("clients").
func group(word string) []command {
	var out []command
	for _, c := range commands {
		if strings.HasPrefix(c.name, word+" ") {
			out = append(out, c)
		}
	}
	return out
}

// writeCommands writes usage lines of cmds.
func writeCommands(w io.Writer, cmds []command) {
	for _, c := range cmds {
		line := strings.TrimSpace("oauth2-password " + c.name + " " + c.synopsis)
		fmt.Fprintf(w, "  %s\n      %s\n", line, c.summary)
	}
}

// usageText is the admin CLI's general help.
func usageText() string {
	var b strings.Builder
	b.WriteString("usage: oauth2-password COMMAND [flags]\n")
	writeCommands(&b, commands)
	b.WriteString(`The store: -database-url URL or -database-url-file PATH (every command of the store takes them),
else $` + envDatabaseURL + `, else the embedded store ` + store.DefaultPath + `
(serve's default differs: see serve -help).
Kong runs the binary with flags only: -kong-prefix DIR (plugin server), -dump (plugin info).`)
	return b.String()
}

// groupUsage is the help of a word that only groups commands ("clients").
func groupUsage(word string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: oauth2-password %s SUBCOMMAND [flags]\n", word)
	writeCommands(&b, group(word))
	fmt.Fprintf(&b, "oauth2-password %s SUBCOMMAND --help lists its flags.", word)
	return strings.TrimRight(b.String(), "\n")
}

// commandUsage is one command's help: its usage line and its flags.
func commandUsage(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n  %s\n", strings.TrimSpace("oauth2-password "+c.name+" "+c.synopsis), c.summary)
	if fs != nil {
		b.WriteString("flags:\n")
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return strings.TrimRight(b.String(), "\n")
}

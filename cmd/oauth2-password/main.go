// Command oauth2-password is the Kong plugin server for the oauth2-password
// plugin and its admin CLI, in one binary.
//
// Kong runs it with flags only (`-dump`, `-kong-prefix DIR`): that is Kong
// mode (kong.go). Run with a word first (`migrate`, `clients`, `tokens`),
// with no arguments, or with a help or version flag, it is the admin CLI
// (cli.go). The binary's file name is the plugin name Kong
// sees, so it must stay `oauth2-password`.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0"

// Exit codes of the admin CLI (docs/cli.md).
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := runServe(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "oauth2-password:", oneLine(err.Error()))
			var ue usageError
			if errors.As(err, &ue) {
				os.Exit(exitUsage)
			}
			os.Exit(exitFail)
		}
		return
	}
	// Kong always passes flags (-kong-prefix DIR, -dump): no arguments, a
	// word, or a help/version flag is a person at the admin CLI.
	if len(os.Args) < 2 || !strings.HasPrefix(os.Args[1], "-") || cliFlags[os.Args[1]] {
		os.Exit(runCLI(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// A flag Kong mode does not know is a person's typo: answer with the
	// admin usage rather than the plugin server's flags.
	flag.CommandLine.Usage = func() { fmt.Fprintln(os.Stderr, usageText()) }
	if err := runKong(); err != nil {
		fmt.Fprintln(os.Stderr, "oauth2-password:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(exitUsage)
		}
		os.Exit(exitFail)
	}
}

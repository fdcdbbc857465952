// Command iisbridge serves immunization registry data as FHIR Bulk Data.
//
// Each subcommand lives in its own file and registers itself in init with
// register, so adding one never touches this file. The dispatcher gives
// every command the same conventions without the command doing anything
// for them (cli.go): `CMD --help`, `-h` and `help CMD` print its help on
// standard output and exit 0; flags may follow positional arguments;
// unknown commands and flags get a "did you mean"; `--log-format` and
// `--log-level` are accepted anywhere; SIGINT/SIGTERM end the command with
// exit status 130. Results go to standard output, progress and logs to
// standard error.
package main

import (
	"flag"
	"os"
	"strings"
)

// command is one subcommand. Name may hold a space for a nested command
// ("v2 stats"); the longest registered prefix of the arguments wins.
//
// Run must parse its flags with a flag.FlagSet (ContinueOnError) before
// doing anything else, and write through os.Stdout and os.Stderr as they
// are when it runs: the dispatcher learns the command's flags by running
// it once with -h, its output captured, and reading the defaults it
// prints. Long work should run under cmdContext() so Ctrl-C can stop it
// cleanly.
type command struct {
	Name  string
	Usage string // one line: arguments after the name
	Short string // one line: what it does
	Run   func(args []string) int
	// Flags defines the command's flags on fs (nil: it takes none). Run
	// defines them through the same function, so help, flag reordering
	// and parsing read one definition without running the command.
	Flags func(fs *flag.FlagSet)
	// Streams marks the long streaming commands, which run with the
	// garbage collector settings of gc.go.
	Streams bool
	// Offline marks a streaming command that runs no export jobs beside
	// its own work (index, convert): a lower soft memory limit (gc.go).
	Offline bool
	// Long is optional help text printed by `help CMD` after Short.
	Long string
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("iisbridge: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

func main() { os.Exit(run(os.Args[1:])) }

// find returns the command named by the longest prefix of args, and how
// many arguments its name took.
func find(args []string) (*command, int) {
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, n
		}
	}
	return nil, 0
}

// Command iisbridge serves immunization registry data as FHIR Bulk Data.
//
// Each subcommand lives in its own file and registers itself in init with
// register, so adding one never touches this file.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. Name may hold a space for a nested command
// ("v2 stats"); the longest registered prefix of the arguments wins.
type command struct {
	Name  string
	Usage string // one line: arguments after the name
	Short string // one line: what it does
	Run   func(args []string) int
	// Streams marks the long streaming commands, which run with the
	// garbage collector settings of gc.go.
	Streams bool
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("iisbridge: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(os.Stdout)
		return 0
	}
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			if c.Streams {
				tuneGC()
			}
			return c.Run(args[n:])
		}
	}
	fmt.Fprintf(os.Stderr, "iisbridge: unknown command %q\n\n", strings.Join(args, " "))
	usage(os.Stderr)
	return 2
}

func usage(w *os.File) {
	fmt.Fprintln(w, "usage: iisbridge COMMAND [ARGS]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-16s %s\n      %s\n", n, c.Usage, c.Short)
	}
}

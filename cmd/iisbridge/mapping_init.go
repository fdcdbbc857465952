package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/mapping"
)

func init() {
	register(&command{
		Name:  "mapping init",
		Flags: func(fs *flag.FlagSet) { mappingInitFlags(fs) },
		Usage: "[--builtin-tables] [--relational] DIR",
		Short: "write the shipped default mapping (and its code tables) into DIR, to start a jurisdiction's own",
		Long: `DIR/default.yaml is the default mapping; DIR/tables/ its code tables (CVX, MVX,
HL7 tables, CDCREC...). Table paths in a mapping are relative to the mapping file.
With --relational, DIR/sql.yaml is the shipped mapping of the default legacy database
schema (sources/sql) instead, with the same tables and the schema's local code tables.
With --builtin-tables no table is copied: the mapping names each one builtin:NAME
(e.g. file: builtin:cvx) and uses the tables of the binary that runs it, so the
copy follows the project's CVX/MVX updates. Existing files are never overwritten.`,
		Run: func(args []string) int { return mappingInit(args, os.Stdout, os.Stderr) },
	})
}

func mappingInit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mapping init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	builtin, relational := mappingInitFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge mapping init [--builtin-tables] [--relational] DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	write, name, next := mapping.WriteDefault, "default.yaml", "`iisbridge mapping diff --mapping` it against the default"
	if *relational {
		write, name, next = mapping.WriteDefaultSQL, "sql.yaml", "`iisbridge mapping preview --source DESCRIPTION --key K --mapping` it"
	}
	files, err := write(fs.Arg(0), *builtin)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping init: %v\n", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintln(stdout, "wrote", f)
	}
	check := "`iisbridge mapping check` it"
	if *relational {
		check = "`iisbridge mapping check --source DESCRIPTION` it"
	}
	fmt.Fprintf(stderr, "next: edit %s, then %s and %s\n", filepath.Join(fs.Arg(0), name), check, next)
	return 0
}

// printProblems prints every problem of a mapping with the line it points
// at and a caret under the column (files that cannot be read, or
// problems about a whole file, print as file:line:column only).
func printProblems(w io.Writer, problems []diag.Problem) {
	texts := map[string][]byte{}
	for _, p := range problems {
		src, ok := texts[p.File]
		if !ok {
			src, _ = os.ReadFile(p.File)
			texts[p.File] = src
		}
		fmt.Fprintln(w, diag.Quote(src, p))
	}
}

// mappingInitFlags defines the flags of `iisbridge mapping init` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func mappingInitFlags(fs *flag.FlagSet) (builtin, relational *bool) {
	builtin = fs.Bool("builtin-tables", false, "name the shipped code tables as builtin:NAME instead of copying them")
	relational = fs.Bool("relational", false, "write the relational mapping (sql.yaml) of the default legacy database schema")
	return
}

package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/internal/doctest"
)

// readmeCommandRow is a row of the README's command table: its first
// cell, the command as typed.
var readmeCommandRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// TestREADMECommandTable keeps the README's table of commands equal to
// the registered ones: every command (but help and version, which the
// text above the table names) has a row that shows its name and usage as
// `help` prints them, and every row is a command.
func TestREADMECommandTable(t *testing.T) {
	table := doctest.Table(t, doctest.Read(t, "../../README.md"), "| command | what it is for |")
	rows := map[string]bool{}
	for _, m := range readmeCommandRow.FindAllStringSubmatch(table, -1) {
		rows[strings.ReplaceAll(m[1], `\|`, "|")] = true
	}
	var want []string
	for name, c := range commands {
		if name == "help" || name == "version" {
			continue
		}
		cell := strings.TrimSpace(name + " " + c.Usage)
		want = append(want, cell)
		if !rows[cell] {
			t.Errorf("README.md's command table lacks the row | `%s` |", strings.ReplaceAll(cell, "|", `\|`))
		}
	}
	for cell := range rows {
		if !slices.Contains(want, cell) {
			t.Errorf("README.md's command table has a row for %q, which is no command's name and usage", cell)
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d commands registered: is the registry filled before tests run?", len(want))
	}
}

// docCommand finds a command line in the Markdown docs: the binary (as
// `iisbridge`, `./iisbridge` or `go run ./cmd/iisbridge`) and what follows
// on the line.
var docCommand = regexp.MustCompile(`(?:^|[\s(` + "`" + `])(?:go run \./cmd/iisbridge|\./iisbridge|iisbridge) ([a-z0-9 ][^\n` + "`" + `]*)`)

// TestDocFlagsExist keeps the command lines of the Markdown docs on flags
// their commands define: a reader pasting one must not be told "flag
// provided but not defined".
func TestDocFlagsExist(t *testing.T) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	// "mapping check" before "mapping": the longest name that fits.
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	checked := 0
	for _, doc := range []string{"../../README.md", "../../mapping/README.md"} {
		for n, line := range strings.Split(doctest.Read(t, doc), "\n") {
			for _, m := range docCommand.FindAllStringSubmatch(line, -1) {
				rest := m[1]
				var c *command
				for _, name := range names {
					if rest == name || strings.HasPrefix(rest, name+" ") {
						c, rest = commands[name], rest[len(name):]
						break
					}
				}
				if c == nil {
					continue // prose: "iisbridge is", "iisbridge reads"
				}
				// The command's own words end at a shell operator or comment.
				if k := strings.IndexAny(rest, "|;&>#"); k >= 0 {
					rest = rest[:k]
				}
				defined := map[string]bool{}
				if fl := flagsOf(c); fl != nil {
					defined = fl.takesValue
				}
				for _, w := range strings.Fields(rest) {
					if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
						continue
					}
					name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
					name = strings.TrimRight(name, ".,)]")
					checked++
					if _, ok := defined[name]; !ok && name != "log-format" && name != "log-level" && name != "help" {
						t.Errorf("%s:%d: %s has no flag --%s: %s", strings.TrimPrefix(doc, "../../"), n+1, c.Name, name, strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked only %d flags in the docs: is docCommand still right?", checked)
	}
}

// TestUsageNamesEveryFlag keeps each command's one-line usage (which the
// README's table and `help` show) complete: every flag the command
// defines is in it.
func TestUsageNamesEveryFlag(t *testing.T) {
	for name, c := range commands {
		fl := flagsOf(c)
		if fl == nil {
			continue
		}
		for f := range fl.takesValue {
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(f) + `\b`).MatchString(c.Usage) {
				t.Errorf("%s: the usage %q lacks --%s", name, c.Usage, f)
			}
		}
	}
}

package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeCommandRow is a row of the README's command table: its first
// cell, the command as typed.
var readmeCommandRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// TestREADMECommandTable keeps the README's table of commands equal to
// the registered ones: every command (but help and version, which the
// text above the table names) has a row that shows its name and usage as
// `help` prints them, and every row is a command.
func TestREADMECommandTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n| command | what it is for |\n")
	if i < 0 {
		t.Fatal("README.md has no command table")
	}
	table := s[i+1:]
	if j := strings.Index(table, "\n\n"); j >= 0 {
		table = table[:j]
	}
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

// Package doctest reads the project's Markdown documents for the tests
// that keep them in step with the code: a table by its header row, the
// fenced code blocks of a language.
package doctest

import (
	"os"
	"strings"
	"testing"
)

// Read returns the document at path (relative to the calling test's
// package directory), failing t if it cannot be read.
func Read(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Table returns the rows of the table in doc whose header row is header,
// the header and its separator row included, up to the first line that is
// not a table row. It fails t when doc has no such table.
func Table(t testing.TB, doc, header string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+header+"\n")
	if i < 0 {
		t.Fatalf("no table with the header %q", header)
	}
	table := doc[i+1:]
	for j := 0; j < len(table); {
		k := strings.IndexByte(table[j:], '\n')
		if k < 0 {
			break
		}
		if !strings.HasPrefix(table[j:], "|") {
			return table[:j]
		}
		j += k + 1
	}
	return table
}

// Block is a fenced code block: its text, without the indentation of its
// fence, and the line (1-based) of its first line of text.
type Block struct {
	Text string
	Line int
}

// Blocks returns the blocks fenced with ```lang in doc, indented ones (in
// a list item) too.
func Blocks(doc, lang string) []Block {
	var out []Block
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```"+lang {
			continue
		}
		indent := strings.Repeat(" ", len(lines[i])-len(strings.TrimLeft(lines[i], " ")))
		b := Block{Line: i + 2}
		var text []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			text = append(text, strings.TrimPrefix(lines[i], indent))
		}
		b.Text = strings.Join(text, "\n")
		out = append(out, b)
	}
	return out
}

// Package diag is the one shape of an admin-facing problem: what is wrong
// with a file the admin edits (a mapping, a table, the server config), at
// file:line:column, and the error that lists every problem found rather
// than the first.
package diag

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a file, at a position. Line 0 means the
// problem concerns the whole file.
type Problem struct {
	File      string
	Line, Col int
	Msg       string
}

func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
}

// List is an error holding every problem found, one per line.
type List struct{ Problems []Problem }

func (e *List) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

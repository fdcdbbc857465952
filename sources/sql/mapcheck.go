package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/mapping"
)

// CheckMapping validates a relational mapping against this source: every
// table the mapping declares must be the description's persons, one of
// its children, or one of its lookups reached from the child the mapping
// names in via:; every column it declares must be in that table's result
// in the live database. Problems are at the mapping's file:line:column,
// with a did-you-mean; nil when all is well. A mapping that reads one
// row, or a v2 mapping, is refused: it cannot read this source's persons.
func (r *Reader) CheckMapping(ctx context.Context, m *mapping.Mapping) []diag.Problem {
	file := m.File()
	var ps []diag.Problem
	add := func(line, col int, format string, args ...any) {
		ps = append(ps, diag.Problem{File: file, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
	}
	if !m.PersonMapping() {
		add(1, 1, "source %s holds persons with child tables: the mapping needs source: sql and its tables under columns: (persons: [...], CHILD: [...])", r.cfg.Source)
		return ps
	}
	c := r.cfg
	names := []string{"persons"}
	tables := map[string]*Table{"persons": &c.Persons}
	for i := range c.Children {
		names = append(names, c.Children[i].Name)
		tables[c.Children[i].Name] = &c.Children[i]
	}
	for i := range c.Lookups {
		names = append(names, c.Lookups[i].Name)
		tables[c.Lookups[i].Name] = &c.Lookups[i]
	}
	s := &scanner{cfg: c, d: r.d}
	for _, mt := range m.SQLTables() {
		t := tables[mt.Name]
		if t == nil {
			add(mt.Line, mt.Col, "table %q is not in source %s (%s)%s", mt.Name, c.Source, describeNames(names), diag.DidYouMean(mt.Name, names))
			continue
		}
		from, _, _ := strings.Cut(t.From, ".")
		switch {
		case t.From != "" && mt.Via == "":
			add(mt.Line, mt.Col, "%s is a lookup of source %s, reached from %s rows: declare it as %s: {via: %s, columns: [...]}", mt.Name, c.Source, from, mt.Name, from)
		case t.From == "" && mt.Via != "":
			add(mt.Line, mt.Col, "%s is not a lookup of source %s (it is its persons or a child table): declare it as %s: [columns]", mt.Name, c.Source, mt.Name)
		case t.From != "" && mt.Via != from:
			add(mt.Line, mt.Col, "%s rows are reached from %s rows in source %s (from: %s), not from %s", mt.Name, from, c.Source, t.From, mt.Via)
		}
		cols, err := r.columnsOf(ctx, s, t)
		if err != nil {
			add(mt.Line, mt.Col, "%s cannot be read: %v", mt.Name, r.redact(err))
			continue
		}
		for _, col := range mt.Columns {
			if slices.Contains(cols, col.Name) {
				continue
			}
			add(col.Line, col.Col, "%s (%s) has no column %q%s", mt.Name, tableLabel(t), col.Name, diag.DidYouMean(col.Name, cols))
		}
	}
	return ps
}

// columnsOf runs the table or query for no rows and names its columns.
func (r *Reader) columnsOf(ctx context.Context, s *scanner, t *Table) ([]string, error) {
	rows, err := r.db.QueryContext(ctx, "SELECT x.* FROM "+s.from(t, "x")+" WHERE 1 = 0")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns()
}

func tableLabel(t *Table) string {
	if t.Query != "" {
		return "its query"
	}
	return "table " + t.Table
}

func describeNames(names []string) string { return "it has " + strings.Join(names, ", ") }

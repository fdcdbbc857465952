package sql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
)

// Check validates the description against the live database: each table
// or query is run for no rows, and every column the description names
// (key, parent, modified, deleted, merged_into, dates, timestamps, a
// lookup's from) must be in its result. Every problem comes back in a
// *diag.List at the description's file:line:column; nil when all is well.
func (r *Reader) Check(ctx context.Context) error {
	c := r.cfg
	var ps []diag.Problem
	add := func(n *yaml.Node, format string, args ...any) {
		ps = append(ps, diag.Problem{File: c.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
	}
	s := &scanner{cfg: c, d: r.d}
	colsOf := map[string][]string{}
	check := func(t *Table, name string, path []any) {
		at := func(p ...any) *yaml.Node { return c.node(append(slices.Clone(path), p...)...) }
		q := "SELECT x.* FROM " + s.from(t, "x") + " WHERE 1 = 0"
		rows, err := r.db.QueryContext(ctx, q)
		if err != nil {
			field := "table"
			if t.Query != "" {
				field = "query"
			}
			add(at(field), "%s: cannot be read: %v", name, r.redact(err))
			return
		}
		cols, err := rows.Columns()
		rows.Close()
		if err != nil {
			add(at(), "%s: %v", name, r.redact(err))
			return
		}
		colsOf[name] = cols
		need := func(col string, p ...any) {
			if col == "" || slices.Contains(cols, col) {
				return
			}
			msg := fmt.Sprintf("%s: no column %q", name, col)
			for _, have := range cols {
				if strings.EqualFold(have, col) {
					msg += fmt.Sprintf(" (did you mean %q? names are case-sensitive here)", have)
				}
			}
			add(at(p...), "%s", msg)
		}
		need(t.Key, "key")
		need(t.Parent, "parent")
		need(t.Modified, "modified")
		need(t.MergedInto, "merged_into")
		if t.Deleted != nil {
			need(t.Deleted.Column, "deleted", "column")
		}
		for col := range t.Dates {
			need(col, "dates", col)
		}
		for i, col := range t.Timestamps {
			need(col, "timestamps", i)
		}
	}
	check(&c.Persons, "persons", []any{"persons"})
	for i := range c.Children {
		check(&c.Children[i], c.Children[i].Name, []any{"children", i})
	}
	for i := range c.Lookups {
		t := &c.Lookups[i]
		check(t, t.Name, []any{"lookups", i})
		child, col, _ := strings.Cut(t.From, ".")
		if cols, ok := colsOf[child]; ok && !slices.Contains(cols, col) {
			add(c.node("lookups", i, "from"), "%s: from: %s has no column %q", t.Name, child, col)
		}
	}
	if len(ps) > 0 {
		return &diag.List{Problems: ps}
	}
	return nil
}

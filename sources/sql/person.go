package sql

import (
	"strings"

	"github.com/iisbridge/iisbridge/mapping"
)

// A Record is the mapping's relational person (mapping.Person), and a Row
// says where it was read (mapping.SourceRow).
var (
	_ mapping.Person     = (*Record)(nil)
	_ mapping.SourceRow  = (*Row)(nil)
	_ mapping.IndexedRow = (*Row)(nil)
)

// Root is the person row.
func (r *Record) Root() mapping.Row { return r.Person }

// Rows are the person's rows of one child table, in key order.
func (r *Record) Rows(child string) []mapping.Row {
	rows := r.Children[child]
	if len(rows) == 0 {
		return nil
	}
	out := make([]mapping.Row, len(rows))
	for i, row := range rows {
		out[i] = row
	}
	return out
}

// Lookup is the row of lookup table name that the child row from points
// to (through the lookup's from: column).
func (r *Record) Lookup(name string, from mapping.Row) (mapping.Row, bool) {
	row, isRow := from.(*Row)
	if !isRow {
		return nil, false
	}
	if row.links != nil { // resolved by the reader
		for i, n := range row.cols.lookups {
			if n == name {
				if l := row.links[i]; l != nil {
					return l, true
				}
				return nil, false
			}
		}
		return nil, false
	}
	via, ok := r.lookupFrom[name]
	if !ok || row.Table != via[0] {
		return nil, false
	}
	v, ok := row.Column(via[1])
	if !ok {
		return nil, false
	}
	for _, l := range r.Lookups[name] {
		if l.Key == v {
			return l, true
		}
	}
	return nil, false
}

// Origin is the row's table (its name in the description) and key.
func (r *Row) Origin() (table, key string) { return r.Table, r.Key }

// SoftDeleted says the row is soft-deleted (the table's deleted: flag).
func (r *Row) SoftDeleted() bool { return r.Deleted }

// childLookups lists, per child, the lookups reached from its rows (in
// description order: Row.links), and each lookup's position in its
// child's list.
func (c *Config) childLookups() (map[string][]string, []int) {
	byChild := map[string][]string{}
	pos := make([]int, len(c.Lookups))
	for i, t := range c.Lookups {
		child, _, _ := strings.Cut(t.From, ".")
		pos[i] = len(byChild[child])
		byChild[child] = append(byChild[child], t.Name)
	}
	return byChild, pos
}

// lookupFroms maps each lookup's name to the child and column it is
// reached from.
func (c *Config) lookupFroms() map[string][2]string {
	out := make(map[string][2]string, len(c.Lookups))
	for _, t := range c.Lookups {
		child, col, _ := strings.Cut(t.From, ".")
		out[t.Name] = [2]string{child, col}
	}
	return out
}

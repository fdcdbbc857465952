package mapping

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/fhirout"
)

// Relational mappings (`source: sql`). A mapping of one row lists its
// columns (`columns: [a, b]`) and reads them by bare name. A mapping of
// persons (Input.Person) declares, under `columns:`, every table it reads
// and the columns it reads of each:
//
//	columns:
//	  persons: [patient_id, patient_name_last]          # the person row
//	  immunizations: [vaccine_cvx_code, lot_id]          # a child table
//	  lots: {via: immunizations, columns: [lot_number]}  # a lookup, reached from a child's rows
//
// and reads them as TABLE.COLUMN: persons.* anywhere, a child's columns
// inside `foreach: CHILD` (one item per row, in key order), a lookup's
// inside a foreach over the child it is reached from (the row the current
// child row points to). Every table also has two columns no one declares:
// _key (the row's key) and _deleted ("true" when the row is soft-deleted).
// Table names are the source description's (sources/sql), so `mapping
// check --source` can validate every name against the live database.

// The kinds of relational path.
const (
	colOneRow = iota // one-row mapping: a bare column
	colPerson        // persons.COLUMN
	colChild         // CHILD.COLUMN, inside foreach: CHILD
	colLookup        // LOOKUP.COLUMN, inside foreach: its via child
)

// scopeRow is a compile-time scope holding one row of a child table
// (cscope.seg names the table); eachRows loops over a person's rows of a
// child table (foreachDef.seg names it).
const (
	scopeRow scopeKind   = 100
	eachRows foreachKind = 100
)

// sqlTable is one table a person mapping declares.
type sqlTable struct {
	name    string
	via     string // lookups: the child table whose rows point to it
	at      position
	columns map[string]position
	order   []string
}

// SQLTable is a table a relational mapping reads and where it declares
// it (for `mapping check --source`).
type SQLTable struct {
	Name      string // persons, or a child's or a lookup's name in the source description
	Via       string // a lookup: the child whose rows point to it
	Line, Col int
	Columns   []SQLColumn // in declaration order
}

// SQLColumn is a declared column and where.
type SQLColumn struct {
	Name      string
	Line, Col int
}

// SQLTables lists the tables and columns a person mapping declares
// (nil for a v2 or one-row mapping).
func (m *Mapping) SQLTables() []SQLTable {
	var out []SQLTable
	for _, name := range m.impl.sqlOrder {
		t := m.impl.sqlTables[name]
		st := SQLTable{Name: t.name, Via: t.via, Line: t.at.line, Col: t.at.col}
		for _, c := range t.order {
			p := t.columns[c]
			st.Columns = append(st.Columns, SQLColumn{Name: c, Line: p.line, Col: p.col})
		}
		out = append(out, st)
	}
	return out
}

// Source is the mapping's source kind: v2 or sql.
func (m *Mapping) Source() string { return m.impl.source }

// PersonMapping says the mapping reads persons (Input.Person), not one row.
func (m *Mapping) PersonMapping() bool { return m.impl.sqlTables != nil }

// compileColumns reads `columns:`: a list (one row) or tables (persons).
func (c *compiler) compileColumns(n, top *yaml.Node) {
	if n == nil {
		if c.m.source == "sql" {
			c.errorf(pos(n0(top)), "source: sql needs columns: (a list of columns, or the tables read and their columns)")
		}
		return
	}
	if c.m.source != "sql" {
		c.errorf(pos(n), "columns: applies to source: sql only")
		return
	}
	if n.Kind == yaml.SequenceNode {
		for _, it := range c.list(n, "columns") {
			s, _ := c.scalar(it, "a column name")
			if !columnRE.MatchString(s) {
				c.errorf(pos(it), "%q is not a column name", s)
			}
			c.columns[s] = true
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		c.errorf(pos(n), "columns must be a list of column names, or a mapping of table: [columns]")
		return
	}
	c.m.sqlTables = map[string]*sqlTable{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		t := &sqlTable{name: k.Value, at: pos(k), columns: map[string]position{}}
		if !columnRE.MatchString(t.name) {
			c.errorf(pos(k), "%q is not a table name (letters, digits and _)", t.name)
			continue
		}
		if c.m.sqlTables[t.name] != nil {
			c.errorf(pos(k), "table %q declared twice", t.name)
			continue
		}
		cols := v
		if v.Kind == yaml.MappingNode {
			f := c.fields(v, "table "+t.name, "via", "columns")
			if s, ok := c.scalar(f["via"], "via"); ok {
				t.via = s
			} else {
				c.errorf(pos(v), "table %s: a lookup names via: the child table whose rows point to it", t.name)
			}
			cols = f["columns"]
			if cols == nil {
				c.errorf(pos(v), "table %s: columns: missing", t.name)
				continue
			}
		}
		for _, it := range c.list(cols, "the columns of "+t.name) {
			s, ok := c.scalar(it, "a column name")
			if !ok {
				continue
			}
			switch {
			case !columnRE.MatchString(s):
				c.errorf(pos(it), "%q is not a column name", s)
			case strings.HasPrefix(s, "_") && (s == "_key" || s == "_deleted"):
				c.errorf(pos(it), "%s is always there: do not declare it", s)
			default:
				if _, dup := t.columns[s]; dup {
					c.errorf(pos(it), "column %q listed twice in %s", s, t.name)
				}
				t.columns[s] = pos(it)
				t.order = append(t.order, s)
			}
		}
		c.m.sqlTables[t.name] = t
		c.m.sqlOrder = append(c.m.sqlOrder, t.name)
	}
	if c.m.sqlTables["persons"] == nil {
		c.errorf(pos(n), "columns: declare persons: [the person row's columns]")
	} else if c.m.sqlTables["persons"].via != "" {
		c.errorf(c.m.sqlTables["persons"].at, "persons is the root table: it has no via:")
	}
	for _, name := range c.m.sqlOrder {
		t := c.m.sqlTables[name]
		if t.via == "" {
			continue
		}
		switch v := c.m.sqlTables[t.via]; {
		case v == nil:
			c.errorf(t.at, "table %s: via: %q is not a declared table%s", t.name, t.via, diag.DidYouMean(t.via, c.m.sqlOrder))
		case v.name == "persons" || v.via != "":
			c.errorf(t.at, "table %s: via: %q must be a child table (a lookup is reached from a child's rows)", t.name, t.via)
		}
	}
}

// compileSQLPath resolves a relational path at Load.
func (c *compiler) compileSQLPath(tok string, at position, cs *cscope) expr {
	if c.m.sqlTables == nil {
		if !columnRE.MatchString(tok) {
			c.errorf(at, "%q is not a column name", tok)
			return nil
		}
		if !c.columns[tok] {
			c.errorf(at, "unknown column %q (not in columns:)", tok)
			return nil
		}
		return &colExpr{name: tok, col: tok, slot: c.colSlot()}
	}
	table, col, ok := strings.Cut(tok, ".")
	if !ok || !columnRE.MatchString(table) || !columnRE.MatchString(col) {
		c.errorf(at, "%q is not a TABLE.COLUMN path (e.g. persons.last_name)", tok)
		return nil
	}
	t := c.m.sqlTables[table]
	if t == nil {
		c.errorf(at, "path %s: table %q is not declared under columns:%s", tok, table, diag.DidYouMean(table, c.m.sqlOrder))
		return nil
	}
	x := &colExpr{name: tok, table: table, col: col, via: t.via, slot: c.colSlot()}
	switch col {
	case "_key":
		x.pseudo = 'k'
	case "_deleted":
		x.pseudo = 'd'
	default:
		if _, ok := t.columns[col]; !ok {
			c.errorf(at, "path %s: column %q is not declared for %s under columns:%s", tok, col, table, diag.DidYouMean(col, t.order))
			return nil
		}
	}
	switch {
	case table == "persons":
		x.kind = colPerson
	case t.via != "":
		x.kind = colLookup
		if !cs.inRows(t.via) {
			c.errorf(at, "path %s: %s rows are reached from %s rows: use it inside foreach: %s", tok, table, t.via, t.via)
			return nil
		}
	default:
		x.kind = colChild
		if !cs.inRows(table) {
			c.errorf(at, "path %s: use it inside foreach: %s (one item per %s row), or test rows with has: %s", tok, table, table, table)
			return nil
		}
	}
	return x
}

// colSlot numbers a relational path: its slot in env.colSlots.
func (c *compiler) colSlot() int {
	c.m.nColSlots++
	return c.m.nColSlots - 1
}

// inRows says a foreach over table's rows encloses the scope.
func (s *cscope) inRows(table string) bool {
	for ; s != nil; s = s.parent {
		if s.kind == scopeRow && s.seg == table {
			return true
		}
	}
	return false
}

// compileSQLForeach is foreach: CHILD in a person mapping.
func (c *compiler) compileSQLForeach(s string, n *yaml.Node, cs *cscope) (*foreachDef, *cscope) {
	if c.m.sqlTables == nil {
		c.errorf(pos(n), "foreach needs the tables declared under columns: (a one-row mapping has one record per row)")
		return nil, nil
	}
	t := c.m.sqlTables[s]
	switch {
	case t == nil:
		c.errorf(pos(n), "foreach %q: not a table declared under columns:%s", s, diag.DidYouMean(s, c.m.sqlOrder))
		return nil, nil
	case s == "persons":
		c.errorf(pos(n), "foreach: persons: a record is one person; its row is read anywhere as persons.COLUMN")
		return nil, nil
	case t.via != "":
		c.errorf(pos(n), "foreach %q: %s is a lookup (one row per %s row); loop over %s and read %s.COLUMN", s, s, t.via, t.via, s)
		return nil, nil
	}
	return &foreachDef{kind: eachRows, seg: s, text: s, label: s}, &cscope{parent: cs, kind: scopeRow, seg: s}
}

// rowLoop is the item scopes of a foreach over a child's rows in a scope
// (loops over the same child in one scope share them, so the call memo
// serves them all).
type rowLoop struct {
	parent *scope
	table  string
	items  []*scope
}

// rowScopes gives the scopes of the person's rows of fe's table.
func (e *env) rowScopes(fe *foreachDef, s *scope) []*scope {
	for i := len(e.rowLoops) - 1; i >= 0; i-- {
		if l := &e.rowLoops[i]; l.parent == s && l.table == fe.seg {
			return l.items
		}
	}
	var items []*scope
	if e.person != nil {
		rows := e.person.Rows(fe.seg)
		items = make([]*scope, len(rows))
		for i, r := range rows {
			items[i] = e.newScope(scope{parent: s, row: r, lname: fe.seg, lidx: i + 1})
		}
	}
	e.rowLoops = append(e.rowLoops, rowLoop{s, fe.seg, items})
	return items
}

// colExpr reads a relational column (see the kinds above).
type colExpr struct {
	name   string // as written
	table  string // "" in a one-row mapping
	col    string
	via    string // lookups: the child table they are reached from
	kind   int
	pseudo byte // 'k' _key, 'd' _deleted
	slot   int  // index in env.colSlots
}

// colSlot is where a path's column was last found (per Applier env:
// workers share the compiled mapping): in rows of layout, at idx.
type colSlot struct {
	layout ColumnLayout
	idx    int
}

func (c *colExpr) String() string { return c.name }

func (c *colExpr) eval(e *env, s *scope) (string, error) {
	row := c.row(e, s)
	if row == nil {
		return "", nil
	}
	switch c.pseudo {
	case 'k':
		if sr, ok := row.(SourceRow); ok {
			_, key := sr.Origin()
			return key, nil
		}
		return "", nil
	case 'd':
		if sr, ok := row.(SourceRow); ok && sr.SoftDeleted() {
			return "true", nil
		}
		return "", nil
	}
	return strings.TrimSpace(e.column(c, row)), nil
}

// column reads c's column of row: by position when the row offers it (the
// position found once per layout), else by name.
func (e *env) column(c *colExpr, row Row) string {
	ir, ok := row.(IndexedRow)
	if !ok {
		v, _ := row.Column(c.col)
		return v
	}
	if e.slotsOf != e.m {
		clear(e.colSlots)
		e.slotsOf = e.m
	}
	if len(e.colSlots) < e.m.nColSlots {
		e.colSlots = append(e.colSlots, make([]colSlot, e.m.nColSlots-len(e.colSlots))...)
	}
	sl, l := &e.colSlots[c.slot], ir.Layout()
	if sl.layout != l {
		sl.layout, sl.idx = l, l.ColumnIndex(c.col)
	}
	v, _ := ir.ColumnAt(sl.idx)
	return v
}

// row finds the row the path reads from scope s.
func (c *colExpr) row(e *env, s *scope) Row {
	switch c.kind {
	case colOneRow, colPerson:
		return e.row
	case colChild:
		return rowOf(s, c.table)
	}
	from := rowOf(s, c.via)
	if from == nil || e.person == nil {
		return nil
	}
	if r, ok := e.person.Lookup(c.table, from); ok {
		return r
	}
	return nil
}

// rowOf is the row of table held by s or its nearest ancestor.
func rowOf(s *scope, table string) Row {
	for ; s != nil; s = s.parent {
		if s.row != nil && s.lname == table {
			return s.row
		}
	}
	return nil
}

// sqlSourceLabel is a relational rule's source for traces: the path and,
// for a row of a table with keys, the row's key.
func (e *env) sqlSourceLabel(src string) string {
	if src == "" || strings.HasPrefix(src, "$") || e.person == nil {
		return src
	}
	table, _, _ := strings.Cut(src, ".")
	if _, key := e.rowOrigin(table); key != "" {
		return src + " (key " + key + ")"
	}
	return src
}

// rowOrigin is the table and key of the row a source path of table reads
// in the current scope; with no such table, the innermost row's (the
// person's at the top).
func (e *env) rowOrigin(table string) (string, string) {
	var row Row
	switch {
	case table == "persons":
		row = e.row
	case e.m.sqlTables[table] != nil && e.m.sqlTables[table].via != "":
		t := e.m.sqlTables[table]
		from := rowOf(e.scope, t.via)
		if from != nil && e.person != nil {
			row, _ = e.person.Lookup(table, from)
		}
	case e.m.sqlTables[table] != nil:
		row = rowOf(e.scope, table)
	}
	if row == nil {
		for s := e.scope; s != nil && row == nil; s = s.parent {
			row = s.row
		}
		if row == nil {
			row = e.row
		}
	}
	if sr, ok := row.(SourceRow); ok {
		return sr.Origin()
	}
	return table, ""
}

// rowInput is the Input of an issue about a relational person: the
// source, the row's key and table.column (never a value).
func (e *env) rowInput(src string) *fhirout.Input {
	table, col, _ := strings.Cut(src, ".")
	if strings.HasPrefix(src, "$") {
		table, col = "", ""
	}
	t, key := e.rowOrigin(table)
	field := t
	if t == table && col != "" {
		field = src
	}
	return &fhirout.Input{Source: e.in.Loc.Source, ControlID: key, Field: field}
}

// isISO says v starts as an ISO date (YYYY-MM-DD), which a v2 TS never
// does: how a relational source gives dates and timestamps.
func isISO(v string) bool {
	return len(v) >= 10 && v[4] == '-' && v[7] == '-'
}

// isoDate is date() of an ISO date or timestamp (its day), or of a
// value in the Go layout a[1]. The error names the layout, not the value.
func isoDate(a []string) (string, error) {
	v := a[0]
	if len(a) > 1 {
		t, err := time.Parse(a[1], v)
		if err != nil {
			return "", fmt.Errorf("does not match the date layout %q", a[1])
		}
		return t.Format(time.DateOnly), nil
	}
	if !isISO(v) {
		return "", errors.New("not a valid date")
	}
	if _, err := time.Parse(time.DateOnly, v[:10]); err != nil {
		return "", errors.New("not a valid ISO date")
	}
	return v[:10], nil // valid, and already the FHIR form
}

// isoDateTime is datetime() of an ISO date (kept a date) or an RFC 3339
// timestamp (in UTC).
func isoDateTime(v string) (string, error) {
	if len(v) == 10 {
		return isoDate([]string{v})
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", errors.New("not a valid RFC 3339 timestamp")
	}
	return fhirout.FormatInstant(t), nil
}

// sqlPathDocs documents the relational paths (mapping docs).
var sqlPathDocs = [][2]string{
	{"persons.COLUMN", "a column of the person row; anywhere"},
	{"CHILD.COLUMN", "a column of the current row of a child table; inside `foreach: CHILD` (a resource or a rule), or in a `has: CHILD` condition's `where:`"},
	{"LOOKUP.COLUMN", "a column of the lookup row the current row of its `via:` child points to; inside a foreach over that child; empty when it points to none"},
	{"TABLE._key", "the row's key (the source description's key column), on every table; undeclared"},
	{"TABLE._deleted", "`true` when the row is soft-deleted (the description's deleted: flag), else empty; undeclared"},
	{"COLUMN", "a one-row mapping (`columns:` a list): a column of the row"},
}

func sqlDocs() string {
	var b strings.Builder
	b.WriteString("\n### Relational paths (`source: sql`)\n\nTables are declared under `columns:` (`persons: [...]`, `CHILD: [...]`, `LOOKUP: {via: CHILD, columns: [...]}`), by their names in the source description; values are text, dates `YYYY-MM-DD`, timestamps RFC 3339 UTC, NULL empty.\n\n| Path | Reads |\n|---|---|\n")
	for _, d := range sqlPathDocs {
		fmt.Fprintf(&b, "| `%s` | %s |\n", d[0], escapePipe(d[1]))
	}
	return b.String()
}

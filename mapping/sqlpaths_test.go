package mapping

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources"
)

// fakeRow and fakePerson stand in for sources/sql's Row and Record.
type fakeRow struct {
	table, key string
	deleted    bool
	cols       map[string]string
}

func (r *fakeRow) Column(n string) (string, bool) { v, ok := r.cols[n]; return v, ok }
func (r *fakeRow) Origin() (string, string)       { return r.table, r.key }
func (r *fakeRow) SoftDeleted() bool              { return r.deleted }

type fakePerson struct {
	root     *fakeRow
	children map[string][]*fakeRow
	lookups  map[string][]*fakeRow
	from     map[string][2]string // lookup → child, column
}

func (p *fakePerson) Root() Row { return p.root }
func (p *fakePerson) Rows(child string) []Row {
	var out []Row
	for _, r := range p.children[child] {
		out = append(out, r)
	}
	return out
}
func (p *fakePerson) Lookup(name string, from Row) (Row, bool) {
	via := p.from[name]
	fr, ok := from.(*fakeRow)
	if !ok || fr.table != via[0] {
		return nil, false
	}
	for _, l := range p.lookups[name] {
		if l.key == fr.cols[via[1]] {
			return l, true
		}
	}
	return nil, false
}

const personMapping = `source: sql
columns:
  persons: [last, first, sex]
  aliases: [alias_last]
  shots: [cvx, given_on, lot_id]
  lots: {via: shots, columns: [lot_number]}
tables:
  cvx: {policy: reject, codes: {"08": {code: "08", display: Hep B}}}
resources:
  - resource: Patient
    as: patient
    id: 'hash("Patient", $input.source, persons._key)'
    rules:
      - target: name[]
        rules:
          - {target: family, value: persons.last}
          - {target: 'given[]', value: persons.first}
      - foreach: aliases
        target: name[]
        rules:
          - {target: use, const: old}
          - {target: family, value: aliases.alias_last}
  - resource: Immunization
    foreach: shots
    id: 'hash("Immunization", $input.source, shots._key)'
    rules:
      - {target: status, cases: [{when: {present: shots._deleted}, const: entered-in-error}, {const: completed}]}
      - {target: 'vaccineCode.coding[0].code', value: 'table("cvx", shots.cvx)'}
      - {target: occurrenceDateTime, value: 'date(shots.given_on)', required: true}
      - {target: lotNumber, value: lots.lot_number}
      - {target: patient.reference, value: 'concat("Patient/", $patient)'}
`

func testPerson() *fakePerson {
	return &fakePerson{
		root: &fakeRow{table: "persons", key: "7", cols: map[string]string{"last": "DOE", "first": "JANE"}},
		children: map[string][]*fakeRow{
			"aliases": {{table: "aliases", key: "70", cols: map[string]string{"alias_last": "ROE"}}},
			"shots": {
				{table: "shots", key: "100", cols: map[string]string{"cvx": "08", "given_on": "2020-01-02", "lot_id": "5"}},
				{table: "shots", key: "101", deleted: true, cols: map[string]string{"cvx": "08", "given_on": "2020-02-03"}},
				{table: "shots", key: "102", cols: map[string]string{"cvx": "999", "given_on": "2020-03-04", "lot_id": "5"}},
				{table: "shots", key: "103", cols: map[string]string{"cvx": "08"}}, // date unreadable: the reader left it out
			},
		},
		lookups: map[string][]*fakeRow{"lots": {{table: "lots", key: "5", cols: map[string]string{"lot_number": "LOT5"}}}},
		from:    map[string][2]string{"lots": {"shots", "lot_id"}},
	}
}

func TestPersonMapping(t *testing.T) {
	m, err := Parse([]byte(personMapping), "p.yaml", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	out := m.Apply(Input{Person: testPerson(), Loc: sources.Location{Source: "iis"}}, true)
	var got []string
	for _, r := range out.Resources {
		b, _ := json.Marshal(r)
		got = append(got, string(b))
	}
	if len(got) != 3 {
		t.Fatalf("%d resources, want Patient and two Immunizations:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, want := range []string{
		`"name":[{"family":"DOE","given":["JANE"]},{"use":"old","family":"ROE"}]`,
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("Patient %s lacks %s", got[0], want)
		}
	}
	if !strings.Contains(got[1], `"status":"completed"`) || !strings.Contains(got[1], `"lotNumber":"LOT5"`) || !strings.Contains(got[1], `"occurrenceDateTime":"2020-01-02"`) {
		t.Errorf("first shot: %s", got[1])
	}
	if !strings.Contains(got[2], `"status":"entered-in-error"`) || strings.Contains(got[2], "lotNumber") {
		t.Errorf("soft-deleted shot (no lot): %s", got[2])
	}
	// Ids: stable, and scoped by the source.
	other := m.Apply(Input{Person: testPerson(), Loc: sources.Location{Source: "other"}}, false)
	again := m.Apply(Input{Person: testPerson(), Loc: sources.Location{Source: "iis"}}, false)
	for i := range out.Resources {
		if out.Resources[i].ID() != again.Resources[i].ID() || out.Resources[i].ID() == other.Resources[i].ID() {
			t.Errorf("resource %d: id %s, again %s, other source %s", i, out.Resources[i].ID(), again.Resources[i].ID(), other.Resources[i].ID())
		}
	}
	// Want sees each row's index and skips what it refuses.
	var asked []int
	some := m.Apply(Input{Person: testPerson(), Loc: sources.Location{Source: "iis"}, Want: func(typ string, i int) bool {
		if typ == "Immunization" {
			asked = append(asked, i)
		}
		return typ == "Patient" || i == 1
	}}, false)
	if len(some.Resources) != 2 || some.Resources[1].ID() != out.Resources[2].ID() || fmt.Sprint(asked) != "[0 1 2 3]" {
		t.Errorf("Want: %d resources, asked %v", len(some.Resources), asked)
	}
	// The unknown code (reject policy) and the missing date name source,
	// table, key and column, never the value.
	if len(out.Issues) != 2 {
		t.Fatalf("issues %+v, want 2", out.Issues)
	}
	for i, want := range []struct{ key, field, code string }{
		{"102", "shots.cvx", "code-invalid"},
		{"103", "shots.given_on", "required"},
	} {
		is := out.Issues[i]
		if is.Input == nil || is.Input.Source != "iis" || is.Input.ControlID != want.key || is.Input.Field != want.field || is.Code != want.code || is.Severity != "error" {
			t.Errorf("issue %d: %+v input %+v, want key %s field %s code %s", i, is, is.Input, want.key, want.field, want.code)
		}
		if strings.Contains(is.Diagnostics, "2020") {
			t.Errorf("issue %d names a value: %s", i, is.Diagnostics)
		}
	}
	// Traces name table.column and the row's key.
	found := false
	for _, tr := range out.Trace {
		if tr.Element == "Immunization.lotNumber" && tr.Source == "lots.lot_number (key 5)" && tr.Value == "LOT5" && strings.HasPrefix(tr.Rule, "p.yaml:") {
			found = true
		}
	}
	if !found {
		t.Errorf("no trace of lotNumber from lots.lot_number (key 5): %+v", out.Trace)
	}
}

func TestPersonMappingProblems(t *testing.T) {
	head := "source: sql\ncolumns:\n  persons: [last]\n  shots: [cvx, lot_id]\n  lots: {via: shots, columns: [lot_number]}\nresources:\n  - resource: Patient\n    rules:\n"
	for _, c := range []struct{ rule, want string }{
		{`      - {target: gender, value: persons.lats}`, `9:33: path persons.lats: column "lats" is not declared for persons under columns:; did you mean "last"?`},
		{`      - {target: gender, value: shot.cvx}`, `9:33: path shot.cvx: table "shot" is not declared under columns:; did you mean "shots"?`},
		{`      - {target: gender, value: last}`, `9:33: "last" is not a TABLE.COLUMN path (e.g. persons.last_name)`},
		{`      - {target: gender, value: shots.cvx}`, `9:33: path shots.cvx: use it inside foreach: shots (one item per shots row), or test rows with has: shots`},
		{`      - {target: gender, value: lots.lot_number}`, `9:33: path lots.lot_number: lots rows are reached from shots rows: use it inside foreach: shots`},
		{`      - {foreach: lots, target: gender, value: persons.last}`, `9:19: foreach "lots": lots is a lookup (one row per shots row); loop over shots and read lots.COLUMN`},
		{`      - {foreach: persons, target: gender, value: persons.last}`, `9:19: foreach: persons: a record is one person; its row is read anywhere as persons.COLUMN`},
		{`      - {foreach: shots, target: gender, value: lots.lot_number}`, ``},
		{`      - {target: gender, when: {has: shots, where: {present: shots.cvx}}, const: male}`, ``},
	} {
		_, err := Parse([]byte(head+c.rule+"\n"), "p.yaml", nil, "")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.rule, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "p.yaml:"+c.want)):
			t.Errorf("%s:\n got %v\nwant p.yaml:%s", c.rule, err, c.want)
		}
	}
	for _, c := range []struct{ cols, want string }{
		{"  shots: [cvx]\n", `declare persons`},
		{"  persons: [a]\n  lots: {via: shots, columns: [x]}\n", `table lots: via: "shots" is not a declared table`},
		{"  persons: [a]\n  lots: {via: persons, columns: [x]}\n", `via: "persons" must be a child table`},
		{"  persons: [a, a]\n", `column "a" listed twice in persons`},
		{"  persons: [_key]\n", `_key is always there: do not declare it`},
	} {
		_, err := Parse([]byte("source: sql\ncolumns:\n"+c.cols+"resources:\n  - resource: Patient\n"), "p.yaml", nil, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %s", c.cols, err, c.want)
		}
	}
	// The declaration is given back with positions (mapping check --source).
	m, err := Parse([]byte(head+"      - {foreach: shots, target: gender, value: lots.lot_number}\n"), "p.yaml", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	ts := m.SQLTables()
	if len(ts) != 3 || ts[2].Name != "lots" || ts[2].Via != "shots" || ts[1].Columns[1].Name != "lot_id" || ts[1].Columns[1].Line != 4 || ts[1].Columns[1].Col != 16 {
		t.Errorf("SQLTables = %+v", ts)
	}
}

// TestPersonIdentity: a relational mapping's identity: section reads the
// person (identifiers one per child row); without one, a relational
// mapping has no identity section (not the v2 default's).
func TestPersonIdentity(t *testing.T) {
	src := strings.Replace(personMapping, "resources:\n", `identity:
  identifiers:
    - foreach: aliases
      id: aliases.alias_last
      type: '"MR"'
  family: persons.last
resources:
`, 1)
	m, err := Parse([]byte(src), "p.yaml", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	var id sources.Identity
	if err := m.Identify(Person(testPerson()), &id); err != nil {
		t.Fatal(err)
	}
	if id.Family != "DOE" || len(id.IDs) != 1 || id.IDs[0].ID != "ROE" || id.IDs[0].Type != "MR" {
		t.Errorf("identity %+v", id)
	}
	plain, _ := Parse([]byte(personMapping), "p.yaml", nil, "")
	if plain.IdentityFingerprint() != "" {
		t.Errorf("a relational mapping without identity: has the v2 default's")
	}
}

// indexedRow is a fakeRow that is read by position too (IndexedRow), its
// columns in the order of its layout.
type indexedRow struct {
	*fakeRow
	layout *fakeLayout
	reads  *int // ColumnAt calls
}

type fakeLayout struct{ names []string }

func (l *fakeLayout) ColumnIndex(n string) int {
	for i, c := range l.names {
		if c == n {
			return i
		}
	}
	return -1
}

func (r *indexedRow) Layout() ColumnLayout { return r.layout }
func (r *indexedRow) Column(n string) (string, bool) {
	panic("an indexed row is read by position")
}
func (r *indexedRow) ColumnAt(i int) (string, bool) {
	*r.reads++
	if i < 0 {
		return "", false
	}
	v, ok := r.cols[r.layout.names[i]]
	return v, ok
}

// indexedPerson wraps testPerson's rows as indexedRows, each table's
// columns in the given order (reversed or not), so that one column sits
// at different positions in the two layouts.
type indexedPerson struct {
	*fakePerson
	wrap map[*fakeRow]*indexedRow
}

func newIndexedPerson(reversed bool, reads *int) *indexedPerson {
	p := &indexedPerson{fakePerson: testPerson(), wrap: map[*fakeRow]*indexedRow{}}
	layouts := map[string]*fakeLayout{}
	add := func(r *fakeRow) {
		l := layouts[r.table]
		if l == nil {
			l = &fakeLayout{names: map[string][]string{
				"persons": {"last", "first", "sex", "pad"},
				"aliases": {"alias_last", "pad"},
				"shots":   {"cvx", "given_on", "lot_id", "pad"},
				"lots":    {"lot_number", "pad"},
			}[r.table]}
			if reversed {
				slices.Reverse(l.names)
			}
			layouts[r.table] = l
		}
		p.wrap[r] = &indexedRow{fakeRow: r, layout: l, reads: reads}
	}
	add(p.root)
	for _, rs := range p.children {
		for _, r := range rs {
			add(r)
		}
	}
	for _, rs := range p.lookups {
		for _, r := range rs {
			add(r)
		}
	}
	return p
}

func (p *indexedPerson) Root() Row { return p.wrap[p.root] }
func (p *indexedPerson) Rows(child string) []Row {
	var out []Row
	for _, r := range p.children[child] {
		out = append(out, p.wrap[r])
	}
	return out
}
func (p *indexedPerson) Lookup(name string, from Row) (Row, bool) {
	l, ok := p.fakePerson.Lookup(name, from.(*indexedRow).fakeRow)
	if !ok {
		return nil, false
	}
	return p.wrap[l.(*fakeRow)], true
}

// TestIndexedRows: rows read by position (IndexedRow) map as rows read by
// name, whatever each person's column order (a position is found per
// layout), and through an env pooled between two mappings.
func TestIndexedRows(t *testing.T) {
	m, err := Parse([]byte(personMapping), "p.yaml", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// A second mapping reading other columns: a pooled env must not use
	// the first's positions for it.
	m2, err := Parse([]byte(strings.Replace(strings.Replace(personMapping, "value: persons.last}", "value: persons.first}", 1),
		"value: lots.lot_number", "value: shots.lot_id", 1)), "p.yaml", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	text := func(o Output) string {
		var b strings.Builder
		for _, r := range o.Resources {
			j, _ := json.Marshal(r)
			b.Write(j)
			b.WriteByte('\n')
		}
		for _, tr := range o.Trace {
			fmt.Fprintf(&b, "%s %s %s %s\n", tr.Element, tr.Rule, tr.Source, tr.Value)
		}
		for _, is := range o.Issues {
			fmt.Fprintf(&b, "%s %s %s %s %v %+v\n", is.Severity, is.Code, is.Diagnostics, is.Rule, is.Expression, *is.Input)
		}
		return b.String()
	}
	want := text(m.Apply(Input{Person: testPerson(), Loc: sources.Location{Source: "iis"}}, true))
	want2 := text(m2.Apply(Input{Person: testPerson(), Loc: sources.Location{Source: "iis"}}, true))
	if !strings.Contains(want, "LOT5") || !strings.Contains(want2, `"family":"JANE"`) || strings.Contains(want2, "LOT5") {
		t.Fatalf("the plain rows' output is not what the test expects:\n%s\n%s", want, want2)
	}
	reads := 0
	ap := m.NewApplier()
	for i, reversed := range []bool{false, true, true, false} {
		p := newIndexedPerson(reversed, &reads)
		if got := text(ap.Apply(Input{Person: p, Loc: sources.Location{Source: "iis"}}, true)); got != want {
			t.Errorf("Applier, person %d (reversed %v):\n%s\nwant\n%s", i, reversed, got, want)
		}
		if got := text(m.Apply(Input{Person: p, Loc: sources.Location{Source: "iis"}}, true)); got != want {
			t.Errorf("Mapping.Apply, person %d (reversed %v):\n%s\nwant\n%s", i, reversed, got, want)
		}
		if got := text(m2.Apply(Input{Person: p, Loc: sources.Location{Source: "iis"}}, true)); got != want2 {
			t.Errorf("second mapping, person %d (reversed %v):\n%s\nwant\n%s", i, reversed, got, want2)
		}
	}
	if reads == 0 {
		t.Error("no value was read by position")
	}
}

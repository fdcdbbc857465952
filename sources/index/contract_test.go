package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// tableSource is a source whose inputs are in-memory tables, not files:
// it drives the index through the contract alone (Changes, Scan), with a
// cursor of its own making, so the tests below show the index applies
// what a source says without knowing what an input is.
type tableSource struct {
	tables map[string]*table
	// renamed: a table that now goes by another name (new → old), for
	// one Changes.
	renamed map[string]string
	// known is what the index handed the last Changes.
	known map[string][]byte
	// stopAfter cancels the update after that many records were passed
	// (0: never), as a crash mid-read would stop it.
	stopAfter int
	stop      func()
	scans     []string // "op name" of every Scan
	groupless []bool   // Change.Groupless of every Scan
}

type table struct {
	gen        int      // bumped when rows are rewritten
	rows       []string // the person key of each row
	unreadable bool
}

// tableCursor is the fake's cursor: how many rows of which generation
// are indexed; Partial marks one stored while a read was under way.
type tableCursor struct {
	Gen, Rows int
	Partial   bool
}

func (s *tableSource) Name() string { return "tables" }

func (s *tableSource) Changes(ctx context.Context, q sources.Scope) (*sources.Changes, error) {
	s.known = q.Known
	out := &sources.Changes{}
	named := map[string]bool{}
	for _, name := range q.Args {
		t, ok := s.tables[name]
		if !ok {
			out.Unlisted++
			continue
		}
		named[name] = true
		c := sources.Change{Name: name, Size: int64(len(t.rows))}
		prev, was := q.Known[name], name
		if old, ok := s.renamed[name]; ok {
			prev, was, c.From = q.Known[old], old, old
			named[old] = true
		}
		var cur tableCursor
		switch {
		case t.unreadable:
			c.Op, c.Err = sources.Unreadable, errors.New("table locked")
		case !contains(q.Known, was):
			c.Op = sources.New
		case json.Unmarshal(prev, &cur) != nil || cur.Partial || cur.Gen != t.gen || cur.Rows > len(t.rows):
			c.Op = sources.Rewritten
		case cur.Rows == len(t.rows):
			c.Op = sources.Unchanged
		default:
			c.Op = sources.Appended
		}
		c.State = cur
		c.Cursor, _ = json.Marshal(tableCursor{Gen: t.gen, Partial: true})
		out.Inputs = append(out.Inputs, c)
	}
	var gone []string
	for name := range q.Known {
		if !named[name] {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		out.Inputs = append(out.Inputs, sources.Change{Name: name, Op: sources.Dropped})
	}
	s.renamed = nil
	return out, nil
}

func contains(m map[string][]byte, k string) bool { _, ok := m[k]; return ok }

func (s *tableSource) Scan(ctx context.Context, c *sources.Change, fn func(*sources.Record) error) (sources.Scanned, error) {
	s.scans = append(s.scans, opName(c.Op)+" "+c.Name)
	s.groupless = append(s.groupless, c.Groupless)
	switch c.Op {
	case sources.Dropped, sources.Unreadable, sources.Unchanged:
		return sources.Scanned{}, nil
	}
	t := s.tables[c.Name]
	from := 0
	if c.Op == sources.Appended {
		from = c.State.(tableCursor).Rows
	}
	for i := from; i < len(t.rows); i++ {
		if s.stopAfter > 0 && i == s.stopAfter {
			s.stop()
			return sources.Scanned{}, ctx.Err()
		}
		id := fmt.Sprintf("%s-%d-%d", c.Name, t.gen, i)
		r := &sources.Record{Kind: sources.Person, Type: "row", Keys: []string{sources.PrefixMRN + t.rows[i]},
			Hash: sources.DataHash([]byte(id)), OrgKey: "ORG"}
		r.Loc = sources.Location{Source: c.Name, Offset: int64(i), Length: 1, Line: i + 1, Index: i + 1, ControlID: id}
		if err := fn(r); err != nil {
			return sources.Scanned{}, err
		}
	}
	cur, _ := json.Marshal(tableCursor{Gen: t.gen, Rows: len(t.rows)})
	return sources.Scanned{Cursor: cur, Bytes: int64(len(t.rows) - from)}, nil
}

func (s *tableSource) Rereader() (sources.Rereader, error) {
	return nil, errors.New("tables: no re-reads in this test")
}

// rowsOf lists the indexed records as "input:id" by person key.
func rowsOf(t *testing.T, x *Index) []string {
	t.Helper()
	ctx := context.Background()
	s := openSnapshot(t, x)
	var out []string
	err := s.Walk(ctx, time.Time{}, func(p Person, msgs []Message, _ []Merged) error {
		for _, m := range msgs {
			if m.From != "tables" || m.Locator().Source != m.Loc.Source {
				t.Errorf("record %s: from %q, locator %+v", m.Loc.ControlID, m.From, m.Locator())
			}
			out = append(out, m.Loc.Source+":"+m.Loc.ControlID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func cursorOf(t *testing.T, s *tableSource, name string) tableCursor {
	t.Helper()
	var c tableCursor
	if err := json.Unmarshal(s.known[name], &c); err != nil {
		t.Fatalf("cursor of %s: %q: %v", name, s.known[name], err)
	}
	return c
}

// The index keeps each input's cursor as the source left it and applies
// what Changes says: new and appended records are stored, a rewritten
// input's records are replaced, a moved one keeps its records under its
// new name without a read, a dropped one loses them, an unreadable one
// keeps them.
func TestSourceCursorContract(t *testing.T) {
	src := &tableSource{tables: map[string]*table{
		"iis.shots":  {rows: []string{"A", "B"}},
		"iis.extras": {rows: []string{"C"}},
	}}
	dir := t.TempDir()
	x, err := Open(filepath.Join(dir, "data"), Options{Source: src, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	update := func(args ...string) UpdateStats {
		t.Helper()
		src.scans = nil
		st, err := x.Update(ctx, args)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	check := func(what string, want ...string) {
		t.Helper()
		if got := rowsOf(t, x); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: records %v, want %v", what, got, want)
		}
	}

	st := update("iis.shots", "iis.extras", "iis.missing")
	if st.Files != 2 || st.New != 2 || st.Unreadable != 1 || st.Messages != 3 || st.Bytes != 3 {
		t.Fatalf("first update: %+v", st)
	}
	check("first update", "iis.extras:iis.extras-0-0", "iis.shots:iis.shots-0-0", "iis.shots:iis.shots-0-1")
	if _, ok := src.known["iis.shots"]; ok || len(src.known) != 0 {
		t.Fatalf("first Changes got cursors %q", src.known)
	}

	// Unchanged: no read; the cursor Scan returned comes back.
	st = update("iis.shots", "iis.extras")
	if st.Unchanged != 2 || st.Messages != 0 {
		t.Fatalf("unchanged: %+v", st)
	}
	if c := cursorOf(t, src, "iis.shots"); c != (tableCursor{Rows: 2}) {
		t.Fatalf("cursor handed back: %+v", c)
	}

	// Appended: only the new row is read; the others stay.
	src.tables["iis.shots"].rows = append(src.tables["iis.shots"].rows, "D")
	st = update("iis.shots", "iis.extras")
	if st.Appended != 1 || st.Messages != 1 {
		t.Fatalf("appended: %+v", st)
	}
	check("appended", "iis.extras:iis.extras-0-0", "iis.shots:iis.shots-0-0", "iis.shots:iis.shots-0-1", "iis.shots:iis.shots-0-2")

	// Moved: the records follow the new name, nothing is read.
	src.tables["iis.shots_2024"] = src.tables["iis.shots"]
	delete(src.tables, "iis.shots")
	src.renamed = map[string]string{"iis.shots_2024": "iis.shots"}
	st = update("iis.shots_2024", "iis.extras")
	if st.Moved != 1 || st.Unchanged != 1 || st.Messages != 0 || st.Dropped != 0 {
		t.Fatalf("moved: %+v", st)
	}
	check("moved", "iis.extras:iis.extras-0-0", "iis.shots_2024:iis.shots-0-0", "iis.shots_2024:iis.shots-0-1", "iis.shots_2024:iis.shots-0-2")
	if st = update("iis.shots_2024", "iis.extras"); st.Unchanged != 2 {
		t.Fatalf("after the move: %+v", st)
	}
	if c := cursorOf(t, src, "iis.shots_2024"); c.Rows != 3 {
		t.Fatalf("the moved input's cursor: %+v", c)
	}

	// Rewritten: the old records go, all are read again.
	src.tables["iis.extras"] = &table{gen: 1, rows: []string{"E", "F"}}
	st = update("iis.shots_2024", "iis.extras")
	if st.Rewritten != 1 || st.Messages != 2 {
		t.Fatalf("rewritten: %+v", st)
	}
	check("rewritten", "iis.extras:iis.extras-1-0", "iis.extras:iis.extras-1-1",
		"iis.shots_2024:iis.shots-0-0", "iis.shots_2024:iis.shots-0-1", "iis.shots_2024:iis.shots-0-2")

	// Unreadable: kept as indexed. Then dropped: gone with its records.
	src.tables["iis.extras"].unreadable = true
	if st = update("iis.shots_2024", "iis.extras"); st.Unreadable != 1 || st.Dropped != 0 {
		t.Fatalf("unreadable: %+v", st)
	}
	check("unreadable", "iis.extras:iis.extras-1-0", "iis.extras:iis.extras-1-1",
		"iis.shots_2024:iis.shots-0-0", "iis.shots_2024:iis.shots-0-1", "iis.shots_2024:iis.shots-0-2")
	st = update("iis.shots_2024")
	if st.Dropped != 1 || st.Files != 1 {
		t.Fatalf("dropped: %+v", st)
	}
	if strings.Join(src.scans, ",") != "dropped iis.extras,unchanged iis.shots_2024" {
		t.Fatalf("scans: %q; the source hears of every change, drops first", src.scans)
	}
	check("dropped", "iis.shots_2024:iis.shots-0-0", "iis.shots_2024:iis.shots-0-1", "iis.shots_2024:iis.shots-0-2")
	s, _ := x.Snapshot(ctx)
	cn, _ := s.Counts(ctx)
	s.Close()
	if cn.Files != 1 || cn.Person != 3 || cn.Persons != 3 {
		t.Fatalf("counts: %+v", cn)
	}
}

// An update stopped in the middle of an input leaves the partial cursor
// Change gave with the records committed so far, whole transactions (of
// fewer records than one INSERT writes, or of several INSERTs and a part
// of one): the source then reads the input again whole, and no record is
// indexed twice.
func TestSourcePartialCursor(t *testing.T) {
	for _, batchSize := range []int{2, 3*msgBatch + 4} {
		t.Run(fmt.Sprint(batchSize), func(t *testing.T) { testSourcePartialCursor(t, batchSize) })
	}
}

func testSourcePartialCursor(t *testing.T, batchSize int) {
	const n = 600
	rows := make([]string, n)
	for i := range rows {
		rows[i] = fmt.Sprintf("P%03d", i)
	}
	src := &tableSource{tables: map[string]*table{"iis.shots": {rows: rows}}}
	x, err := Open(filepath.Join(t.TempDir(), "data"), Options{Source: src, BatchSize: batchSize})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx, cancel := context.WithCancel(context.Background())
	src.stopAfter = 300
	src.stop = func() {
		// Stopped once a batch is committed (the records reach the index
		// in chunks, ahead of its writes).
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			var k int
			if x.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&k) == nil && k > 0 {
				break
			}
		}
		cancel()
	}
	// The error is the cancelled context's or the rolled back
	// transaction's, whichever the update met first.
	if _, err := x.Update(ctx, []string{"iis.shots"}); err == nil {
		t.Fatal("stopped update: no error")
	}
	var k int
	if err := x.db.QueryRow(`SELECT count(*) FROM messages`).Scan(&k); err != nil || k == 0 || k >= n || k%batchSize != 0 {
		t.Fatalf("whole batches should be committed before the stop: %d records %v", k, err)
	}
	src.stopAfter = 0
	st, err := x.Update(context.Background(), []string{"iis.shots"})
	if err != nil || st.Rewritten != 1 || st.Messages != n {
		t.Fatalf("after the stop: %+v %v", st, err)
	}
	if c := cursorOf(t, src, "iis.shots"); !c.Partial {
		t.Fatalf("the cursor left by the stopped read: %+v", c)
	}
	if got := rowsOf(t, x); len(got) != n {
		t.Fatalf("records after the re-read: %d, want %d", len(got), n)
	}
}

// A source whose changes do not fit the index (appending to an input it
// never indexed, a rewrite said to be a move) is refused before anything
// is applied.
func TestSourceChangesChecked(t *testing.T) {
	for _, c := range []struct {
		change sources.Change
		want   string
	}{
		{sources.Change{Name: "t", Op: sources.Appended}, "never indexed"},
		{sources.Change{Name: "t", From: "s", Op: sources.Rewritten}, "moved but rewritten"},
	} {
		src := &badSource{change: c.change}
		x, err := Open(filepath.Join(t.TempDir(), "data"), Options{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Update(context.Background(), []string{"t"}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.change, err, c.want)
		}
		if len(src.scans) != 0 {
			t.Errorf("%+v: scanned %v", c.change, src.scans)
		}
		x.Close()
	}
}

type badSource struct {
	tableSource
	change sources.Change
}

func (s *badSource) Changes(context.Context, sources.Scope) (*sources.Changes, error) {
	return &sources.Changes{Inputs: []sources.Change{s.change}}, nil
}

// An index without Groups (scratch, no ledger) tells its source so
// (Change.Groupless), which may then leave out what only Groups read;
// any other index asks for everything.
func TestScanToldGroupless(t *testing.T) {
	for _, o := range []Options{{}, {Scratch: true}, {NoLedger: true}, {Scratch: true, NoLedger: true}} {
		src := &tableSource{tables: map[string]*table{"iis.shots": {rows: []string{"A", "B"}}}}
		o.Source = src
		x, err := Open(filepath.Join(t.TempDir(), "data"), o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Update(context.Background(), []string{"iis.shots"}); err != nil {
			t.Fatal(err)
		}
		x.Close()
		want := o.Scratch && o.NoLedger
		if len(src.groupless) != 1 || src.groupless[0] != want {
			t.Errorf("Scratch %v, NoLedger %v: scans told groupless %v, want [%v]", o.Scratch, o.NoLedger, src.groupless, want)
		}
	}
}

package index

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lookupCount is how many of the lookup indexes x has now.
func lookupCount(t *testing.T, x *Index) int {
	t.Helper()
	n := 0
	for _, name := range lookupIndexNames {
		var have bool
		if err := x.db.QueryRow(`SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?)`, name).Scan(&have); err != nil {
			t.Fatal(err)
		}
		if have {
			n++
		}
	}
	return n
}

// A first load runs without the lookup indexes and ends with all of
// them; later loads keep them; one a stopped load left out is built by
// the next Update; and the persons are those of a load kept up row by row.
func TestFirstLoadBuildsLookupsAfter(t *testing.T) {
	if len(lookupIndexNames) != 5 {
		t.Fatalf("lookup indexes %v: lookupIndexes and its names disagree", lookupIndexNames)
	}
	dir := t.TempDir()
	msgs := append(linkedRecords(),
		vxu("5", "CLINICA", "20240106120000", "A2^^^CLINICA^MR~S200^^^MYIIS^SR", "DOE^JANE", "20231201", "F", rxa("20240106", "20", "00")))
	ctx := context.Background()
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}

	// All at once: one bulk load.
	bulkArch := filepath.Join(dir, "bulk.hl7")
	write(t, bulkArch, msgs...)
	seen := -1
	var x *Index
	x, err := open(filepath.Join(dir, "bulkdata"), Options{Now: c.now, BatchSize: 2, Progress: func(done, total int64) {
		if seen < 0 {
			seen = lookupCount(t, x)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Update(ctx, []string{bulkArch}); err != nil {
		t.Fatal(err)
	}
	if seen != 0 {
		t.Errorf("first load ran with %d lookup indexes, want none", seen)
	}
	if n := lookupCount(t, x); n != 5 {
		t.Fatalf("after the first load: %d lookup indexes, want 5", n)
	}
	bulk := persons(t, x)

	// The same messages one first, the rest appended: kept up row by row.
	rowArch := filepath.Join(dir, "rows.hl7")
	write(t, rowArch, msgs[0])
	y := openTest(t, filepath.Join(dir, "rowdata"), c)
	if _, err := y.Update(ctx, []string{rowArch}); err != nil {
		t.Fatal(err)
	}
	appendTo(t, rowArch, msgs[1:]...)
	seen = -1
	y.opts.Progress = func(done, total int64) {
		if seen < 0 {
			seen = lookupCount(t, y)
		}
	}
	if _, err := y.Update(ctx, []string{rowArch}); err != nil {
		t.Fatal(err)
	}
	if seen != 5 {
		t.Errorf("a load into a non-empty index ran with %d lookup indexes, want all 5", seen)
	}
	if rows := persons(t, y); !maps.Equal(bulk, rows) {
		t.Errorf("persons loaded at once %v, row by row %v", bulk, rows)
	}

	// A load stopped before the build leaves an index out: the next
	// Update builds it.
	if _, err := y.db.Exec(`DROP INDEX keys_parent`); err != nil {
		t.Fatal(err)
	}
	appendTo(t, rowArch, vxu("6", "CLINICA", "20240107120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M"))
	if _, err := y.Update(ctx, []string{rowArch}); err != nil {
		t.Fatal(err)
	}
	if n := lookupCount(t, y); n != 5 {
		t.Errorf("after an Update following a stopped load: %d lookup indexes, want 5", n)
	}
}

// An index whose records were all dropped still knows its former
// Patients (gone): a load into it keeps the lookup indexes, which Walk's
// query for them names.
func TestLoadAfterAllDroppedKeepsLookups(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.hl7"), filepath.Join(dir, "b.hl7")
	write(t, a, vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", rxa("20240101", "08", "00")))
	write(t, b, vxu("2", "CLINICB", "20240102120000", "B7^^^CLINICB^MR", "ROE^ANN", "20200202", "F", rxa("20240102", "03", "00")))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if st, err := x.Update(ctx, []string{a}); err != nil || st.Dropped != 1 {
		t.Fatalf("dropping %s: %+v, %v", a, st, err)
	}
	seen := -1
	x.opts.Progress = func(done, total int64) {
		if seen < 0 {
			seen = lookupCount(t, x)
		}
	}
	if _, err := x.Update(ctx, []string{b}); err != nil {
		t.Fatal(err)
	}
	if seen != len(lookupIndexNames) {
		t.Errorf("load after all records were dropped ran with %d lookup indexes, want all %d", seen, len(lookupIndexNames))
	}
}

// A groupless index (scratch, without a ledger) builds no lookup index
// on its first load; its persons and their messages are a kept index's
// (answered by scans). TestWalk covers its walk and a later Update.
func TestScratchFirstLoadBuildsNoLookups(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, linkedRecords()...)
	ctx := context.Background()
	var got [2]string
	for i, x := range loadKeptAndGroupless(t, dir, arch) {
		want := len(lookupIndexNames)
		if x.groupless() {
			want = 0
		}
		if n := lookupCount(t, x); n != want {
			t.Errorf("groupless %v: %d lookup indexes after the first load, want %d", x.groupless(), n, want)
		}
		s := openSnapshot(t, x)
		ps, err := s.Persons(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			msgs, err := s.Messages(ctx, p, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				m.IndexedAt = time.Time{} // the two indexes were made at different times
				got[i] += fmt.Sprintf("%s %+v\n", p.ID, m)
			}
		}
	}
	if got[0] == "" || got[0] != got[1] {
		t.Errorf("persons of the scratch index\n%s\nof the kept one\n%s", got[1], got[0])
	}
}

// Problems reads messages_problems, not every message, in a kept index
// and in a groupless one (which builds no lookups), and lists the broken
// records a load kept it up with.
func TestProblemsReadTheirIndex(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, append([]string{"this is not a message\n"}, linkedRecords()...)...)
	ctx := context.Background()
	for _, x := range loadKeptAndGroupless(t, dir, arch) {
		rows, err := x.db.Query(`EXPLAIN QUERY PLAN `+problemsQuery, noLower, noUpper)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if p := strings.Join(plan, "; "); !strings.Contains(p, "USING INDEX messages_problems") {
			t.Errorf("groupless %v: Problems' plan %q does not read messages_problems", x.groupless(), p)
		}
		n := 0
		if err := openSnapshot(t, x).Problems(ctx, time.Time{}, time.Time{}, func(Problem) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("groupless %v: %d problems, want the one broken record", x.groupless(), n)
		}
	}
}

// loadKeptAndGroupless indexes arch into a kept index and into a
// groupless one (scratch, without a ledger), under dir, in that order.
func loadKeptAndGroupless(t *testing.T, dir, arch string) [2]*Index {
	t.Helper()
	var xs [2]*Index
	for i, o := range []Options{{}, {Scratch: true, NoLedger: true}} {
		x, err := open(filepath.Join(dir, "data"+string(rune('0'+i))), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { x.Close() })
		if _, err := x.Update(context.Background(), []string{arch}); err != nil {
			t.Fatal(err)
		}
		xs[i] = x
	}
	return xs
}

package roster

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/match"
)

// plain hides a store's type: Match takes the Candidates interface path.
type plain struct{ match.Candidates }

// TestSQLStoreAgrees: the on-disk store gives the matcher the same
// candidates as the in-memory one, so every row's outcome and ranking agree.
func TestSQLStoreAgrees(t *testing.T) {
	m, err := match.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ps, mem := population(t, m, 11, 5000)
	path := filepath.Join(t.TempDir(), "c.db")
	sq, err := match.OpenSQLStore(path, m)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	ctx := context.Background()
	if err := sq.Add(ctx, ps); err != nil {
		t.Fatal(err)
	}
	odd := match.Record{ID: "odd", Given: "Ana\x1fX", Family: "Núñez", Identifiers: []match.Identifier{{System: "urn:a", Value: "1"}, {System: "urn:b", Value: "2"}}}
	if err := sq.Add(ctx, []match.Record{odd}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []match.Record{ps[0], ps[1], odd} {
		got, ok, err := sq.Person(ctx, want.ID)
		if want.ID == "odd" {
			want.Given = "AnaX" // separators never stored
		}
		if err != nil || !ok || got.Given != want.Given || got.Family != want.Family || got.BirthDate != want.BirthDate ||
			got.Phone != want.Phone || !slices.Equal(got.Identifiers, want.Identifiers) {
			t.Errorf("Person(%s) = %+v, %v, %v; want %+v", want.ID, got, ok, err, want)
		}
	}
	rows, _ := Generate(ps, Config{Seed: 11, Rows: 500})
	for _, r := range rows {
		a, err1 := m.Match(ctx, mem, r.Record)
		b, err2 := m.Match(ctx, sq, r.Record)
		c, err3 := m.Match(ctx, plain{mem}, r.Record) // Lookup and Person, no shortcut
		if err3 != nil || c.Outcome != a.Outcome || c.Compared != a.Compared || len(c.Candidates) != len(a.Candidates) {
			t.Fatalf("row %s: through Lookup/Person %s (%d compared), MemStore's own path %s (%d)", r.ID, c.Outcome, c.Compared, a.Outcome, a.Compared)
		}
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if a.Outcome != b.Outcome || a.Compared != b.Compared || len(a.Candidates) != len(b.Candidates) {
			t.Fatalf("row %s: memory %s (%d compared, %d candidates), SQLite %s (%d, %d)", r.ID, a.Outcome, a.Compared, len(a.Candidates), b.Outcome, b.Compared, len(b.Candidates))
		}
		for i := range a.Candidates {
			if a.Candidates[i].ID != b.Candidates[i].ID || a.Candidates[i].Score != b.Candidates[i].Score {
				t.Fatalf("row %s: candidate %d differs: %+v vs %+v", r.ID, i, a.Candidates[i], b.Candidates[i])
			}
		}
	}
	// Lookup (the plain Candidates path) agrees too, over-full blocks included.
	for _, k := range m.BlockingKeys(ps[0]) {
		for _, limit := range []int{1, 2000} {
			a, am, _ := mem.Lookup(ctx, k, limit)
			b, bm, err := sq.Lookup(ctx, k, limit)
			slices.Sort(a)
			slices.Sort(b)
			if err != nil || am != bm || !slices.Equal(a, b) {
				t.Errorf("Lookup(limit %d): memory %v %v, SQLite %v %v (%v)", limit, a, am, b, bm, err)
			}
		}
	}
	if err := sq.Add(ctx, ps[:1]); err == nil {
		t.Error("adding a person twice: no error")
	}
	sq.Close()
	other, _ := match.Parse("m.yaml", []byte("blocking: {keys: [birth_date]}\n"))
	m2, _ := match.New(other)
	if _, err := match.OpenSQLStore(path, m2); err == nil || !strings.Contains(err.Error(), "build it again") {
		t.Errorf("store opened with other blocking keys: %v", err)
	}
}

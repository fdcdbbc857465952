package roster

import (
	"context"
	"os"
	"testing"

	"github.com/iisbridge/iisbridge/match"
)

// population builds n persons of seed into a fresh MemStore.
func population(t testing.TB, m *match.Matcher, seed int64, n int) ([]match.Record, *match.MemStore) {
	st := match.NewMemStore(m)
	ps := make([]match.Record, n)
	for i := range n {
		ps[i] = Person(seed, i)
		if err := st.Add(ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ps, st
}

// TestPrecisionRecall measures the default matcher on a generated roster
// against its truth: the bar is precision ≥ 0.99 and recall ≥
// 0.95 for certain matches.
func TestPrecisionRecall(t *testing.T) {
	m, err := match.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	n, rows := 50000, 5000
	if testing.Short() {
		n, rows = 10000, 1000
	}
	ps, st := population(t, m, 7, n)
	roster, err := Generate(ps, Config{Seed: 7, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	var ev Evaluator
	i := 0
	err = m.All(context.Background(), st, func() (match.Record, bool, error) {
		if i == len(roster) {
			return match.Record{}, false, nil
		}
		i++
		return roster[i-1].Record, true, nil
	}, 0, func(in match.Record, res match.Result) error {
		if res.Input != in.ID {
			t.Errorf("result for %q emitted for input %q", res.Input, in.ID)
		}
		ev.Add(roster[indexOf(in.ID)], res)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := ev.Report()
	rep.Print(os.Stderr)
	if rep.Total.Rows != rows {
		t.Errorf("%d rows reported, want %d", rep.Total.Rows, rows)
	}
	if rep.Precision < 0.99 {
		t.Errorf("precision %.4f < 0.99", rep.Precision)
	}
	if rep.Recall < 0.95 {
		t.Errorf("recall %.4f < 0.95", rep.Recall)
	}
	for _, k := range []string{NonMember, Lookalike} {
		if tl := rep.ByKind[k]; tl != nil && tl.Wrong > 0 {
			t.Errorf("%s rows: %d matched to someone", k, tl.Wrong)
		}
	}
}

func indexOf(id string) int {
	var n int
	for _, c := range id[1:] {
		n = n*10 + int(c-'0')
	}
	return n - 1
}

package pipeline

import (
	"fmt"
	"reflect"
	"testing"
)

// history is a person's dose records as VXUs that resend the history
// report them: message i carries doses 0..i, each dose by its own order.
func history(t testing.TB, msgs int) []*doseRec {
	var recs []*doseRec
	for i := range msgs {
		for d := 0; d <= i; d++ {
			recs = append(recs, rec(t, int64(i+1), "A", fmt.Sprintf("A-%d", d), fmt.Sprintf("%02d", 10+d),
				fmt.Sprintf("2024-01-%02d", d+1), "completed", d == i, false))
		}
	}
	return recs
}

// doseSummary is what a reduction decided, for comparing two runs.
func doseSummary(doses []*dose, unseen []unseenDelete) []string {
	var out []string
	for _, d := range doses {
		out = append(out, fmt.Sprintf("%s win=%p deleted=%v@%v updated=%v records=%d", d.key, d.win, d.deleted, d.deletedAt.Unix(), d.lastUpdated.Unix(), len(d.records)))
	}
	for _, u := range unseen {
		out = append(out, fmt.Sprintf("unseen %p", u.rec))
	}
	return out
}

// TestDoseScratchReuse: a worker's scratch, reused person after person
// (a large one, then smaller ones), reduces each as a fresh one does.
func TestDoseScratchReuse(t *testing.T) {
	people := [][]*doseRec{
		history(t, 8),
		{
			rec(t, 1, "A", "A-1", "08", "2024-01-01", "completed", true, false),
			rec(t, 2, "B", "B-2", "20", "2024-03-01", "completed", true, false),
			rec(t, 3, "B", "B-2", "20", "2024-03-01", "entered-in-error", true, false),
			rec(t, 4, "C", "C-404", "21", "2024-01-15", "entered-in-error", true, false),
		},
		history(t, 3),
		{rec(t, 1, "C", "", "03", "2024-02-01", "completed", true, false)},
	}
	var s doseScratch
	for round := range 2 {
		for i, recs := range people {
			want := doseSummary(reduceDoses(recs))
			got := doseSummary(s.reduce(recs))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, person %d: reused scratch gave\n%v\nfresh\n%v", round, i, got, want)
			}
		}
	}
}

// BenchmarkReduceDoses reduces a person of 6 VXUs resending their
// history (21 records, 6 doses), with a fresh scratch per person (as
// before workers kept one) and with one reused.
//
//	go test ./pipeline -run '^$' -bench ReduceDoses -benchmem
func BenchmarkReduceDoses(b *testing.B) {
	recs := history(b, 6)
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reduceDoses(recs)
		}
	})
	b.Run("reused", func(b *testing.B) {
		b.ReportAllocs()
		var s doseScratch
		for b.Loop() {
			s.reduce(recs)
		}
	})
}

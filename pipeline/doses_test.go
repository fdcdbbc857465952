package pipeline

import (
	"fmt"
	"math/rand/v2"
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

// mixedPerson is a person of n dose records drawn from seed: few
// senders, fill ids reused within a message, codes that print alike
// ("x|2" + day, "x" + "2|" day), deletes, RSP and historical copies.
func mixedPerson(t testing.TB, seed uint64, n int) []*doseRec {
	rnd := rand.New(rand.NewPCG(seed, 1))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	var recs []*doseRec
	for i := range n {
		status := "completed"
		if rnd.IntN(5) == 0 {
			status = "entered-in-error"
		}
		seq := int64(1 + rnd.IntN(n/3+1))
		r := rec(t, seq, pick("A", "B", "C"), pick("", "F1", "F2", "F3", "F4"), pick("08", "8", "20", "x|2", "x"),
			pick("2024-01-01", "2|2024-01-01", "2024-03-01"), status, rnd.IntN(2) == 0, rnd.IntN(10) == 0)
		r.ord = int(seq)*perMessage + i
		recs = append(recs, r)
	}
	return recs
}

// indexSummary is doseSummary naming records by their place in recs, so
// that two sets of equal records compare.
func indexSummary(recs []*doseRec, doses []*dose, unseen []unseenDelete) []string {
	at := map[*doseRec]int{}
	for i, r := range recs {
		at[r] = i
	}
	var out []string
	for _, d := range doses {
		var rs []int
		for _, r := range d.records {
			rs = append(rs, at[r])
		}
		out = append(out, fmt.Sprintf("%s win=%d deleted=%v@%v updated=%v records=%v id=%d",
			d.key, at[d.win], d.deleted, d.deletedAt.Unix(), d.lastUpdated.Unix(), rs, at[d.idRecord()]))
	}
	for _, u := range unseen {
		out = append(out, fmt.Sprintf("unseen %d", at[u.rec]))
	}
	for _, r := range recs {
		out = append(out, fmt.Sprintf("fill %v", r.fill))
	}
	return out
}

// TestReduceLinearAsMaps: a person reduced by scanning (up to linearMax
// records) is reduced as by the maps (above it), on either side of the
// threshold, with a scratch reused across both.
func TestReduceLinearAsMaps(t *testing.T) {
	var lin, maps doseScratch
	for _, n := range []int{1, 3, 8, linearMax - 1, linearMax, linearMax + 1, 2 * linearMax} {
		for seed := range uint64(40) {
			a, b := mixedPerson(t, seed, n), mixedPerson(t, seed, n)
			da, ua := lin.reduceBy(a, true)
			got := indexSummary(a, da, ua)
			db, ub := maps.reduceBy(b, false)
			want := indexSummary(b, db, ub)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%d records, seed %d: scanning gave\n%v\nthe maps\n%v", n, seed, got, want)
			}
			c := mixedPerson(t, seed, n)
			dc, uc := reduceDoses(c)
			if got := indexSummary(c, dc, uc); !reflect.DeepEqual(got, want) {
				t.Fatalf("%d records, seed %d: reduceDoses gave\n%v\nthe maps\n%v", n, seed, got, want)
			}
		}
	}
}

package pipeline

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
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

// mixedPerson is a person of n dose records drawn from seed over days
// days: few senders, fill ids reused within a message, codes that print
// alike ("x|2" + day, "x" + "2|" day), deletes, RSP and historical
// copies; sorted puts each message's records together.
func mixedPerson(t testing.TB, seed uint64, n, days int, sorted bool) []*doseRec {
	rnd := rand.New(rand.NewPCG(seed, 1))
	pick := func(s ...string) string { return s[rnd.IntN(len(s))] }
	var recs []*doseRec
	for i := range n {
		status := "completed"
		if rnd.IntN(5) == 0 {
			status = "entered-in-error"
		}
		seq := int64(1 + rnd.IntN(n/3+1))
		day := fmt.Sprintf("2024-01-%02d", 1+rnd.IntN(days))
		if rnd.IntN(4) == 0 {
			day = "2|2024-01-01"
		}
		r := rec(t, seq, pick("A", "B", "C"), pick("", "F1", "F2", "F3", "F4"), pick("08", "8", "20", "x|2", "x"),
			day, status, rnd.IntN(2) == 0, rnd.IntN(10) == 0)
		r.ord = int(seq)*perMessage + i
		recs = append(recs, r)
	}
	if sorted {
		slices.SortStableFunc(recs, func(a, b *doseRec) int { return cmp.Compare(a.msg.seq, b.msg.seq) })
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

// TestReduceScanAsMaps: a person whose chains and groups are found by
// scanning (up to scanMax of them, then in the maps) is reduced as by the
// maps alone, on either side of the threshold, with scratches reused.
func TestReduceScanAsMaps(t *testing.T) {
	var scan, maps doseScratch
	chains, groups := map[int]bool{}, map[int]bool{}
	for _, n := range []int{1, 3, 8, 20, 30, 40, 60, 100} {
		for _, days := range []int{1, 3, 8, 12} {
			for seed := range uint64(30) {
				for _, sorted := range []bool{false, true} {
					a, b := mixedPerson(t, seed, n, days, sorted), mixedPerson(t, seed, n, days, sorted)
					da, ua := scan.reduceBy(a, true)
					got := indexSummary(a, da, ua)
					chains[len(scan.order)], groups[len(scan.gorder)] = true, true
					db, ub := maps.reduceBy(b, false)
					want := indexSummary(b, db, ub)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%d records over %d days, seed %d, sorted %v: scanning gave\n%v\nthe maps\n%v", n, days, seed, sorted, got, want)
					}
				}
			}
		}
	}
	for _, n := range []int{scanMax - 1, scanMax, scanMax + 1} {
		if !chains[n] || !groups[n] {
			t.Errorf("no person of %d chains (%v) or groups (%v)", n, chains[n], groups[n])
		}
	}
}

// TestDoseIDsScanAsMap: doses taking their ids from a rule that gives
// some of them one id, or none, get the same ids whether the ids taken
// are scanned (up to scanMax doses) or kept in a map (past it).
func TestDoseIDsScanAsMap(t *testing.T) {
	dr := doseReducer{ruleIDs: true}
	for _, n := range []int{1, scanMax - 1, scanMax, scanMax + 1, 2 * scanMax} {
		var doses []*dose
		mappedID := map[*doseRec]string{}
		for i := range n {
			r := rec(t, int64(i+1), "A", "", fmt.Sprintf("%02d", 10+i), "2024-01-01", "completed", true, false)
			mappedID[r] = []string{"a", "b", "", fmt.Sprintf("u%d", i), "nok"}[i%5]
			doses = append(doses, &dose{key: r.content(), win: r, records: []*doseRec{r}})
		}
		mapped := func(r *doseRec) (string, bool) { return mappedID[r], mappedID[r] != "nok" }
		got := dr.ids(doses, "P", mapped)
		// The rule, with every id taken remembered.
		taken := map[string]bool{}
		for i, d := range doses {
			id, ok := mapped(d.win)
			want := ""
			if ok {
				want = id
				if id == "" || taken[id] {
					want = fallbackDoseID("P", d.key)
				}
				taken[want] = true
			}
			if got[i] != want {
				t.Fatalf("%d doses: dose %d got id %q, want %q", n, i, got[i], want)
			}
		}
	}
}

// TestContentTail: a record's keyTail is the tail of its content as
// printed, so records whose vaccine and day print alike share it, short
// days included.
func TestContentTail(t *testing.T) {
	for _, cvx := range []string{"", "8", "08", "x|2", "x", "http://x#123456789"} {
		for _, date := range []string{"", "2", "2|d", "d", "2|2024", "2024-01-01", "2|2024-01-01", "2024-01-01T10:00:00"} {
			d := &doseRec{cvx: cvx, date: date}
			if got, want := d.contentTail(), tailWord(d.content()); got != want {
				t.Errorf("cvx %q, date %q: contentTail %x, want %x", cvx, date, got, want)
			}
		}
	}
	a, b := &doseRec{cvx: "x|2", date: "d"}, &doseRec{cvx: "x", date: "2|d"}
	if a.content() != b.content() || a.contentTail() != b.contentTail() {
		t.Errorf("%q and %q print alike but their tails differ", a.content(), b.content())
	}
	if tailWord("2024-01-01") == tailWord("2024-01-02") || tailWord("F1") == tailWord("F2") {
		t.Error("tails of strings differing at their end are equal")
	}
}

package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"iisbridge/mapping"
	"iisbridge/sources/synth"
)

// exportBoth exports with the ORDER memo and with every group mapped,
// and fails unless both send the same resources and deletions. It returns
// the two sinks and OrdersMapped of each.
func exportBoth(t *testing.T, p *Pipeline, q Query) (memo, full *memSink, mMemo, mFull int64) {
	t.Helper()
	ctx := context.Background()
	memo, full = &memSink{}, &memSink{}
	p.fullMap = false
	if err := p.Export(ctx, q, memo); err != nil {
		t.Fatal(err)
	}
	mMemo = p.Stats().OrdersMapped
	p.fullMap = true
	defer func() { p.fullMap = false }()
	if err := p.Export(ctx, q, full); err != nil {
		t.Fatal(err)
	}
	mFull = p.Stats().OrdersMapped
	js := func(s *memSink) []string {
		var out []string
		for _, r := range s.res {
			out = append(out, string(r.AppendJSON(nil)))
		}
		slices.Sort(out)
		return out
	}
	a, b := js(memo), js(full)
	if len(a) != len(b) {
		t.Fatalf("memo export sent %d resources, full mapping %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("memo and full mapping differ:\nmemo: %s\nfull: %s", a[i], b[i])
		}
	}
	if !slices.Equal(memo.deleted, full.deleted) {
		t.Fatalf("deletions differ: memo %v, full %v", memo.deleted, full.deleted)
	}
	if len(memo.issues) > len(full.issues) {
		t.Fatalf("memo export raised %d outcomes, full mapping only %d", len(memo.issues), len(full.issues))
	}
	return memo, full, mMemo, mFull
}

func TestMemoMatchesFullSynth(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 7, Messages: 3000, Framings: []string{"msh"}})
	exportBoth(t, p, Query{Provenance: true})
	exportBoth(t, p, Query{Since: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)})
}

// A clinic resending the whole history as 01 rows with the same ORC-3
// maps each dose once; an update (U) and a delete (D) of a resent dose, a
// 998 forecast row and a row whose CVX the table rejects reduce exactly
// as when every row is mapped.
func TestMemoResentHistory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.hl7")
	const pid3, name, dob = "MR77^^^CLINIC^MR", "ROE^ANN", "20200101"
	hep := order{"C-1", "20200102", "08", "00", "L1", "A"}
	dtap := order{"C-2", "20200301", "20", "00", "L2", "A"}
	bad := order{"C-3", "20200301", "9876", "01", "", "A"}
	fc := order{"9999", "20200501", "998", "", "", "A"}
	hist := func(o order) order { o.src = "01"; return o }
	msgs := []string{
		vxu("M1", "CLINIC", "20200102120000", pid3, name, dob, "F", "1 MAIN ST^^TOWN^MA^01000", hep, fc),
		vxu("M2", "CLINIC", "20200301120000", pid3, name, dob, "F", "1 MAIN ST^^TOWN^MA^01000", hist(hep), dtap, bad, fc),
		vxu("M3", "CLINIC", "20200401120000", pid3, name, dob, "F", "2 ELM ST^^TOWN^MA^01000", hist(hep), hist(dtap), bad, fc),
		vxu("M4", "CLINIC", "20200402120000", pid3, name, dob, "F", "2 ELM ST^^TOWN^MA^01000", hist(hep), bad,
			order{"C-2", "20200302", "20", "00", "L2", "U"}),
		vxu("M5", "CLINIC", "20200403120000", pid3, name, dob, "F", "2 ELM ST^^TOWN^MA^01000", hist(hep), bad,
			order{"C-1", "20200102", "08", "00", "L1", "D"}),
		vxu("M6", "CLINIC", "20200404120000", pid3, name, dob, "F", "2 ELM ST^^TOWN^MA^01000", bad, fc),
	}
	write(t, path, false, msgs...)
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := Open(Options{DataDir: filepath.Join(dir, "data"), Paths: []string{path}, Mapping: mapping.Default(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	memo, _, mMemo, mFull := exportBoth(t, p, Query{Provenance: true})
	if got := cvxDates(memo.of("Immunization")); !slices.Equal(got, []string{"20@2020-03-02/completed/L2"}) {
		t.Fatalf("doses %v, want the updated DTaP only (Hep B deleted, 9876 rejected)", got)
	}
	if len(memo.of("Patient")) != 1 {
		t.Fatalf("%d Patients", len(memo.of("Patient")))
	}
	// Distinct dose groups: hep 00, hep 01, dtap 00, bad, dtap 01, dtap U,
	// hep D (7; the U winner was kept, nothing is mapped again); in full,
	// every group of every message (18).
	if mMemo != 7 || mFull != 18 {
		t.Fatalf("memo mapped %d ORDER groups, full mapping %d: resent rows were mapped again", mMemo, mFull)
	}
	exportBoth(t, p, Query{Since: time.Date(2026, 1, 1, 0, 3, 30, 0, time.UTC)})
}

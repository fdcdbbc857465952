package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"iisbridge/mapping"
	"iisbridge/sources/synth"
)

// exportModes exports with dose keys predicted from v2 values (the
// default), with the ORDER memo only, and with every group mapped, and
// fails unless all send the same resources and deletions. It returns the
// default's sink and OrdersMapped of each mode.
func exportModes(t *testing.T, p *Pipeline, q Query) (pred *memSink, mapped [3]int64) {
	t.Helper()
	ctx := context.Background()
	js := func(s *memSink) []string {
		var out []string
		for _, r := range s.res {
			out = append(out, string(r.AppendJSON(nil)))
		}
		slices.Sort(out)
		return out
	}
	defer func() { p.fullMap = false; p.noPredict.Store(false) }()
	var sinks [3]*memSink
	for i, mode := range []string{"predict", "memo", "full"} {
		p.noPredict.Store(i > 0)
		p.fullMap = i > 1
		sinks[i] = &memSink{}
		if err := p.Export(ctx, q, sinks[i]); err != nil {
			t.Fatal(err)
		}
		mapped[i] = p.Stats().OrdersMapped
		if i == 0 && p.noPredict.Load() {
			t.Fatal("a prediction was wrong (the export fell back to mapping)")
		}
		if i == 0 {
			continue
		}
		a, b := js(sinks[i]), js(sinks[0])
		if len(a) != len(b) {
			t.Fatalf("%s export sent %d resources, predict %d", mode, len(a), len(b))
		}
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("%s and predict differ:\n%s: %s\npredict: %s", mode, mode, a[j], b[j])
			}
		}
		if !slices.Equal(sinks[i].deleted, sinks[0].deleted) {
			t.Fatalf("deletions differ: %s %v, predict %v", mode, sinks[i].deleted, sinks[0].deleted)
		}
		if len(sinks[0].issues) > len(sinks[i].issues) {
			t.Fatalf("predict raised %d outcomes, %s only %d", len(sinks[0].issues), mode, len(sinks[i].issues))
		}
	}
	return sinks[0], mapped
}

func TestMemoMatchesFullSynth(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 7, Messages: 3000, Framings: []string{"msh"}})
	_, n := exportModes(t, p, Query{Provenance: true})
	if n[0] >= n[1] || n[1] > n[2] {
		t.Fatalf("ORDER groups mapped: predict %d, memo %d, full %d", n[0], n[1], n[2])
	}
	exportModes(t, p, Query{Since: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)})
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
	p, _ := openTest(t, dir, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), path)
	memo, n := exportModes(t, p, Query{Provenance: true})
	if got := cvxDates(memo.of("Immunization")); !slices.Equal(got, []string{"20@2020-03-02/completed/L2"}) {
		t.Fatalf("doses %v, want the updated DTaP only (Hep B deleted, 9876 rejected)", got)
	}
	if len(memo.of("Patient")) != 1 {
		t.Fatalf("%d Patients", len(memo.of("Patient")))
	}
	// Predicting: hep 00, dtap 00 and the U (new RXA-3) teach the model,
	// bad is rejected (4; the U winner was kept). Memo: each distinct
	// group, hep 00, hep 01, dtap 00, bad, dtap 01, dtap U, hep D (7). In
	// full: every group of every message (18).
	if n != [3]int64{4, 7, 18} {
		t.Fatalf("ORDER groups mapped (predict, memo, full) = %v, want [4 7 18]", n)
	}
	exportModes(t, p, Query{Since: time.Date(2026, 1, 1, 0, 3, 30, 0, time.UTC)})
}

// A model that contradicts the mapping is caught: the person is exported
// again by mapping, predictions stop, and the output is unchanged.
func TestMispredictionFallsBack(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.hl7")
	const pid3 = "MR78^^^CLINIC^MR"
	write(t, path, false,
		vxu("M1", "CLINIC", "20200102120000", pid3, "ROE^BEN", "20200101", "M", "", order{"C-1", "20200102", "08", "00", "L1", "A"}),
		vxu("M2", "CLINIC", "20200301120000", pid3, "ROE^BEN", "20200101", "M", "", order{"C-1", "20200102", "08", "01", "L1", "A"},
			order{"C-2", "20200301", "20", "00", "L2", "A"}))
	p, err := openV2(openOptions{DataDir: filepath.Join(dir, "data"), Paths: []string{path}, Mapping: mapping.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	var full memSink
	p.fullMap = true
	if err := p.Export(ctx, Query{}, &full); err != nil {
		t.Fatal(err)
	}
	p.fullMap = false
	p.learned.cvx["20^vaccine^CVX"] = "21" // wrong on purpose
	var got memSink
	if err := p.Export(ctx, Query{}, &got); err != nil {
		t.Fatal(err)
	}
	if !p.noPredict.Load() {
		t.Fatal("the contradiction went unnoticed")
	}
	if a, b := cvxDates(got.of("Immunization")), cvxDates(full.of("Immunization")); !slices.Equal(a, b) || len(a) != 2 {
		t.Fatalf("doses %v, mapping every record gives %v", a, b)
	}
	if len(got.of("Patient")) != 1 {
		t.Fatalf("%d Patients after the retry", len(got.of("Patient")))
	}
}

// A winner whose key was predicted still reports its mapping issues.
func TestPredictedWinnerReportsIssues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.hl7")
	write(t, path, false,
		vxu("T1", "CLINIC", "20200102120000", "MR1^^^CLINIC^MR", "ROE^CY", "20200101", "M", "", order{"C-1", "20200102", "08", "00", "L1", "A"}),
		vxu("T2", "CLINIC", "20200102120000", "MR2^^^CLINIC^MR", "POE^DI", "20190101", "F", "", order{"9999", "20200102", "08", "00", "L1", "A"}))
	p, err := openV2(openOptions{DataDir: filepath.Join(dir, "data"), Paths: []string{path}, Mapping: mapping.Default(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var s memSink
	if err := p.Export(context.Background(), Query{}, &s); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().OrdersMapped; n != 2 {
		t.Fatalf("%d ORDER groups mapped, want 2 (T1 teaching, T2 predicted and mapped as the winner)", n)
	}
	found := false
	for _, oo := range s.issues {
		if j := string(oo.AppendJSON(nil)); strings.Contains(j, "no usable dose id") && strings.Contains(j, "T2") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no ORC-3 warning for T2 among %d outcomes", len(s.issues))
	}
}

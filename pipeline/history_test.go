package pipeline

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// exportOnce exports q into a memSink.
func exportOnce(t *testing.T, p *Pipeline, q Query) *memSink {
	t.Helper()
	s := &memSink{}
	if err := p.Export(context.Background(), q, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A history resent in full by every message (each VXU repeats the earlier
// doses as historical) reduces to the doses in their latest state.
func TestResentHistory(t *testing.T) {
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
	memo := exportOnce(t, p, Query{Provenance: true})
	if got := cvxDates(memo.of("Immunization")); !slices.Equal(got, []string{"20@2020-03-02/completed/L2"}) {
		t.Fatalf("doses %v, want the updated DTaP only (Hep B deleted, 9876 rejected)", got)
	}
	if len(memo.of("Patient")) != 1 {
		t.Fatalf("%d Patients", len(memo.of("Patient")))
	}
	exportOnce(t, p, Query{Since: time.Date(2026, 1, 1, 0, 3, 30, 0, time.UTC)})
}

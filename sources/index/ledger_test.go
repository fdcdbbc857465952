package index

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// TestLedgerUpdates: a query answered in a later update is evidence once
// its answer arrives; an answer that is not OK or names several persons
// is none; refusals count as VXU evidence of their own kind; a person
// whose file is dropped leaves the ledger, and the incremental ledger
// always equals one built from scratch.
func TestLedgerUpdates(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	a, b := filepath.Join(in, "a.hl7"), filepath.Join(in, "b.hl7")
	refusal := "RXA|0|1|20240101||08^vaccine^CVX|999||||||||||||||RE|A"
	write(t, a,
		vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", refusal),
		qbp("Q1", "CLINICC", "20240105120000"),
		qbp("Q2", "CLINICD", "20240105130000"))
	write(t, b, vxu("2", "CLINICB", "20240102120000", "B1^^^CLINICB^MR", "JONES^ANN", "20210101", "F", rxa("20240102", "08", "00")))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	update := func() {
		t.Helper()
		if _, err := x.Update(ctx, []string{in}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want ...string) {
		t.Helper()
		name := map[string]string{
			x.Identity().PatientID(sources.PrefixMRN + "CLINICA|MR|A1"): "SMITH", x.Identity().PatientID(sources.PrefixMRN + "CLINICB|MR|B1"): "JONES"}
		got := ledgerOf(t, x, name)
		for i := range got { // person by name, sender, trigger only
			f := strings.Fields(got[i])
			got[i] = strings.Join(f[:3], " ")
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("ledger %v, want %v", got, want)
		}
		y, err := open(filepath.Join(t.TempDir(), "fresh"), Options{Now: c.now})
		if err != nil {
			t.Fatal(err)
		}
		defer y.Close()
		if _, err := y.Update(ctx, []string{in}); err != nil {
			t.Fatal(err)
		}
		if g1, g2 := ledgerOf(t, x, nil), ledgerOf(t, y, nil); strings.Join(g1, "\n") != strings.Join(g2, "\n") {
			t.Fatalf("incremental ledger\n%s\nfrom scratch\n%s", strings.Join(g1, "\n"), strings.Join(g2, "\n"))
		}
	}
	update()
	check("JONES CLINICB vxu", "JONES CLINICB vxu-administered", "SMITH CLINICA vxu", "SMITH CLINICA vxu-refusal")
	unanswered := func() (out []string) {
		t.Helper()
		s := openSnapshot(t, x)
		if err := s.Unanswered(ctx, func(u Unanswered) error {
			out = append(out, u.OrgKey+" "+u.Loc.ControlID+" "+u.Asked.Family+" "+u.Asked.Given+" "+u.Asked.BirthDate+" "+u.Asked.Sex)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := unanswered(); strings.Join(got, "|") != "CLINICC Q1 SMITH JOHN 2020-01-01 M|CLINICD Q2 SMITH JOHN 2020-01-01 M" {
		t.Fatalf("unanswered queries %v", got)
	}
	// Answers arrive later: Q1 answered OK with SMITH, Q2 with two PIDs.
	appendTo(t, a,
		rsp("R1", "CLINICC", "Q1", "20240105120001", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", 1),
		rsp("R2", "CLINICD", "Q2", "20240105130001", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", 2))
	update()
	check("JONES CLINICB vxu", "JONES CLINICB vxu-administered", "SMITH CLINICA vxu", "SMITH CLINICA vxu-refusal", "SMITH CLINICC query")
	if got := unanswered(); len(got) != 0 {
		t.Fatalf("answered queries listed as unanswered: %v", got)
	}
	// JONES's only file goes: JONES leaves.
	os.Remove(b)
	update()
	check("SMITH CLINICA vxu", "SMITH CLINICA vxu-refusal", "SMITH CLINICC query")
}

// TestNoLedger: an index updated with NoLedger has no ledger, and the
// next Update without it builds the whole ledger even when no input
// changed, equal to one kept all along.
func TestNoLedger(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	write(t, filepath.Join(in, "a.hl7"),
		vxu("1", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", rxa("20240101", "08", "00")),
		qbp("Q1", "CLINICC", "20240105120000"),
		rsp("R1", "CLINICC", "Q1", "20240105120001", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", 1))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	update := func(data string, noLedger bool) []string {
		t.Helper()
		x, err := open(data, Options{Now: c.now, NoLedger: noLedger})
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		if _, err := x.Update(ctx, []string{in}); err != nil {
			t.Fatal(err)
		}
		return ledgerOf(t, x, nil)
	}
	want := update(filepath.Join(dir, "kept"), false)
	if len(want) != 3 { // vxu, vxu-administered, query
		t.Fatalf("ledger kept all along: %q", want)
	}
	data := filepath.Join(dir, "skipped")
	if got := update(data, true); len(got) != 0 {
		t.Fatalf("NoLedger index has a ledger: %q", got)
	}
	if got := update(data, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ledger after NoLedger\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A NoLedger update of new records empties it again, and the next
	// keeping one catches up.
	appendTo(t, filepath.Join(in, "a.hl7"),
		vxu("2", "CLINICB", "20240201120000", "A1^^^CLINICA^MR", "SMITH^JOHN", "20200101", "M", rxa("20240201", "08", "00")))
	want = update(filepath.Join(dir, "kept"), false)
	if got := update(data, true); len(got) != 0 {
		t.Fatalf("NoLedger update left the ledger: %q", got)
	}
	if got := update(data, false); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ledger after a second NoLedger update\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestScratchAsksNothing: a scratch index without a ledger keeps no query
// demographics, no sender counts and no record's sender (nobody reads its
// Groups); an index
// without a ledger that stays keeps them, for the ledger a later Update
// builds.
func TestScratchAsksNothing(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "a.hl7")
	write(t, in, qbp("Q1", "CLINICC", "20240105120000"), qbp("Q2", "CLINICD", "20240105130000"))
	for _, o := range []struct {
		opts Options
		want int
	}{{Options{NoLedger: true}, 2}, {Options{NoLedger: true, Scratch: true}, 0}, {Options{Scratch: true}, 2}} {
		x, err := open(filepath.Join(t.TempDir(), "data"), o.opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Update(context.Background(), []string{in}); err != nil {
			t.Fatal(err)
		}
		var n, senders, orgs int
		if err := x.db.QueryRow(`SELECT count(*), (SELECT coalesce(sum(n), 0) FROM senders),
			(SELECT count(*) FROM messages WHERE org_key IS NOT NULL) FROM asked`).Scan(&n, &senders, &orgs); err != nil {
			t.Fatal(err)
		}
		x.Close()
		if n != o.want || senders != o.want || orgs != o.want {
			t.Errorf("NoLedger %v, Scratch %v: %d queries' demographics kept, %d counted by sender, %d stored with their sender, want %d",
				o.opts.NoLedger, o.opts.Scratch, n, senders, orgs, o.want)
		}
	}
}

package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/mapping"
)

// memSink keeps what an export sends.
type memSink struct {
	res     []*fhirout.Object
	deleted []string
	issues  []*fhirout.Object
}

func (s *memSink) Resource(r *fhirout.Object) error { s.res = append(s.res, r); return nil }
func (s *memSink) Deleted(t, id string, at time.Time) error {
	s.deleted = append(s.deleted, t+"/"+id)
	return nil
}
func (s *memSink) Issue(oo *fhirout.Object) error { s.issues = append(s.issues, oo); return nil }

func (s *memSink) of(t string) []*fhirout.Object {
	var out []*fhirout.Object
	for _, r := range s.res {
		if r.ResourceType() == t {
			out = append(out, r)
		}
	}
	return out
}

type order struct{ orc3, date, cvx, src, lot, action string }

func vxu(ctrl, fac, ts, pid3, name, dob, sex, addr string, orders ...order) string {
	var b strings.Builder
	b.WriteString("MSH|^~\\&|EHR|" + fac + "|IIS|MYIIS|" + ts + "-0500||VXU^V04^VXU_V04|" + ctrl + "|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS\r")
	b.WriteString("PID|1||" + pid3 + "||" + name + "||" + dob + "|" + sex + "|||" + addr + "\r")
	for _, o := range orders {
		b.WriteString("ORC|RE||" + o.orc3 + "^" + fac + "\r")
		b.WriteString("RXA|0|1|" + o.date + "||" + o.cvx + "^vaccine^CVX|0.5|mL^mL^UCUM||" + o.src + "^x^NIP001||||||" + o.lot + "||MSD^Merck^MVX|||CP|" + o.action + "\r")
	}
	return b.String()
}

func write(t *testing.T, path string, appendMode bool, msgs ...string) {
	t.Helper()
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendMode {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, m := range msgs {
		if _, err := f.WriteString(m + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

const cvxSystem = "http://hl7.org/fhir/sid/cvx"

type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Minute); return c.t }

// openTest opens a pipeline over paths with its data in dir and a clock
// that starts at start and ticks a minute per reading, closed at the end
// of the test.
func openTest(t testing.TB, dir string, start time.Time, paths ...string) (*Pipeline, *clock) {
	t.Helper()
	c := &clock{t: start}
	p, err := openV2(openOptions{DataDir: filepath.Join(dir, "data"), Paths: paths, Mapping: mapping.Default(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, c
}

func cvxDates(imms []*fhirout.Object) []string {
	var out []string
	for _, r := range imms {
		var cvx string
		for _, c := range list(child(r, "vaccineCode"), "coding") {
			if co := c.(*fhirout.Object); str(co, "system") == cvxSystem {
				cvx = str(co, "code")
			}
		}
		out = append(out, cvx+"@"+str(r, "occurrenceDateTime")[:10]+"/"+str(r, "status")+"/"+str(r, "lotNumber"))
	}
	sort.Strings(out)
	return out
}

func TestExportReduces(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "archive.hl7")
	write(t, arch, false,
		// Clinic A gives HepB; clinic B (own MRN, same demographics)
		// resends it as history and gives DTaP.
		vxu("A1", "CLINICA", "20240101100000", "MA1^^^CLINICA^MR", "SMITH^JOHN", "20231201", "M", "1 MAIN ST^^BOSTON^MA^02101",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}),
		vxu("B1", "CLINICB", "20240301100000", "MB7^^^CLINICB^MR", "SMITH^JOHN", "20231201", "M", "1 MAIN ST^^BOSTON^MA^02101",
			order{"B-1", "20240101", "08", "01", "", "A"},
			order{"B-2", "20240301", "20", "00", "LOTD", "A"}),
		// Clinic A corrects the lot of its HepB; the family moved.
		vxu("A2", "CLINICA", "20240401100000", "MA1^^^CLINICA^MR", "SMITH^JOHN", "20231201", "M", "9 ELM ST^^SALEM^MA^01970",
			order{"A-1", "20240101", "08", "00", "LOT1B", "U"}),
		// Another child, MRN only.
		vxu("C1", "CLINICC", "20240201100000", "MC1^^^CLINICC^MR", "ROE^ANN", "20220202", "F", "",
			order{"C-1", "20240201", "03", "00", "LOTM", "A"}),
	)
	p, c := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	ctx := context.Background()
	var s memSink
	if err := p.Export(ctx, Query{}, &s); err != nil {
		t.Fatal(err)
	}
	pats := s.of("Patient")
	if len(pats) != 2 {
		t.Fatalf("%d patients", len(pats))
	}
	var smith *fhirout.Object
	for _, pt := range pats {
		if len(list(pt, "identifier")) >= 2 {
			smith = pt
		}
	}
	if smith == nil {
		t.Fatalf("no merged patient: %v", pats)
	}
	// Both MRNs; the latest address current, the old one kept as old.
	addrs := list(smith, "address")
	if len(addrs) != 2 || str(addrs[0].(*fhirout.Object), "city") != "SALEM" || str(addrs[1].(*fhirout.Object), "use") != "old" {
		t.Fatalf("addresses %v", smith)
	}
	imms := s.of("Immunization")
	got := cvxDates(imms)
	want := []string{"03@2024-02-01/completed/LOTM", "08@2024-01-01/completed/LOT1B", "20@2024-03-01/completed/LOTD"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("doses %v, want %v", got, want)
	}
	ids := map[string]bool{}
	for _, r := range s.res {
		if ids[r.ResourceType()+"/"+r.ID()] {
			t.Fatalf("duplicate %s/%s", r.ResourceType(), r.ID())
		}
		ids[r.ResourceType()+"/"+r.ID()] = true
	}
	for _, r := range imms {
		ref := str(child(r, "patient"), "reference")
		if !ids[ref] {
			t.Fatalf("immunization %s references %s, not exported", r.ID(), ref)
		}
	}
	// Second pass: clinic B deletes its DTaP; clinic C deletes an order it
	// never sent.
	t1 := c.t
	write(t, arch, true,
		vxu("B2", "CLINICB", "20240501100000", "MB7^^^CLINICB^MR", "SMITH^JOHN", "20231201", "M", "",
			order{"B-2", "20240301", "20", "00", "LOTD", "D"}),
		vxu("C2", "CLINICC", "20240502100000", "MC1^^^CLINICC^MR", "ROE^ANN", "20220202", "F", "",
			order{"C-404", "20240115", "21", "00", "", "D"}),
	)
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 memSink
	if err := p.Export(ctx, Query{Since: t1}, &s2); err != nil {
		t.Fatal(err)
	}
	if len(s2.deleted) != 1 || !strings.HasPrefix(s2.deleted[0], "Immunization/") {
		t.Fatalf("deleted %v", s2.deleted)
	}
	// Both persons have new messages, so both Patients come back; no dose
	// record is newer than Since except the deletion.
	if got := cvxDates(s2.of("Immunization")); len(got) != 0 {
		t.Fatalf("since doses %v", got)
	}
	if n := len(s2.of("Patient")); n != 2 {
		t.Fatalf("since patients %d", n)
	}
	warned := false
	for _, oo := range s2.issues {
		if strings.Contains(oo.String(), "never reported") {
			warned = true
		}
	}
	if !warned || p.Stats().UnseenDeletes != 1 {
		t.Fatalf("no unseen-D warning: %v", s2.issues)
	}
	// A snapshot as of the first indexing still has the DTaP. A window
	// ending then (Until without AsOf) selects current resources last
	// updated in it: the DTaP, deleted later, is in neither list.
	var s4 memSink
	if err := p.Export(ctx, Query{AsOf: t1}, &s4); err != nil {
		t.Fatal(err)
	}
	if got := cvxDates(s4.of("Immunization")); len(got) != 3 {
		t.Fatalf("as of first indexing: %v", got)
	}
	var s5 memSink
	if err := p.Export(ctx, Query{Since: t1.Add(-time.Hour), Until: t1}, &s5); err != nil {
		t.Fatal(err)
	}
	if len(s5.deleted) != 0 || len(s5.of("Immunization")) != 2 {
		t.Fatalf("until first indexing: %v %v", s5.deleted, cvxDates(s5.of("Immunization")))
	}
	// PatientIDs restricts to those persons; unknown ids are ignored.
	var s6 memSink
	if err := p.Export(ctx, Query{PatientIDs: []string{smith.ID(), "nobody"}, Types: []string{"Immunization"}}, &s6); err != nil {
		t.Fatal(err)
	}
	if got := cvxDates(s6.res); len(got) != 1 || got[0] != "08@2024-01-01/completed/LOT1B" {
		t.Fatalf("one patient, immunizations only: %v", got)
	}
	// A full export no longer has the deleted dose, and lists no deletions.
	var s3 memSink
	if err := p.Export(ctx, Query{Provenance: true}, &s3); err != nil {
		t.Fatal(err)
	}
	if got := cvxDates(s3.of("Immunization")); len(got) != 2 || len(s3.deleted) != 0 {
		t.Fatalf("after delete %v %v", got, s3.deleted)
	}
	if n := len(s3.of("Provenance")); n != 4 {
		t.Fatalf("%d provenances", n)
	}
	// Every resource and outcome is valid FHIR R4 (when the schema is set).
	for _, r := range append(append(s3.res, s2.issues...), s.res...) {
		fhirtest.Validate(t, []byte(r.String()))
	}
}

// TestMergeDeletions: when a later message links a person to the IIS id,
// the person's id changes (the IIS id key names it); a _since export lists
// the former Patient id and its Immunization ids as deleted.
func TestMergeDeletions(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "MA1^^^CLINICA^MR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}))
	p, c := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	ctx := context.Background()
	var s1 memSink
	p.Export(ctx, Query{}, &s1)
	if len(s1.res) != 2 {
		t.Fatalf("first export: %d resources", len(s1.res))
	}
	oldPat, oldImm := s1.of("Patient")[0].ID(), s1.of("Immunization")[0].ID()
	t1 := c.t
	write(t, arch, true,
		vxu("A2", "CLINICA", "20240201100000", "MA1^^^CLINICA^MR~S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", ""))
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 memSink
	if err := p.Export(ctx, Query{Since: t1}, &s2); err != nil {
		t.Fatal(err)
	}
	pats := s2.of("Patient")
	if len(pats) != 1 || pats[0].ID() == oldPat {
		t.Fatalf("after link: %v", pats)
	}
	// The dose comes back under its new id, referencing the new Patient.
	imms := s2.of("Immunization")
	if len(imms) != 1 || imms[0].ID() == oldImm || str(child(imms[0], "patient"), "reference") != "Patient/"+pats[0].ID() {
		t.Fatalf("dose after link: %v", imms)
	}
	want := map[string]bool{"Patient/" + oldPat: true, "Immunization/" + oldImm: true}
	if len(s2.deleted) != 2 || !want[s2.deleted[0]] || !want[s2.deleted[1]] {
		t.Fatalf("deleted %v, want %v", s2.deleted, want)
	}
}

// TestMergeDeletesFormerDosesOnly: when an MRN-only person is linked to
// an IIS person, a _since export deletes the former Patient and exactly
// the Immunizations it had (also one added after the first export), not
// the survivor's doses under the former id, and not a dose the former
// Patient had already deleted before Since. A dose the former Patient
// deleted after Since is its deletion, not the survivor's.
func TestMergeDeletesFormerDosesOnly(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}, order{"A-2", "20240301", "20", "00", "LOT2", "A"}),
		vxu("B1", "CLINICB", "20240102100000", "MB1^^^CLINICB^MR", "SMYTHE^JON", "20231202", "M", "",
			order{"B-1", "20240115", "10", "00", "LOT3", "A"}, order{"B-2", "20240116", "03", "00", "LOT4", "A"},
			order{"B-4", "20240120", "21", "00", "LOT7", "A"}),
		vxu("B2", "CLINICB", "20240103100000", "MB1^^^CLINICB^MR", "SMYTHE^JON", "20231202", "M", "",
			order{"B-2", "20240116", "03", "00", "LOT4", "D"}))
	p, c := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	ctx := context.Background()
	var s1 memSink
	if err := p.Export(ctx, Query{}, &s1); err != nil {
		t.Fatal(err)
	}
	if got := len(s1.of("Patient")); got != 2 {
		t.Fatalf("first export: %d Patients, want 2", got)
	}
	var formerPat, survivorPat string
	for _, r := range s1.of("Immunization") {
		ref := str(child(r, "patient"), "reference")
		if str(r, "occurrenceDateTime")[:10] == "2024-01-15" {
			formerPat = strings.TrimPrefix(ref, "Patient/")
		} else {
			survivorPat = strings.TrimPrefix(ref, "Patient/")
		}
	}
	if formerPat == "" || survivorPat == "" || formerPat == survivorPat {
		t.Fatalf("first export: Patients %q and %q", formerPat, survivorPat)
	}
	t1 := c.t
	// A dose of the MRN-only person after the first export (its own
	// update, so the former Patient had it), then the link, with a dose.
	write(t, arch, true,
		vxu("B3", "CLINICB", "20240601100000", "MB1^^^CLINICB^MR", "SMYTHE^JON", "20231202", "M", "",
			order{"B-3", "20240601", "49", "00", "LOT5", "A"}, order{"B-4", "20240120", "21", "00", "LOT7", "D"}))
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, arch, true,
		vxu("A3", "CLINICB", "20240701100000", "S77^^^MYIIS^SR~MB1^^^CLINICB^MR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-3", "20240701", "83", "00", "LOT6", "A"}))
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 memSink
	if err := p.Export(ctx, Query{Since: t1}, &s2); err != nil {
		t.Fatal(err)
	}
	pats := s2.of("Patient")
	if len(pats) != 1 || pats[0].ID() != survivorPat {
		t.Fatalf("after link: Patients %v, want %s", pats, survivorPat)
	}
	if got := len(s2.of("Immunization")); got != 5 {
		t.Errorf("after link: %d Immunizations, want the 5 live doses under the survivor", got)
	}
	want := []string{
		"Patient/" + formerPat,
		"Immunization/" + hashID(formerPat+"|10|2024-01-15"),
		"Immunization/" + hashID(formerPat+"|49|2024-06-01"),
		// Deleted after Since but before the link: the former Patient's
		// deletion, never a dose of the survivor's.
		"Immunization/" + hashID(formerPat+"|21|2024-01-20"),
	}
	got := slices.Clone(s2.deleted)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	written := map[string]bool{}
	for _, r := range s2.res {
		written[r.ResourceType()+"/"+r.ID()] = true
	}
	for _, d := range s2.deleted {
		if written[d] {
			t.Errorf("%s both written and deleted", d)
		}
	}
	// Without Since nothing is deleted; a Since after the link neither.
	for _, q := range []Query{{}, {Since: c.t}} {
		var s memSink
		if err := p.Export(ctx, q, &s); err != nil {
			t.Fatal(err)
		}
		if len(s.deleted) != 0 {
			t.Errorf("Since %v: deleted %v", q.Since, s.deleted)
		}
	}
}

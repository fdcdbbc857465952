package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// mapHash is the mapping's hash(...) of vals.
func mapHash(vals ...string) string {
	h := sha256.Sum256([]byte(strings.Join(vals, "\x1f")))
	return hex.EncodeToString(h[:16])
}

// byOrderID is a copy of the default mapping whose Immunization id is
// the sender's order (ORC-3), as a jurisdiction may prefer.
func byOrderID(t *testing.T) *mapping.Mapping {
	return copyDefaultEdited(t, "by-order.yaml", func(b []byte) []byte {
		const rule = `    id: 'hash(concat($patient, "|", $dose_vaccine, "|", $dose_day))'`
		s := string(b)
		if !strings.Contains(s, rule) {
			t.Fatal("default.yaml has no Immunization id rule to replace")
		}
		return []byte(strings.Replace(s, rule, `    id: 'if($fill, hash("Immunization", $patient, $sender, $fill), hash("Immunization", $patient, $dose_vaccine, $dose_day, $sender))'`, 1))
	})
}

// The default mapping's Immunization id rule gives the dose ids of
// earlier versions (a hash of Patient id, vaccine and day), and exports
// honour it: no other id is made for an Immunization.
func TestDefaultDoseIDsUnchanged(t *testing.T) {
	m := mapping.Default()
	if m.ReadsOf("Immunization").DefaultID {
		t.Fatal("the default Immunization id rule may give no id: exports would not honour it")
	}
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}, order{"", "20240301", "20", "00", "LOT2", "A"}))
	p, _ := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	var s memSink
	if err := p.Export(context.Background(), Query{}, &s); err != nil {
		t.Fatal(err)
	}
	pid := s.of("Patient")[0].ID()
	var got []string
	for _, r := range s.of("Immunization") {
		got = append(got, r.ID())
	}
	want := []string{hashID(pid + "|08|2024-01-01"), hashID(pid + "|20|2024-03-01")}
	if !slices.Equal(got, want) {
		t.Fatalf("Immunization ids %v, want %v", got, want)
	}
}

// A mapping whose Immunization id is the sender's order id: the export
// gives each dose the id the rule gave the first report of it (by
// arrival), not the winning report's, so the id stays as reports arrive;
// a _since export updates and deletes under the ids the full export gave;
// a Patient merged away has its doses deleted under its own ids.
func TestDoseIDsFollowTheMapping(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	// A historical report of the 08 dose from CLINICB, then CLINICA's own
	// doses (MRN only: a person of their own until linked below).
	write(t, arch, false,
		vxu("B1", "CLINICB", "20240102100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"B-9", "20240101", "08", "01", "", "A"}, order{"B-10", "20240301", "20", "00", "LOT2", "A"}),
		vxu("C1", "CLINICC", "20240103100000", "MC1^^^CLINICC^MR", "SMYTHE^JON", "20231202", "M", "",
			order{"C-1", "20240201", "10", "00", "LOT3", "A"}))
	p, c := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	p.SetMapping(byOrderID(t))
	ctx := context.Background()
	var s1 memSink
	if err := p.Export(ctx, Query{}, &s1); err != nil {
		t.Fatal(err)
	}
	pats := s1.of("Patient")
	if len(pats) != 2 {
		t.Fatalf("first export: %d Patients, want 2", len(pats))
	}
	ids1 := map[string]bool{}
	for _, r := range s1.of("Immunization") {
		ids1[r.ID()] = true
	}
	var sr, mrn string // the two Patients
	for _, pt := range pats {
		if slices.Contains(idents(pt), "SR|S77") {
			sr = pt.ID()
		} else {
			mrn = pt.ID()
		}
	}
	want1 := map[string]bool{
		mapHash("Immunization", sr, "CLINICB", "B-9"):  true,
		mapHash("Immunization", sr, "CLINICB", "B-10"): true,
		mapHash("Immunization", mrn, "CLINICC", "C-1"): true,
	}
	if !equalSets(ids1, want1) {
		t.Fatalf("first export: Immunization ids %v, want the mapping's %v", ids1, want1)
	}

	// The giver's own report of the 08 dose now wins it; B-10 is deleted;
	// the MRN-only person is linked to the IIS person.
	t1 := c.t
	write(t, arch, true,
		vxu("A2", "CLINICA", "20240601100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}),
		vxu("B2", "CLINICB", "20240602100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"B-10", "20240301", "20", "00", "LOT2", "D"}),
		vxu("C2", "CLINICC", "20240603100000", "S77^^^MYIIS^SR~MC1^^^CLINICC^MR", "SMITH^JOHN", "20231201", "M", ""))
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 memSink
	if err := p.Export(ctx, Query{Since: t1}, &s2); err != nil {
		t.Fatal(err)
	}
	var lots []string
	for _, r := range s2.of("Immunization") {
		if r.ID() == mapHash("Immunization", sr, "CLINICB", "B-9") {
			lots = append(lots, str(r, "lotNumber"))
		}
	}
	if !slices.Equal(lots, []string{"LOT1"}) {
		t.Errorf("_since: the 08 dose under its first id with the giver's lot: %v", lots)
	}
	wantDel := []string{
		"Immunization/" + mapHash("Immunization", sr, "CLINICB", "B-10"),
		"Immunization/" + mapHash("Immunization", mrn, "CLINICC", "C-1"),
		"Patient/" + mrn,
	}
	slices.Sort(s2.deleted)
	slices.Sort(wantDel)
	if !slices.Equal(s2.deleted, wantDel) {
		t.Errorf("_since deleted %v, want %v", s2.deleted, wantDel)
	}
	for _, d := range s2.deleted {
		if typ, id, _ := strings.Cut(d, "/"); typ == "Immunization" && !ids1[id] {
			t.Errorf("_since deletes %s, an id the full export never gave", d)
		}
	}
	// The linked dose now under the survivor, by the mapping's rule.
	var s3 memSink
	if err := p.Export(ctx, Query{}, &s3); err != nil {
		t.Fatal(err)
	}
	ids3 := map[string]bool{}
	for _, r := range s3.of("Immunization") {
		ids3[r.ID()] = true
	}
	want3 := map[string]bool{
		mapHash("Immunization", sr, "CLINICB", "B-9"): true,
		mapHash("Immunization", sr, "CLINICC", "C-1"): true,
	}
	if !equalSets(ids3, want3) {
		t.Errorf("full export after: Immunization ids %v, want %v", ids3, want3)
	}
}

// A rule giving two doses of a person one id (here: every dose the
// Patient's id) cannot name both: the later dose, in vaccine|day order,
// gets the id made of Patient id, vaccine and day. A mapping without an
// Immunization id rule (its fallback id hashes each message) gets those
// ids for every dose.
func TestDoseIDsCollideOrFallBack(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}, order{"A-2", "20240301", "20", "00", "LOT2", "A"}),
		vxu("A2", "CLINICA", "20240401100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT9", "U"}))
	p, _ := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	const rule = `    id: 'hash(concat($patient, "|", $dose_vaccine, "|", $dose_day))'`
	for name, repl := range map[string]string{
		"collide": `    id: 'hash("Immunization", $patient)'`,
		"none":    ``,
	} {
		p.SetMapping(copyDefaultEdited(t, name+".yaml", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), rule, repl, 1))
		}))
		var s memSink
		if err := p.Export(context.Background(), Query{}, &s); err != nil {
			t.Fatal(err)
		}
		pid := s.of("Patient")[0].ID()
		var got []string
		for _, r := range s.of("Immunization") {
			got = append(got, r.ID())
		}
		want := []string{mapHash("Immunization", pid), hashID(pid + "|20|2024-03-01")}
		if name == "none" {
			want[0] = hashID(pid + "|08|2024-01-01")
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: Immunization ids %v, want %v", name, got, want)
		}
	}
}

func equalSets(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// A client that applies a _since export (resources written, deletions)
// to what the full export before it gave holds what a full export gives
// now, resource for resource: ids stay stable across exports and across
// _since, under the default mapping and one whose ids are order ids.
func TestSinceAppliesToFullExport(t *testing.T) {
	gen := t.TempDir()
	sum, err := synth.Generate(gen, synth.Config{Seed: 11, People: 150, Framings: []string{"msh"}})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, f := range sum.Files {
		r, err := v2archive.Open([]string{filepath.Join(gen, f)}, v2archive.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			it, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if it.Err == nil {
				msgs = append(msgs, string(it.Data))
			}
		}
		r.Close()
	}
	if len(msgs) < 200 {
		t.Fatalf("test premise: %d messages", len(msgs))
	}
	state := func(s *memSink) map[string]string {
		out := map[string]string{}
		for _, r := range s.res {
			out[r.ResourceType()+"/"+r.ID()] = string(r.AppendJSON(nil))
		}
		return out
	}
	for name, m := range map[string]*mapping.Mapping{"default": mapping.Default(), "by-order": byOrderID(t)} {
		dir := t.TempDir()
		arch := filepath.Join(dir, "a.hl7")
		cut := len(msgs) * 3 / 5
		write(t, arch, false, msgs[:cut]...)
		p, c := openTest(t, dir, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), arch)
		p.SetMapping(m)
		ctx := context.Background()
		var full1 memSink
		if err := p.Export(ctx, Query{}, &full1); err != nil {
			t.Fatal(err)
		}
		t1 := c.t
		write(t, arch, true, msgs[cut:]...)
		if _, err := p.Update(ctx); err != nil {
			t.Fatal(err)
		}
		var since, full2 memSink
		if err := p.Export(ctx, Query{Since: t1}, &since); err != nil {
			t.Fatal(err)
		}
		if err := p.Export(ctx, Query{}, &full2); err != nil {
			t.Fatal(err)
		}
		got := state(&full1)
		var patients, unknown int
		for _, d := range since.deleted {
			if _, ok := got[d]; !ok {
				unknown++ // a dose made and deleted between the exports
			}
			if strings.HasPrefix(d, "Patient/") {
				patients++
			}
			delete(got, d)
		}
		t.Logf("%s: _since writes %d, deletes %d (%d Patients merged away, %d made and deleted between the exports)",
			name, len(since.res), len(since.deleted), patients, unknown)
		for k, v := range state(&since) {
			got[k] = v
		}
		want := state(&full2)
		bad := 0
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				if bad++; bad <= 5 {
					t.Errorf("%s: full export has %s; the client has it: %v (same content: %v)", name, k, ok, g == v)
				}
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				if bad++; bad <= 10 {
					t.Errorf("%s: the client still has %s, which the full export no longer gives", name, k)
				}
			}
		}
		if bad > 0 || len(since.deleted) == 0 {
			t.Errorf("%s: %d differences; %d resources, %d written and %d deleted by _since", name, bad, len(want), len(since.res), len(since.deleted))
		}
	}
}

// A relational source's Immunizations (reduced newest by id) keep the
// ids the SQL mapping gives them: a hash of the source and the
// vaccination row's key.
func TestRelationalKeepsMappedIDs(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(dir, synth.Config{Seed: 5, People: 30}); err != nil {
		t.Fatal(err)
	}
	x, db, _ := relWorld(t, "sqlite", filepath.Join(dir, "truth.json"))
	rows := map[string]bool{}
	db.Query(t, "SELECT vaccination_id FROM vaccination_master", func(v any) {
		rows[mapHash("Immunization", "iis", fmt.Sprint(toInt(v)))] = true
	})
	var s memSink
	if err := x.Export(context.Background(), Query{}, &s); err != nil {
		t.Fatal(err)
	}
	imms := s.of("Immunization")
	if len(imms) == 0 {
		t.Fatal("no Immunization exported")
	}
	for _, r := range imms {
		if !rows[r.ID()] {
			t.Fatalf("Immunization/%s is no row's mapped id", r.ID())
		}
	}
}

// A rule without the Patient id gives a dose the same id under the
// Patient merged away and under the survivor: a _since export sends the
// dose under it and does not list it deleted.
func TestMergeKeepsPatientlessDoseIDs(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.hl7")
	write(t, arch, false,
		vxu("A1", "CLINICA", "20240101100000", "S77^^^MYIIS^SR", "SMITH^JOHN", "20231201", "M", "",
			order{"A-1", "20240101", "08", "00", "LOT1", "A"}),
		vxu("C1", "CLINICC", "20240103100000", "MC1^^^CLINICC^MR", "SMYTHE^JON", "20231202", "M", "",
			order{"C-1", "20240201", "10", "00", "LOT3", "A"}, order{"C-2", "20240202", "20", "00", "LOT4", "A"}),
		vxu("C2", "CLINICC", "20240104100000", "MC1^^^CLINICC^MR", "SMYTHE^JON", "20231202", "M", "",
			order{"C-2", "20240202", "20", "00", "LOT4", "D"}))
	p, c := openTest(t, dir, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), arch)
	const rule = `    id: 'hash(concat($patient, "|", $dose_vaccine, "|", $dose_day))'`
	p.SetMapping(copyDefaultEdited(t, "no-patient.yaml", func(b []byte) []byte {
		return []byte(strings.Replace(string(b), rule, `    id: 'hash("Immunization", $sender, $fill)'`, 1))
	}))
	ctx := context.Background()
	var s1 memSink
	if err := p.Export(ctx, Query{}, &s1); err != nil {
		t.Fatal(err)
	}
	if len(s1.of("Patient")) != 2 {
		t.Fatalf("first export: %d Patients, want 2", len(s1.of("Patient")))
	}
	t1 := c.t
	write(t, arch, true,
		vxu("C3", "CLINICC", "20240603100000", "S77^^^MYIIS^SR~MC1^^^CLINICC^MR", "SMITH^JOHN", "20231201", "M", ""))
	if _, err := p.Update(ctx); err != nil {
		t.Fatal(err)
	}
	var s2 memSink
	if err := p.Export(ctx, Query{Since: t1}, &s2); err != nil {
		t.Fatal(err)
	}
	c1 := mapHash("Immunization", "CLINICC", "C-1")
	var written []string
	for _, r := range s2.of("Immunization") {
		written = append(written, r.ID())
	}
	if !slices.Contains(written, c1) {
		t.Errorf("_since: the linked dose is not sent under its id: %v", written)
	}
	for _, d := range s2.deleted {
		if strings.HasPrefix(d, "Immunization/") {
			t.Errorf("_since lists %s deleted (the survivor keeps C-1's id; C-2 was deleted before Since)", d)
		}
	}
}

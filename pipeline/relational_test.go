package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/mapping"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
	"github.com/iisbridge/iisbridge/sources/sql/sqltest"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/synth/synthtest"
)

// relWorld loads the world of truthPath into a fresh database on engine
// and opens the relational exporter over it.
func relWorld(t testing.TB, engine, truthPath string) (*Relational, *sqltest.DB, *sqlsrc.LoadSummary) {
	t.Helper()
	db := sqltest.New(t, engine)
	sum := db.Load(t, truthPath)
	r, err := sqlsrc.Open(db.Config("iis"))
	if err != nil {
		t.Fatal(err)
	}
	x := NewRelational(r, mapping.DefaultSQL(), RelationalOptions{Name: "iis", Memberships: sqlsrc.DefaultMembershipsQuery(r.Dialect())})
	t.Cleanup(func() { x.Close() })
	return x, db, sum
}

// truthCheck compares an export (everything, deletions listed) with the
// generator's truth: one Patient per person holding all of its ids, its
// current demographics, the final dose set per person. It returns each
// truth person's Patient id.
func truthCheck(t *testing.T, label string, s *memSink, truth *synth.Truth) map[string]string {
	t.Helper()
	pats := s.of("Patient")
	if len(pats) != len(truth.Persons) {
		t.Errorf("%s: %d Patients, truth has %d persons", label, len(pats), len(truth.Persons))
	}
	holders := map[string][]string{}
	byID := map[string]*fhirout.Object{}
	for _, pt := range pats {
		byID[pt.ID()] = pt
		seen := map[string]bool{}
		for _, k := range idents(pt) {
			if !seen[k] {
				seen[k] = true
				holders[k] = append(holders[k], pt.ID())
			}
		}
	}
	pidOf, problems := synthtest.MatchPatients(truth.Persons, holders)
	for _, p := range problems {
		t.Errorf("%s: %s", label, p)
	}
	got := map[string][]string{}
	for _, im := range s.of("Immunization") {
		pid := strings.TrimPrefix(str(child(im, "patient"), "reference"), "Patient/")
		got[pid] = append(got[pid], cvxDates([]*fhirout.Object{im})[0])
	}
	for _, tp := range truth.Persons {
		pt := byID[pidOf[tp.Key]]
		if pt == nil {
			t.Errorf("%s: person %s: no Patient", label, tp.Key)
			continue
		}
		n0 := list(pt, "name")[0].(*fhirout.Object)
		if str(n0, "family") != tp.Name.Family || !strings.HasPrefix(strs(n0, "given"), tp.Name.Given) || str(pt, "birthDate") != tp.BirthDate {
			t.Errorf("%s: person %s: current name/birth date differ from truth", label, tp.Key)
		}
		var want []string
		for _, d := range tp.Doses {
			if d.Status != "entered-in-error" {
				want = append(want, d.CVX+"@"+d.Date+"/"+d.Status+"/"+d.Lot)
			}
		}
		sort.Strings(want)
		g := got[pidOf[tp.Key]]
		sort.Strings(g)
		if strings.Join(g, " ") != strings.Join(want, " ") {
			t.Errorf("%s: person %s doses:\n got %v\nwant %v", label, tp.Key, g, want)
		}
	}
	return pidOf
}

func deletedDoses(truth *synth.Truth) int {
	n := 0
	for _, tp := range truth.Persons {
		for _, d := range tp.Doses {
			if d.Status == "entered-in-error" {
				n++
			}
		}
	}
	return n
}

// TestRelationalTruth exports the generated world from each database and
// checks it against the truth: Patients, doses, deletions (soft-deleted
// vaccinations and merged-away Patients), Groups, every row accounted
// for, and the same stream with one worker or several.
func TestRelationalTruth(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(dir, synth.Config{Seed: 7, People: 60}); err != nil {
		t.Fatal(err)
	}
	truthPath := filepath.Join(dir, "truth.json")
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, engine := range sqltest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			x, _, sum := relWorld(t, engine, truthPath)
			var s memSink
			ss := &snapSink{memSink: &s}
			if err := x.Export(ctx, Query{Since: time.Unix(1, 0), SourceIssues: true}, ss); err != nil {
				t.Fatal(err)
			}
			if ss.at.IsZero() || time.Since(ss.at) > time.Hour || time.Until(ss.at) > time.Hour {
				t.Errorf("snapshot time %v: want the database's clock now", ss.at)
			}
			pidOf := truthCheck(t, engine, &s, truth)
			// Deletions: every soft-deleted vaccination, and each merged-away
			// duplicate's Patient.
			var delImm, delPat int
			for _, d := range s.deleted {
				switch {
				case strings.HasPrefix(d, "Immunization/"):
					delImm++
				case strings.HasPrefix(d, "Patient/"):
					delPat++
				}
			}
			if delImm != deletedDoses(truth) || delPat != sum.Merged || sum.Merged == 0 {
				t.Errorf("deleted: %d Immunizations (truth %d), %d Patients (merged-away %d)", delImm, deletedDoses(truth), delPat, sum.Merged)
			}
			// Without _since: no deletions, the same resources.
			var all memSink
			if err := x.Export(ctx, Query{}, &all); err != nil {
				t.Fatal(err)
			}
			if len(all.deleted) != 0 || len(all.res) != len(s.res) {
				t.Errorf("export without _since: %d resources, %d deletions; with: %d resources", len(all.res), len(all.deleted), len(s.res))
			}
			// Groups: the submitters' links, keyed as v2 senders are.
			var wantM, gotM []string
			for _, l := range truth.Links {
				wantM = append(wantM, l.OrgKey+">"+pidOf[l.Person])
			}
			if err := x.Memberships(ctx, func(m Membership) error {
				gotM = append(gotM, m.OrgKey+">"+m.PatientID)
				if m.First.IsZero() || m.Last.Before(m.First) {
					t.Errorf("membership %s>%s: first %v last %v", m.OrgKey, m.PatientID, m.First, m.Last)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			sort.Strings(wantM)
			sort.Strings(gotM)
			if strings.Join(gotM, "\n") != strings.Join(wantM, "\n") {
				t.Errorf("memberships:\n got %d %v\nwant %d %v", len(gotM), gotM, len(wantM), wantM)
			}
			// Every row read is accounted for.
			st := x.Stats()
			var rows int64
			for name, tc := range st.Tables {
				if tc.Read != tc.Yielded+tc.Orphans {
					t.Errorf("table %s: read %d != yielded %d + orphans %d", name, tc.Read, tc.Yielded, tc.Orphans)
				}
				rows += tc.Read
			}
			if st.Tables["immunizations"].Read != int64(sum.Vaccinations) || st.Persons != int64(sum.Persons+sum.Merged) || st.Gone != int64(sum.Merged) {
				t.Errorf("stats %+v vs load %+v", st, sum)
			}
			// Patient-level: ids map back to keys.
			ids := []string{pidOf[truth.Persons[0].Key], pidOf[truth.Persons[5].Key], "no-such-patient"}
			missing, err := x.MissingPatients(ctx, ids)
			if err != nil || !slices.Equal(missing, []string{"no-such-patient"}) {
				t.Errorf("MissingPatients = %v, %v", missing, err)
			}
			var two memSink
			if err := x.Export(ctx, Query{PatientIDs: ids, Types: []string{"Patient"}}, &two); err != nil {
				t.Fatal(err)
			}
			if got := two.of("Patient"); len(got) != 2 || len(two.res) != 2 {
				t.Errorf("Patient-level export: %d resources", len(two.res))
			}
			// _until: only what changed up to it (meta.lastUpdated <= until).
			until := truth.Config.Start.Add(truth.Config.End.Sub(truth.Config.Start) / 2)
			var early memSink
			if err := x.Export(ctx, Query{Until: until}, &early); err != nil {
				t.Fatal(err)
			}
			if n := len(early.of("Patient")); n == 0 || n >= len(truth.Persons) {
				t.Errorf("_until=%v: %d Patients of %d", until, n, len(truth.Persons))
			}
			for _, r := range early.res {
				if lu, _ := time.Parse(time.RFC3339, str(child(r, "meta"), "lastUpdated")); lu.After(until) {
					t.Errorf("_until=%v: %s updated %v", until, r.ID(), lu)
					break
				}
			}
			// Provenance names the source's rows, no patient data.
			var prov memSink
			if err := x.Export(ctx, Query{PatientIDs: ids, Provenance: true}, &prov); err != nil {
				t.Fatal(err)
			}
			provs := prov.of("Provenance")
			if len(provs) == 0 || 2*len(provs) != len(prov.res) {
				t.Errorf("%d Provenances for %d resources", len(provs), len(prov.res)-len(provs))
			} else {
				fhirtest.Validate(t, []byte(provs[0].String()))
				if d := provs[0].String(); !strings.Contains(d, "rows of source iis (person key ") || !strings.Contains(d, `"value":"iis"`) {
					t.Errorf("Provenance %s", d)
				}
			}
			// Parallel and sequential exports are the same stream.
			stream := func(workers int) string {
				x.workers = workers
				var m memSink
				if err := x.Export(ctx, Query{Since: time.Unix(1, 0), SourceIssues: true}, &m); err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				for _, r := range m.res {
					b.WriteString(r.String())
				}
				return b.String() + strings.Join(m.deleted, " ") + fmt.Sprint(len(m.issues))
			}
			if a, b := stream(1), stream(3); a != b {
				t.Errorf("sequential and parallel exports differ")
			}
			for _, r := range s.res[:min(len(s.res), 100)] {
				fhirtest.Validate(t, []byte(r.String()))
			}
		})
	}
}

// snapSink records the snapshot time an export reports.
type snapSink struct {
	*memSink
	at time.Time
}

func (s *snapSink) Snapshot(at time.Time) { s.at = at }

// TestCrossSourceEquality exports one generated world from the v2 archive
// and from each database: the same Patients and Immunizations, content
// equal ignoring meta, ids compared through identifiers (the truth person
// each Patient is), and both equal the truth, the elements the default
// schema added for the VXU's detail included (registry status, guardian
// address and phone, dose amount, route, site, performers, funding,
// eligibility, VIS). Elements are compared as sets of leaf values per
// person and type (array order is the source's: message arrival, row
// keys). No difference is tolerated.
func TestCrossSourceEquality(t *testing.T) {
	for _, cfg := range []synth.Config{
		{Seed: 7, People: 60},
		// P000039 has historical doses that two clinics reported (01 rows
		// with the same ORC-3 from SJPEDS, then LKVFM).
		{Seed: 2, People: 200},
	} {
		t.Run(fmt.Sprintf("seed%d", cfg.Seed), func(t *testing.T) { crossSourceEquality(t, cfg) })
	}
}

func crossSourceEquality(t *testing.T, cfg synth.Config) {
	arch, truth := genWorld(t, cfg)
	// genWorld wrote truth.json beside the archive; load the same one.
	truthPath := filepath.Join(filepath.Dir(arch.opts.Paths[0]), "truth.json")
	ctx := context.Background()
	var v2 memSink
	if err := arch.Export(ctx, Query{Since: time.Unix(1, 0)}, &v2); err != nil {
		t.Fatal(err)
	}
	v2Pid := truthCheck(t, "archive", &v2, truth)
	detailCheck(t, "archive", leavesByPerson(&v2, v2Pid), truth)
	for _, engine := range sqltest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			x, _, _ := relWorld(t, engine, truthPath)
			var rel memSink
			if err := x.Export(ctx, Query{Since: time.Unix(1, 0)}, &rel); err != nil {
				t.Fatal(err)
			}
			relPid := truthCheck(t, engine, &rel, truth)
			// The schema's new elements are valid FHIR (skips without the schema).
			for _, im := range rel.of("Immunization")[:min(60, len(rel.of("Immunization")))] {
				fhirtest.Validate(t, []byte(im.String()))
			}
			for _, pt := range rel.of("Patient")[:min(20, len(rel.of("Patient")))] {
				fhirtest.Validate(t, []byte(pt.String()))
			}
			a, b := leavesByPerson(&v2, v2Pid), leavesByPerson(&rel, relPid)
			detailCheck(t, engine, b, truth)
			var diffs []string
			for _, tp := range truth.Persons {
				for _, typ := range []string{"Patient", "Immunization"} {
					k := tp.Key + " " + typ
					onlyA, onlyB := multisetDiff(a[k], b[k])
					for _, side := range []struct {
						name   string
						leaves []string
					}{{"archive", onlyA}, {engine, onlyB}} {
						for _, l := range side.leaves {
							diffs = append(diffs, fmt.Sprintf("person %s: only in %s: %s", tp.Key, side.name, l))
						}
					}
				}
			}
			if len(diffs) > 0 {
				t.Errorf("%d element values differ between the archive and %s; first:\n%s", len(diffs), engine, strings.Join(diffs[:min(20, len(diffs))], "\n"))
			}
		})
	}
}

const registryStatusURL = "http://iisbridge.dev/fhir/StructureDefinition/immunization-registry-status"

// detailCheck verifies, per truth person, the element values the truth
// implies beyond truthCheck's (registry status, guardian, each given
// dose's administration) in an export's leaves.
func detailCheck(t *testing.T, label string, leaves map[string][]string, truth *synth.Truth) {
	t.Helper()
	npis := map[string]synth.Provider{}
	for _, p := range truth.Providers {
		npis[p.NPI] = p
	}
	q := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	var bad []string
	for _, tp := range truth.Persons {
		var want []string
		if tp.RegistryStatus != "" {
			rs := "Patient.extension[" + registryStatusURL + "]"
			want = append(want, rs+".extension[status].valueCoding.code="+q(tp.RegistryStatus))
			if tp.RegistryDate != "" {
				want = append(want, rs+".extension[date].valueDate="+q(tp.RegistryDate))
			}
		}
		if g := tp.Guardian; g != nil {
			want = append(want, "Patient.contact[].name.family="+q(g.Family), "Patient.contact[].name.given[]="+q(g.Given),
				"Patient.contact[].relationship[].coding[].code="+q(g.Relationship),
				"Patient.contact[].address.line[]="+q(g.Address.Line), "Patient.contact[].address.postalCode="+q(g.Address.Zip),
				"Patient.contact[].telecom[].value="+q(g.Phone))
		}
		for _, d := range tp.Doses {
			a := d.Administration
			if a == nil || d.Status != "completed" {
				continue
			}
			pr := npis[a.Provider]
			want = append(want, "Immunization.doseQuantity.value="+a.Amount, "Immunization.doseQuantity.unit="+q(a.Unit),
				"Immunization.route.coding[].code="+q(a.Route),
				"Immunization.performer[].actor.identifier.value="+q(a.Provider), "Immunization.performer[].actor.identifier.value="+q(a.Provider),
				"Immunization.performer[].actor.display="+q(pr.Given+" "+pr.Family))
			if a.Site != "" {
				want = append(want, "Immunization.site.coding[].code="+q(a.Site))
			}
			if a.Eligibility != "" {
				want = append(want, "Immunization.programEligibility[].coding[].code="+q(a.Eligibility))
			}
			if a.Funding != "" {
				want = append(want, "Immunization.fundingSource.coding[].code="+q(a.Funding))
			}
			if v := a.VIS; v != nil {
				want = append(want, "Immunization.education[].presentationDate="+q(v.Presented))
				if v.Published != "" {
					want = append(want, "Immunization.education[].publicationDate="+q(v.Published))
				}
				if v.Document != "" {
					want = append(want, "Immunization.education[].documentType="+q(v.Document))
				}
			}
		}
		have := append(leaves[tp.Key+" Patient"], leaves[tp.Key+" Immunization"]...)
		if missing, _ := multisetDiff(want, have); len(missing) > 0 {
			bad = append(bad, fmt.Sprintf("person %s lacks %v", tp.Key, missing))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: %d persons lack what the truth says; first:\n%s", label, len(bad), strings.Join(bad[:min(5, len(bad))], "\n"))
	}
}

// leavesByPerson is an export's Patients and Immunizations by truth
// person and type, each resource flattened to leaf values "path=value"
// (array indexes left out, extensions named by url), without id, meta
// and the Patient reference (source-scoped).
func leavesByPerson(s *memSink, pidOf map[string]string) map[string][]string {
	person := map[string]string{}
	for k, pid := range pidOf {
		person[pid] = k
	}
	out := map[string][]string{}
	for _, r := range s.res {
		var m map[string]any
		if err := json.Unmarshal([]byte(r.String()), &m); err != nil {
			panic(err)
		}
		pid := r.ID()
		if r.ResourceType() != "Patient" {
			ref, _ := m["patient"].(map[string]any)
			s, _ := ref["reference"].(string)
			pid = strings.TrimPrefix(s, "Patient/")
			delete(m, "patient")
		}
		delete(m, "id")
		delete(m, "meta")
		delete(m, "resourceType")
		k := person[pid] + " " + r.ResourceType()
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch x := v.(type) {
			case map[string]any:
				for _, f := range slices.Sorted(maps.Keys(x)) {
					walk(path+"."+f, x[f])
				}
			case []any:
				for _, e := range x {
					// Extensions are named by url: a difference says which.
					if em, ok := e.(map[string]any); ok && strings.HasSuffix(path, "extension") && em["url"] != nil {
						walk(fmt.Sprintf("%s[%s]", path, em["url"]), e)
						continue
					}
					walk(path+"[]", e)
				}
			default:
				b, _ := json.Marshal(x)
				out[k] = append(out[k], path+"="+string(b))
			}
		}
		walk(r.ResourceType(), m)
	}
	return out
}

// multisetDiff returns what a has more of than b, and b more than a.
func multisetDiff(a, b []string) (onlyA, onlyB []string) {
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for _, s := range slices.Sorted(maps.Keys(n)) {
		for i := 0; i < n[s]; i++ {
			onlyA = append(onlyA, s)
		}
		for i := 0; i < -n[s]; i++ {
			onlyB = append(onlyB, s)
		}
	}
	return onlyA, onlyB
}

// killSink cuts the reader's database connection (or corrupts a SQLite
// file) after the first resource, in the middle of the scan.
type killSink struct {
	*memSink
	kill func()
	done bool
}

func (k *killSink) Resource(r *fhirout.Object) error {
	if !k.done {
		k.done = true
		k.kill()
	}
	return k.memSink.Resource(r)
}

// TestRelationalConnectionLost: a connection lost mid-export fails the
// export with a SourceError naming the source (no DSN); the next export
// reads again.
func TestRelationalConnectionLost(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(dir, synth.Config{Seed: 3, People: 40}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, engine := range sqltest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			db := sqltest.New(t, engine)
			db.Load(t, filepath.Join(dir, "truth.json"))
			cfg := db.Config("iis")
			cfg.BatchSize = 5 // many batches: the cut lands mid-scan
			r, err := sqlsrc.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			x := NewRelational(r, mapping.DefaultSQL(), RelationalOptions{Name: "iis", Workers: 1})
			defer x.Close()
			var kill func()
			switch engine {
			case "mysql":
				kill = func() {
					var ids []int64
					db.Query(t, "SELECT id FROM information_schema.processlist WHERE db = '"+db.Name+"' AND id <> CONNECTION_ID()", func(v any) { ids = append(ids, toInt(v)) })
					for _, id := range ids {
						db.Exec(t, fmt.Sprintf("KILL %d", id))
					}
				}
			case "postgres":
				kill = func() {
					db.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+db.Name+"' AND pid <> pg_backend_pid()")
				}
			default:
				kill = func() {
					// The registry's file is replaced under the reader.
					if err := os.WriteFile(db.DSN, []byte("not a database"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			ks := &killSink{memSink: &memSink{}, kill: kill}
			err = x.Export(ctx, Query{}, ks)
			var se *SourceError
			if !errors.As(err, &se) || se.Source != "iis" || !strings.Contains(se.ClientMessage(), "source iis could not be read") {
				t.Fatalf("export with the connection cut: %v (%T), want a SourceError", err, err)
			}
			if len(ks.res) == 0 || strings.Contains(err.Error(), db.DSN) {
				t.Errorf("error %q: resources before the cut %d", err, len(ks.res))
			}
			if engine == "sqlite" {
				return
			}
			var again memSink
			if err := x.Export(ctx, Query{}, &again); err != nil || len(again.of("Patient")) == 0 {
				t.Errorf("export after the cut: %v, %d Patients", err, len(again.of("Patient")))
			}
		})
	}
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case []byte:
		n, _ := strconv.ParseInt(string(x), 10, 64)
		return n
	}
	return 0
}

type progSink struct {
	memSink
	last [2]int64
}

func (p *progSink) Progress(done, total int64) { p.last = [2]int64{done, total} }

// Progress counts persons against the database's person count.
func TestRelationalProgress(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(dir, synth.Config{Seed: 3, People: 30}); err != nil {
		t.Fatal(err)
	}
	x, _, sum := relWorld(t, "sqlite", filepath.Join(dir, "truth.json"))
	var s progSink
	if err := x.Export(context.Background(), Query{}, &s); err != nil {
		t.Fatal(err)
	}
	n := int64(sum.Persons + sum.Merged)
	if s.last != [2]int64{n, n} {
		t.Errorf("last progress %v, want %d of %d", s.last, n, n)
	}
}

// Rows left under a merged-away person are reported (a warning naming
// the source, the person key and the tables, no values) and, with
// _since, listed deleted with the merged-away Patient.
func TestRelationalRowsLeftUnderMergedPerson(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(dir, synth.Config{Seed: 7, People: 60}); err != nil {
		t.Fatal(err)
	}
	x, db, _ := relWorld(t, "sqlite", filepath.Join(dir, "truth.json"))
	var dup string
	db.Query(t, "SELECT MIN(patient_id) FROM patient_master WHERE merged_into IS NOT NULL", func(v any) { dup = fmt.Sprint(v) })
	db.Exec(t, "UPDATE vaccination_master SET patient_id = "+dup+" WHERE vaccination_id = (SELECT MIN(vaccination_id) FROM vaccination_master WHERE patient_id = (SELECT merged_into FROM patient_master WHERE patient_id = "+dup+"))")
	var s memSink
	if err := x.Export(context.Background(), Query{Since: time.Unix(1, 0)}, &s); err != nil {
		t.Fatal(err)
	}
	var warned bool
	if len(s.issues) != 1 {
		t.Errorf("%d issues, want the one warning", len(s.issues))
	}
	for _, oo := range s.issues {
		if txt := oo.String(); strings.Contains(txt, "still has rows that map to 1 Immunization:") && strings.Contains(txt, `"valueString":"`+dup+`"`) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning for the row left under merged-away person %s", dup)
	}
	dupPatient, dupImm := 0, 0
	for _, d := range s.deleted {
		switch {
		case d == "Patient/"+x.PatientID(dup):
			dupPatient++
		case strings.HasPrefix(d, "Immunization/"):
			dupImm++
		}
	}
	if dupPatient != 1 || dupImm < 1 {
		t.Errorf("deleted %v: want the merged-away Patient and the Immunization left with it", s.deleted)
	}
}

// The default mapping dates each Immunization by its own row
// (meta.lastUpdated from vaccination_master.updated_date): row-level
// _since. A change of one vaccination re-sends that Immunization and the
// Patient, not the person's other Immunizations; a vaccination deleted
// before _since is not listed deleted again when its person changes
// later; one deleted after it is.
func TestRelationalRowLevelSince(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Generate(dir, synth.Config{Seed: 7, People: 60}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, engine := range sqltest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			x, db, _ := relWorld(t, engine, filepath.Join(dir, "truth.json"))
			var pid, vid, deadPid, deadVid, delVid string
			var n int
			one := func(q string, dst *string) { db.Query(t, q, func(v any) { *dst = fmt.Sprint(toInt(v)) }) }
			one("SELECT patient_id FROM vaccination_master WHERE deleted_flag = 'N' GROUP BY patient_id HAVING COUNT(*) > 3 ORDER BY patient_id", &pid)
			one("SELECT MIN(vaccination_id) FROM vaccination_master WHERE patient_id = "+pid, &vid)
			db.Query(t, "SELECT COUNT(*) FROM vaccination_master WHERE patient_id = "+pid, func(v any) { n = int(toInt(v)) })
			// A person with a vaccination soft-deleted long ago, and another
			// vaccination of theirs (live) to change now.
			one("SELECT MIN(patient_id) FROM vaccination_master WHERE deleted_flag = 'Y' AND patient_id <> "+pid, &deadPid)
			one("SELECT MIN(vaccination_id) FROM vaccination_master WHERE deleted_flag = 'N' AND patient_id = "+deadPid, &deadVid)
			// A live vaccination of a third person, deleted now.
			one("SELECT MAX(vaccination_id) FROM vaccination_master WHERE deleted_flag = 'N' AND patient_id NOT IN ("+pid+", "+deadPid+")", &delVid)
			if pid == "" || vid == "" || deadVid == "" || delVid == "" || n < 4 {
				t.Fatalf("the world lacks the rows this test needs: %q %q %q %q %d", pid, vid, deadVid, delVid, n)
			}
			since := time.Now().UTC()
			time.Sleep(10 * time.Millisecond)
			now := "'" + time.Now().UTC().Format("2006-01-02 15:04:05.000000") + "'"
			db.Exec(t,
				"UPDATE vaccination_master SET completion_code = 'R', updated_date = "+now+" WHERE vaccination_id = "+vid,
				"UPDATE vaccination_master SET body_site = 'LA', updated_date = "+now+" WHERE vaccination_id = "+deadVid,
				"UPDATE vaccination_master SET deleted_flag = 'Y', deleted_date = "+now+", updated_date = "+now+" WHERE vaccination_id = "+delVid)
			var s memSink
			if err := x.Export(ctx, Query{Since: since}, &s); err != nil {
				t.Fatal(err)
			}
			if len(s.of("Patient")) != 3 || len(s.of("Immunization")) != 2 {
				t.Errorf("_since after two vaccinations changed and one deleted: %d Patients (want 3), %d Immunizations (want 2; the first person has %d)",
					len(s.of("Patient")), len(s.of("Immunization")), n)
			}
			for _, im := range s.of("Immunization") {
				if lu, _ := time.Parse(time.RFC3339, str(child(im, "meta"), "lastUpdated")); lu.Before(since) {
					t.Errorf("Immunization %s updated %v, before _since", im.ID(), lu)
				}
			}
			if len(s.deleted) != 1 || !strings.HasPrefix(s.deleted[0], "Immunization/") {
				t.Errorf("deleted %v: want only the vaccination deleted after _since", s.deleted)
			}
			var statuses []string
			for _, im := range s.of("Immunization") {
				statuses = append(statuses, str(im, "status"))
			}
			if slices.Sort(statuses); !slices.Equal(statuses, []string{"completed", "not-done"}) {
				t.Errorf("changed Immunizations' status %v", statuses)
			}
		})
	}
}

package main

// End-to-end over a relational source: the generated world loaded into a
// database (SQLite always, MariaDB and PostgreSQL when their DSNs are
// set), served by `serve --config` wiring, driven over HTTP.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/pipeline"
	"github.com/iisbridge/iisbridge/server"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
	"github.com/iisbridge/iisbridge/sources/sql/sqltest"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// sqlWorld generates the test world, loads it into a fresh database on
// engine and writes a server config with the database as `kind: sql`
// source (the DSN through ${IISB_E2E_DSN}, as a secret would be given),
// plus the archive too when withArchive.
func sqlWorld(t *testing.T, engine string, withArchive bool) (*synth.Truth, *sqltest.DB, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	world, truth, _ := genWorld(t, dir)
	db := sqltest.New(t, engine)
	db.Load(t, filepath.Join(world, "truth.json"))
	env := "IISB_E2E_DSN_" + strings.ToUpper(db.Name) // one per test: they run in parallel
	os.Setenv(env, db.DSN)
	t.Cleanup(func() { os.Unsetenv(env) })
	yml := fmt.Sprintf(`data_dir: %s
sources:
  - name: iis
    kind: sql
    driver: %s
    dsn: "${%s}"
    memberships: default
`, filepath.Join(dir, "data"), db.Driver, env)
	if withArchive {
		yml += fmt.Sprintf("  - name: archive\n    kind: v2archive\n    paths: [%q]\n", filepath.Join(world, "*.hl7*"))
	}
	p := filepath.Join(dir, "iisbridge.yaml")
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return truth, db, cfg
}

func TestEndToEndSQL(t *testing.T) {
	for _, engine := range sqltest.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			truth, db, cfg := sqlWorld(t, engine, false)
			_, c, _ := startBridge(t, cfg, false)
			merged := 0
			for i := range truth.Persons {
				if sqlMergedAway(&truth.Persons[i]) {
					merged++
				}
			}

			// 1. System export: the truth, read from the database.
			_, m := c.export("/$export", nil)
			tt, err := time.Parse(time.RFC3339, m.TransactionTime)
			if err != nil || time.Since(tt) > time.Hour || time.Until(tt) > time.Minute {
				t.Errorf("transactionTime %q: want the database snapshot's time, now", m.TransactionTime)
			}
			res := c.fetch(m)
			pats := res.byType["Patient"]
			if len(pats) != len(truth.Persons) {
				t.Errorf("%d Patients, truth has %d persons", len(pats), len(truth.Persons))
			}
			pidOf := matchPatients(t, truth.Persons, pats)
			deleted := checkDoses(t, truth.Persons, pidOf, res.byType["Immunization"])
			if len(res.issues) != 0 {
				t.Errorf("%d OperationOutcomes for a clean database", len(res.issues))
			}

			// 2. _since before all data: the same, with the deletions:
			// soft-deleted vaccinations and merged-away Patients.
			_, ms := c.export("/$export", url.Values{"_since": {"2000-01-01T00:00:00Z"}})
			rs := c.fetch(ms)
			var delImm, delPat int
			for _, d := range rs.deleted {
				if strings.HasPrefix(d, "Immunization/") {
					delImm++
				} else if strings.HasPrefix(d, "Patient/") {
					delPat++
					if slices.Contains(slices.Collect(maps.Values(pidOf)), strings.TrimPrefix(d, "Patient/")) {
						t.Errorf("deleted %s is a live Patient", d)
					}
				}
			}
			if delImm != deleted || delPat != merged || merged == 0 || deleted == 0 {
				t.Errorf("_since export deleted %d Immunizations (truth %d), %d Patients (merged-away %d)", delImm, deleted, delPat, merged)
			}
			if len(rs.byType["Immunization"]) != len(res.byType["Immunization"]) {
				t.Errorf("_since export: %d Immunizations, without _since %d", len(rs.byType["Immunization"]), len(res.byType["Immunization"]))
			}

			// 3. _type, _typeFilter, _elements.
			_, mt := c.export("/$export", url.Values{"_type": {"Immunization"},
				"_typeFilter": {"Immunization?status=not-done"}, "_elements": {"status,vaccineCode"}})
			rt := c.fetch(mt)
			if len(rt.byType) != 1 || len(rt.byType["Immunization"]) == 0 {
				t.Fatalf("_type=Immunization&_typeFilter: types %v", slices.Collect(maps.Keys(rt.byType)))
			}
			for _, im := range rt.byType["Immunization"] {
				if str(im, "status") != "not-done" || im["lotNumber"] != nil || im["location"] != nil || obj(im, "vaccineCode") == nil {
					t.Errorf("filtered Immunization %v", im)
					break
				}
			}

			// 4. Patient-level with `patient`: those persons only.
			p1, p2 := pidOf[truth.Persons[0].Key], pidOf[truth.Persons[3].Key]
			_, mp := c.exportPost("/Patient/$export",
				map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + p1}},
				map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + p2}})
			rp := c.fetch(mp)
			var gotP []string
			for _, pt := range rp.byType["Patient"] {
				gotP = append(gotP, str(pt, "id"))
			}
			slices.Sort(gotP)
			want := []string{p1, p2}
			slices.Sort(want)
			if !slices.Equal(gotP, want) {
				t.Errorf("patient= export: Patients %v, want %v", gotP, want)
			}
			resp, body := c.send(http.MethodPost, c.base+"/Patient/$export", mustJSON(t, map[string]any{"resourceType": "Parameters", "parameter": []any{
				map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/nobody-here"}}}}),
				"Accept", "application/fhir+json", "Prefer", "respond-async", "Content-Type", "application/fhir+json")
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("patient= naming no Patient: %d %s", resp.StatusCode, body)
			}

			// 5. Groups learned from the submitters (patient_reported).
			org := truth.Links[0].OrgKey
			resp, body = c.do(http.MethodGet, c.base+"/Group?"+url.Values{"identifier": {server.GroupIdentifierSystem + "|" + org}}.Encode(), "Accept", "application/fhir+json")
			var bundle map[string]any
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &bundle) != nil || len(arr(bundle, "entry")) != 1 {
				t.Fatalf("Group search by identifier %s: %d %s", org, resp.StatusCode, body)
			}
			gid := str(obj(arr(bundle, "entry")[0], "resource"), "id")
			var wantMembers []string
			for _, l := range truth.Links {
				if l.OrgKey == org {
					wantMembers = append(wantMembers, pidOf[l.Person])
				}
			}
			_, mg := c.export("/Group/"+gid+"/$export", url.Values{"_type": {"Patient"}})
			var gotMembers []string
			for _, pt := range c.fetch(mg).byType["Patient"] {
				gotMembers = append(gotMembers, str(pt, "id"))
			}
			slices.Sort(gotMembers)
			slices.Sort(wantMembers)
			if !slices.Equal(gotMembers, slices.Compact(wantMembers)) {
				t.Errorf("Group %s export: %d Patients %v, want %d %v", org, len(gotMembers), gotMembers, len(wantMembers), wantMembers)
			}

			// 6. The registry changes: a vaccination soft-deleted, a person
			// renamed, a vaccination row with an unreadable date. A _since
			// export from the last transactionTime has exactly those.
			time.Sleep(20 * time.Millisecond)
			now := "'" + time.Now().UTC().Format("2006-01-02 15:04:05.000000") + "'"
			renamed, _ := sqlPatientID(truth.Persons[1].Key)
			var vacc, vaccPerson any
			db.Query(t, "SELECT MIN(vaccination_id) FROM vaccination_master WHERE deleted_flag = 'N'", func(v any) { vacc = v })
			db.Query(t, fmt.Sprintf("SELECT patient_id FROM vaccination_master WHERE vaccination_id = %v", vacc), func(v any) { vaccPerson = v })
			// A person soft-deleted: their Patient and Immunizations go.
			var gone string
			for _, tp := range truth.Persons[2:] {
				if tp.Key != personOfSQL(t, truth, vaccPerson) && len(tp.Doses) > 0 {
					gone = tp.Key
					break
				}
			}
			goneID, _ := sqlPatientID(gone)
			wantDeleted := []string{"Patient/" + pidOf[gone]}
			for _, im := range res.byType["Immunization"] {
				if str(obj(im, "patient"), "reference") == "Patient/"+pidOf[gone] {
					wantDeleted = append(wantDeleted, "Immunization/"+str(im, "id"))
				}
			}
			db.Exec(t,
				fmt.Sprintf("UPDATE patient_master SET deleted_flag = 'Y', updated_date = %s WHERE patient_id = %d", now, goneID),
				fmt.Sprintf("UPDATE vaccination_master SET deleted_flag = 'Y', deleted_date = %s, updated_date = %s WHERE vaccination_id = %v", now, now, vacc),
				fmt.Sprintf("UPDATE patient_master SET patient_name_last = 'RENAMED', updated_date = %s WHERE patient_id = %d", now, renamed),
				fmt.Sprintf("INSERT INTO vaccination_master (vaccination_id, patient_id, vaccination_external_link, administered_date, vaccine_cvx_code, completion_code, org_id, filler_order_id, action_code, deleted_flag, reported_date, updated_date) "+
					"VALUES (999999, %d, 'BAD-1', '31-FOO-2020', '08', 'CP', 2, 'F-BAD', 'A', 'N', %s, %s)", renamed, now, now),
			)
			_, mi := c.export("/$export", url.Values{"_since": {m.TransactionTime}})
			ri := c.fetch(mi)
			var changed []string
			for _, pt := range ri.byType["Patient"] {
				changed = append(changed, str(pt, "id"))
				if str(pt, "id") == pidOf[truth.Persons[1].Key] && str(arr(pt, "name")[0], "family") != "RENAMED" {
					t.Errorf("renamed Patient: %v", arr(pt, "name")[0])
				}
			}
			slices.Sort(changed)
			wantChanged := []string{pidOf[truth.Persons[1].Key], pidOf[personOfSQL(t, truth, vaccPerson)]}
			slices.Sort(wantChanged)
			if !slices.Equal(changed, slices.Compact(wantChanged)) {
				t.Errorf("_since=%s: Patients %v, want the two changed %v", m.TransactionTime, changed, wantChanged)
			}
			// Deleted: the soft-deleted vaccination and the soft-deleted
			// person with their Immunizations.
			var others []string
			for _, d := range ri.deleted {
				if !slices.Contains(wantDeleted, d) {
					others = append(others, d)
				}
			}
			if len(others) != 1 || !strings.HasPrefix(others[0], "Immunization/") || len(ri.deleted) != len(wantDeleted)+1 {
				t.Errorf("_since=%s: deleted %v, want the soft-deleted vaccination and %v", m.TransactionTime, ri.deleted, wantDeleted)
			}
			if _, mp := c.export("/$export", url.Values{"_type": {"Patient"}}); true {
				for _, pt := range c.fetch(mp).byType["Patient"] {
					if str(pt, "id") == pidOf[gone] {
						t.Errorf("soft-deleted person %s still exported", gone)
					}
				}
			}
			// The bad row: an error naming source, table, key and column,
			// never the value.
			var found bool
			raw, _ := json.Marshal(ri.issues)
			for _, oo := range ri.issues {
				for _, is := range arr(oo, "issue") {
					l := issueLoc(is)
					if l.control == "999999" && strings.Contains(l.file+l.field, "immunizations") && strings.Contains(l.field+l.file, "administered_date") {
						found = true
					}
				}
			}
			if !found || bytes.Contains(raw, []byte("FOO")) {
				t.Errorf("error file for the bad row (found %v): %s", found, raw)
			}

			// 7. The database fails under the server (a table dropped; a
			// connection cut mid-scan is TestRelationalConnectionLost's):
			// that export fails with a clear status; the server stays up.
			db.Exec(t, "DROP TABLE vaccination_master")
			code, body := c.rawExport("")
			if code != http.StatusInternalServerError || !bytes.Contains(body, []byte("source iis could not be read")) || bytes.Contains(body, []byte(db.DSN)) {
				t.Errorf("export of a database gone: %d %s", code, body)
			}
			if resp, _ := c.do(http.MethodGet, c.base+"/metadata", "Accept", "application/fhir+json"); resp.StatusCode != http.StatusOK {
				t.Errorf("after a failed export, /metadata answers %d", resp.StatusCode)
			}
		})
	}
}

// The archive and the database of the same world in one server: each
// person twice (two sources, ids that cannot collide), and a `patient`
// export routes each id to its source.
func TestEndToEndArchiveAndSQL(t *testing.T) {
	t.Parallel()
	truth, _, cfg := sqlWorld(t, "sqlite", true)
	_, c, _ := startBridge(t, cfg, false)
	_, m := c.export("/$export", url.Values{"_type": {"Patient"}})
	pats := c.fetch(m).byType["Patient"]
	if len(pats) != 2*len(truth.Persons) {
		t.Fatalf("%d Patients from the archive and the database, want %d", len(pats), 2*len(truth.Persons))
	}
	// The same SR id on two Patients: one per source.
	byKey := map[string][]string{}
	for _, pt := range pats {
		for _, k := range identifierKeys(pt) {
			if strings.HasPrefix(k, "SR|") {
				byKey[k] = append(byKey[k], str(pt, "id"))
			}
		}
	}
	var pair []string
	for _, ids := range byKey {
		if len(ids) != 2 || ids[0] == ids[1] {
			t.Fatalf("an SR id on Patients %v, want two distinct (one per source)", ids)
		}
		pair = ids
	}
	_, mp := c.exportPost("/Patient/$export",
		map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + pair[0]}},
		map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + pair[1]}},
		map[string]any{"name": "_type", "valueString": "Patient"})
	var got []string
	for _, pt := range c.fetch(mp).byType["Patient"] {
		got = append(got, str(pt, "id"))
	}
	slices.Sort(got)
	slices.Sort(pair)
	if !slices.Equal(got, pair) {
		t.Errorf("patient= over both sources: %v, want %v", got, pair)
	}
}

func sqlMergedAway(p *synth.Person) bool { return sqlsrc.MergedAway(p) }

func sqlPatientID(key string) (int, error) { return sqlsrc.PatientID(key) }

// personOfSQL is the truth person whose patient_master key is v.
func personOfSQL(t *testing.T, truth *synth.Truth, v any) string {
	t.Helper()
	want := fmt.Sprint(v)
	if b, ok := v.([]byte); ok {
		want = string(b)
	}
	for _, tp := range truth.Persons {
		if id, _ := sqlsrc.PatientID(tp.Key); fmt.Sprint(id) == want {
			return tp.Key
		}
	}
	t.Fatalf("no truth person has patient_id %s", want)
	return ""
}

// A database that does not answer at start-up is logged, not fatal, and
// neither the log nor an export's status carries the DSN's secret.
func TestSQLSourceDownAtStartNoSecret(t *testing.T) {
	t.Setenv("IISB_TEST_PW", "pw-s3cr3t-42")
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	os.WriteFile(p, []byte(`sources:
  - name: iis
    kind: sql
    driver: mysql
    dsn: "reader:${IISB_TEST_PW}@tcp(127.0.0.1:1)/iis?timeout=2s"
`), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	rels, err := openRelational(t.Context(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || len(rels) != 1 {
		t.Fatalf("openRelational: %v, %d sources", err, len(rels))
	}
	defer rels[0].Close()
	if !strings.Contains(logs.String(), "does not answer") || strings.Contains(logs.String(), "pw-s3cr3t-42") {
		t.Errorf("start-up log: %s", logs.String())
	}
	err = rels[0].Export(t.Context(), pipeline.Query{}, discardSink{})
	var se *pipeline.SourceError
	if !errors.As(err, &se) || strings.Contains(err.Error(), "pw-s3cr3t-42") || strings.Contains(se.ClientMessage(), "127.0.0.1") {
		t.Errorf("export of a database down: %v", err)
	}
}

type discardSink struct{}

func (discardSink) Resource(*fhirout.Object) error          { return nil }
func (discardSink) Deleted(string, string, time.Time) error { return nil }
func (discardSink) Issue(*fhirout.Object) error             { return nil }

// An edited relational mapping is taken by the next export after a
// reload; an invalid one is refused and the running one kept.
func TestReloadRelationalMapping(t *testing.T) {
	_, db, _ := sqlWorld(t, "sqlite", false)
	dir := t.TempDir()
	if err := os.CopyFS(dir, mapping.DefaultFS()); err != nil {
		t.Fatal(err)
	}
	mapFile := filepath.Join(dir, "sql.yaml")
	cfgFile := filepath.Join(dir, "iisbridge.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("data_dir: %s\nsources:\n  - name: iis\n    kind: sql\n    driver: sqlite\n    dsn: %q\n    mapping: %s\n",
		filepath.Join(dir, "data"), db.DSN, mapFile)), 0o600)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	b, c, _ := startBridge(t, cfg, false)
	profile := func() string {
		_, m := c.export("/$export", url.Values{"_type": {"Patient"}})
		pats := c.fetch(m).byType["Patient"]
		return fmt.Sprint(arr(obj(pats[0], "meta"), "profile"))
	}
	if p := profile(); !strings.Contains(p, "us-core-patient") || strings.Contains(p, "edited") {
		t.Fatalf("profile before the edit: %s", p)
	}
	text, _ := os.ReadFile(mapFile)
	os.WriteFile(mapFile, bytes.Replace(text, []byte("StructureDefinition/us-core-patient"), []byte("StructureDefinition/us-core-patient-edited"), 1), 0o600)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b.reload(t.Context(), serveOptions{cfgPath: cfgFile}, log)
	if p := profile(); !strings.Contains(p, "us-core-patient-edited") {
		t.Errorf("profile after the reload: %s (log: %s)", p, logs.String())
	}
	os.WriteFile(mapFile, []byte("source: sql\nresources: [oops\n"), 0o600)
	logs.Reset()
	b.reload(t.Context(), serveOptions{cfgPath: cfgFile}, log)
	if p := profile(); !strings.Contains(p, "us-core-patient-edited") || !strings.Contains(logs.String(), "reload refused") {
		t.Errorf("after an invalid mapping: %s (log: %s)", p, logs.String())
	}
}

package sql

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// dump writes a record out whole: every row, every column, NULLs marked.
func dump(rec *Record) string {
	var b strings.Builder
	row := func(r *Row) {
		fmt.Fprintf(&b, "  %s %s deleted=%v", r.Table, r.Key, r.Deleted)
		for _, c := range r.Columns() {
			if v, ok := r.Column(c); ok {
				fmt.Fprintf(&b, " %s=%q", c, v)
			} else {
				fmt.Fprintf(&b, " %s=NULL", c)
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%s %s deleted=%v merged=%q modified=%s problems=%v\n", rec.Locator(), rec.Key, rec.Deleted, rec.MergedInto, rec.Modified.Format(time.RFC3339Nano), rec.Problems)
	row(rec.Person)
	for _, m := range []map[string][]*Row{rec.Children, rec.Lookups} {
		names := slices.Sorted(maps.Keys(m))
		for _, n := range names {
			for _, r := range m[n] {
				row(r)
			}
		}
	}
	return b.String()
}

var (
	worldOnce  sync.Once
	worldTruth string
	worldErr   error
)

// demoTruth generates the demo world (seed 1, 200 people) once per test
// binary and returns its truth.json.
func demoTruth(t testing.TB) string {
	worldOnce.Do(func() {
		dir, err := makeTemp()
		if err != nil {
			worldErr = err
			return
		}
		if _, err := synth.Generate(dir, synth.Config{Seed: 1}); err != nil {
			worldErr = err
			return
		}
		worldTruth = filepath.Join(dir, "truth.json")
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return worldTruth
}

// row-level projection of a person, built from the truth and from the
// database alike.
type rowPerson struct {
	Key, IISID, BirthDate, Sex, Phone, Mother string
	Twin                                      bool
	Race, Ethnicity                           string
	Name                                      synth.Name
	FormerNames                               []synth.Name
	Address                                   synth.Address
	FormerAddresses                           []synth.Address
	IDs                                       []synth.FacilityID
	Registry                                  string // status|date
	Guardian                                  *synth.Guardian
	Doses                                     []rowDose
}

type rowDose struct {
	Key, CVX, Date, Facility, Filler, Status, Completion, Lot, MVX, Refusal string
	Primary, Updated                                                        bool
	DeletedAt                                                               string
	Admin                                                                   *synth.Administration
}

func truthProjection(p *synth.Person) rowPerson {
	rp := rowPerson{Key: p.Key, IISID: p.IISID, BirthDate: p.BirthDate, Sex: p.Sex, Phone: p.Phone,
		Name: p.Name, FormerNames: p.FormerNames, Address: p.Address, FormerAddresses: p.FormerAddresses, IDs: p.IDs}
	rp.Mother = p.MothersMaidenName
	rp.Twin = p.Twin != ""
	rp.Race, rp.Ethnicity = p.Race, p.Ethnicity
	rp.Registry = p.RegistryStatus + "|" + p.RegistryDate
	if g := p.Guardian; g != nil {
		gg := *g
		gg.Address.County = "" // the schema keeps none (the v2 mapping does not map NK1-4.9)
		rp.Guardian = &gg
	}
	for _, d := range p.Doses {
		rd := rowDose{Key: d.Key, CVX: d.CVX, Date: d.Date, Facility: d.Facility, Filler: d.Filler, Status: d.Status,
			Completion: d.Completion, Lot: d.Lot, MVX: d.MVX, Refusal: d.RefusalReason, Primary: d.PrimarySource, Updated: d.Updated,
			Admin: d.Administration}
		if d.DeletedAt != nil {
			rd.DeletedAt = d.DeletedAt.UTC().Format(time.RFC3339)
		}
		rp.Doses = append(rp.Doses, rd)
	}
	return rp
}

var (
	sexFromCode        = map[string]string{"1": "F", "2": "M", "9": "U"}
	completionFromCode = map[string]string{"C": "CP", "R": "RE", "N": "NA", "P": "PA"}
)

func col(r *Row, name string) string { v, _ := r.Column(name); return v }

func dbProjection(t testing.TB, rec *Record) rowPerson {
	p := rec.Person
	rp := rowPerson{Key: col(p, "patient_external_link"), BirthDate: col(p, "patient_birth_date"), Sex: sexFromCode[col(p, "patient_sex")],
		Name: synth.Name{Family: col(p, "patient_name_last"), Given: col(p, "patient_name_first"), Middle: col(p, "patient_name_middle")}}
	for _, a := range rec.Children["aliases"] {
		rp.FormerNames = append(rp.FormerNames, synth.Name{Family: col(a, "alias_name_last"), Given: col(a, "alias_name_first"), Middle: col(a, "alias_name_middle")})
	}
	for _, a := range rec.Children["addresses"] {
		ad := synth.Address{Line: col(a, "address_line1"), City: col(a, "address_city"), State: col(a, "address_state"),
			Zip: col(a, "address_zip"), Country: col(a, "address_country"), County: col(a, "address_county_parish")}
		if col(a, "address_status") == "C" {
			rp.Address = ad
		} else {
			rp.FormerAddresses = append(rp.FormerAddresses, ad)
		}
	}
	for _, ph := range rec.Children["phones"] {
		rp.Phone = col(ph, "phone_number")
	}
	for _, id := range rec.Children["identifiers"] {
		if col(id, "id_type") == "SR" {
			rp.IISID = col(id, "id_value")
		} else {
			rp.IDs = append(rp.IDs, synth.FacilityID{Facility: col(id, "id_authority"), MRN: col(id, "id_value")})
		}
	}
	rp.Mother = col(p, "patient_mother_maiden")
	rp.Twin = col(p, "patient_birth_flag") == "Y" && col(p, "patient_birth_order") != ""
	rp.Race, rp.Ethnicity = col(p, "patient_race"), col(p, "patient_ethnicity")
	rp.Registry = col(p, "registry_status_indicator") + "|" + col(p, "registry_status_indicator_date")
	for _, g := range rec.Children["guardians"] {
		if m := col(g, "guardian_maiden"); m != rp.Mother {
			t.Errorf("%s: guardian's maiden name differs from the person's mother's maiden name", rp.Key)
		}
		if rp.Guardian != nil {
			t.Errorf("%s: more than one guardian row", rp.Key)
		}
		rp.Guardian = &synth.Guardian{Family: col(g, "guardian_last"), Given: col(g, "guardian_first"), Relationship: col(g, "guardian_relationship"),
			Address: synth.Address{Line: col(g, "guardian_address_line1"), City: col(g, "guardian_city"), State: col(g, "guardian_state"),
				Zip: col(g, "guardian_zip"), Country: col(g, "guardian_country")}, Phone: col(g, "guardian_phone")}
	}
	providers := map[string]map[string]*Row{}
	for _, name := range []string{"administered_by", "ordered_by"} {
		providers[name] = map[string]*Row{}
		for _, r := range rec.Lookups[name] {
			providers[name][r.Key] = r
		}
	}
	lots, orgs := map[string]*Row{}, map[string]*Row{}
	for _, l := range rec.Lookups["lots"] {
		lots[l.Key] = l
	}
	for _, o := range rec.Lookups["facilities"] {
		orgs[o.Key] = o
	}
	for _, v := range rec.Children["immunizations"] {
		d := rowDose{Key: col(v, "vaccination_external_link"), CVX: col(v, "vaccine_cvx_code"), Date: col(v, "administered_date"),
			Filler: col(v, "filler_order_id"), Completion: completionFromCode[col(v, "completion_code")], Refusal: col(v, "refusal_reason"),
			Primary: col(v, "information_source") == "00", Updated: col(v, "action_code") == "U"}
		if o := orgs[col(v, "org_id")]; o != nil {
			d.Facility = col(o, "org_code")
		}
		if id, ok := v.Column("lot_id"); ok {
			if l := lots[id]; l != nil {
				d.Lot, d.MVX = col(l, "lot_number"), col(l, "mvx_code")
			} else {
				t.Errorf("%s: lot %s not looked up", d.Key, id)
			}
		}
		if amount, ok := v.Column("administered_amount"); ok {
			a := &synth.Administration{Amount: amount, Unit: col(v, "administered_unit"), Route: col(v, "body_route"), Site: col(v, "body_site"),
				Eligibility: col(v, "funding_eligibility"), Funding: col(v, "funding_source")}
			given, ordered := providers["administered_by"][col(v, "administering_provider")], providers["ordered_by"][col(v, "ordering_provider")]
			if given == nil || ordered == nil || col(given, "provider_npi") != col(ordered, "provider_npi") {
				t.Errorf("%s: administering and ordering provider rows not looked up alike", d.Key)
			} else {
				a.Provider = col(given, "provider_npi")
			}
			if pres, ok := v.Column("vis_presented_date"); ok {
				a.VIS = &synth.VIS{Document: col(v, "vis_document_code"), VaccineType: col(v, "vis_vaccine_type"),
					Published: col(v, "vis_publication_date"), Presented: pres}
			}
			d.Admin = a
		}
		switch {
		case v.Deleted:
			d.Status = "entered-in-error"
			at, err := time.Parse(time.RFC3339Nano, col(v, "deleted_date"))
			if err != nil {
				t.Errorf("%s: deleted_date %q: %v", d.Key, col(v, "deleted_date"), err)
			}
			d.DeletedAt = at.Format(time.RFC3339)
		case d.Completion == "CP":
			d.Status = "completed"
		default:
			d.Status = "not-done"
		}
		rp.Doses = append(rp.Doses, d)
	}
	return rp
}

func loadDemo(t testing.TB, tdb *testDB) *LoadSummary {
	t.Helper()
	sum, err := Load(context.Background(), tdb.db, tdb.d, demoTruth(t))
	if err != nil {
		t.Fatalf("%s: load: %v", tdb.name, err)
	}
	return sum
}

// TestWorldRoundTrip: the generated world read back equals the synthetic
// truth row for row (persons, names, addresses, identifiers, doses with
// their updates and deletes, merged-away duplicates), on every engine, at
// several batch sizes; every row read is accounted for.
func TestWorldRoundTrip(t *testing.T) {
	truth, err := synth.ReadTruth(demoTruth(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rowPerson{}
	wantMerged := map[string]string{}
	var sawUpdated, sawDeleted bool
	for i := range truth.Persons {
		p := &truth.Persons[i]
		want[p.Key] = truthProjection(p)
		if MergedAway(p) {
			wantMerged[p.Key+"-DUP"] = p.Key
		}
		for _, d := range p.Doses {
			sawUpdated = sawUpdated || d.Updated
			sawDeleted = sawDeleted || d.DeletedAt != nil
		}
	}
	if !sawUpdated || !sawDeleted || len(wantMerged) == 0 {
		t.Fatalf("the demo world lacks updates (%v), deletes (%v) or merges (%d)", sawUpdated, sawDeleted, len(wantMerged))
	}
	dumps := map[string]string{} // engine → every record, every column
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			sum := loadDemo(t, tdb)
			if sum.Persons != len(truth.Persons) || sum.Merged != len(wantMerged) {
				t.Fatalf("loaded %d persons, %d merged; truth %d, %d", sum.Persons, sum.Merged, len(truth.Persons), len(wantMerged))
			}
			for _, batch := range []int{1000, 7, 1} {
				r, err := Open(tdb.config(batch))
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]rowPerson{}
				gotMerged := map[string]string{}
				keyOf := map[string]string{} // patient_id → external link
				var prev int
				var problems []Problem
				res, err := r.Scan(context.Background(), ScanOptions{OnProblem: func(p Problem) { problems = append(problems, p) }}, func(rec *Record) error {
					id := mustAtoi(t, rec.Key)
					if id <= prev {
						t.Errorf("batch %d: key %d after %d: not in key order", batch, id, prev)
					}
					prev = id
					if batch == 7 {
						dumps[engine] += dump(rec)
					}
					link := col(rec.Person, "patient_external_link")
					keyOf[rec.Key] = link
					if rec.MergedInto != "" {
						gotMerged[link] = rec.MergedInto
						return nil
					}
					if rec.Deleted {
						t.Errorf("%s: soft-deleted", link)
					}
					got[link] = dbProjection(t, rec)
					return nil
				})
				r.Close()
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				if len(problems) > 0 {
					t.Errorf("batch %d: problems %v", batch, problems)
				}
				for dup, into := range gotMerged {
					gotMerged[dup] = keyOf[into]
				}
				if !reflect.DeepEqual(gotMerged, wantMerged) {
					t.Errorf("batch %d: merged %v, want %v", batch, gotMerged, wantMerged)
				}
				if len(got) != len(want) {
					t.Errorf("batch %d: %d persons, want %d", batch, len(got), len(want))
				}
				for k, w := range want {
					if g := got[k]; !reflect.DeepEqual(g, w) {
						gj, _ := json.Marshal(g)
						wj, _ := json.Marshal(w)
						t.Errorf("batch %d: person %s differs:\n got %s\nwant %s", batch, k, gj, wj)
						break
					}
				}
				// Every row of every table read is accounted for.
				tables := map[string]string{"persons": "patient_master", "aliases": "patient_alias", "addresses": "patient_address",
					"phones": "patient_phone", "identifiers": "patient_identifier", "guardians": "patient_guardian",
					"immunizations": "vaccination_master", "reports": "patient_reported"}
				for name, table := range tables {
					st := res.Tables[name]
					if n := tdb.count(t, table); st.Read != n || st.Yielded+st.Orphans != st.Read || st.Orphans != 0 {
						t.Errorf("batch %d: %s: %+v, table holds %d", batch, name, *st, n)
					}
				}
				if res.Persons != int64(len(want)+len(wantMerged)) {
					t.Errorf("batch %d: %d persons scanned", batch, res.Persons)
				}
				if res.TransactionTime.IsZero() || res.TransactionTime.Location() != time.UTC || time.Since(res.TransactionTime) > time.Hour || time.Until(res.TransactionTime) > time.Hour {
					t.Errorf("transactionTime %v is not the database's now", res.TransactionTime)
				}
			}
		})
	}
	// The same world reads back the same on every engine, column for column.
	if dumps["sqlite"] == "" {
		t.Fatal("nothing read to compare")
	}
	for engine, d := range dumps {
		t.Logf("%s: %d bytes read back", engine, len(d))
		if d != dumps["sqlite"] {
			a, b := strings.Split(dumps["sqlite"], "\n"), strings.Split(d, "\n")
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Errorf("%s reads differently from sqlite at line %d:\n  sqlite: %s\n  %s: %s", engine, i+1, a[i], engine, b[i])
					break
				}
			}
			if len(a) != len(b) {
				t.Errorf("%s: %d lines, sqlite %d", engine, len(b), len(a))
			}
		}
	}
}

// TestLoadAnalyzes: a loaded world has its statistics (a PostgreSQL whose
// autovacuum is off would otherwise plan every batch blind); MariaDB's
// InnoDB keeps them itself, so only SQLite and PostgreSQL can tell.
func TestLoadAnalyzes(t *testing.T) {
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			var q string
			switch engine {
			case "sqlite":
				q = "SELECT COUNT(DISTINCT tbl) FROM sqlite_stat1"
			case "postgres":
				q = "SELECT COUNT(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL"
			default:
				t.Skip("MariaDB/MySQL keep InnoDB statistics themselves")
			}
			var n int
			if err := tdb.db.QueryRow(q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n < len(Tables()) {
				t.Errorf("%d of %d tables have statistics after Load", n, len(Tables()))
			}
		})
	}
}

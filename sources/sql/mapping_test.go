package sql

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// fhirPerson is what the default mappings say of a person, in the terms
// the truth can check: identifiers as system|value, names, and so on,
// and each dose by its filler id.
type fhirPerson struct {
	Identifiers []string
	Names       []string // use|family|given given
	Gender      string
	BirthDate   string
	Addresses   []string // use|line|city|district|state|zip|country
	Telecom     []string
	Mother      string
	Race        string // CDCREC code|text
	Ethnicity   string
	BirthOrder  int
	Doses       map[string]fhirDose
}

type fhirDose struct {
	ID                         string // filler id system|value
	Status, CVX, CVXDisplay    string
	Date, Lot, MVX, Location   string
	Expiration                 string
	Primary                    string // true, false, or absent (data-absent-reason)
	Origin, Refusal, ActReason string
	PatientRef                 string
	HasProfile, HasVaccineText bool
}

// sid is the v2 mapping's identifier system for ids without a URI.
const sid = "http://iisbridge.dev/fhir/sid/"

func truthFHIR(p *synth.Person, patient string) fhirPerson {
	fp := fhirPerson{Gender: map[string]string{"F": "female", "M": "male", "U": "unknown"}[p.Sex], BirthDate: p.BirthDate,
		Mother: p.MothersMaidenName, Doses: map[string]fhirDose{}}
	// The text is the code's CDCREC display (the generator sends it).
	races := map[string]string{"2106-3": "White", "2054-5": "Black or African American", "2028-9": "Asian",
		"1002-5": "American Indian or Alaska Native", "2076-8": "Native Hawaiian or Other Pacific Islander", "2131-1": "Other Race",
		"2186-5": "Not Hispanic or Latino", "2135-2": "Hispanic or Latino"}
	fp.Race, fp.Ethnicity = p.Race+"|"+races[p.Race], p.Ethnicity+"|"+races[p.Ethnicity]
	if p.IISID != "" {
		fp.Identifiers = append(fp.Identifiers, sid+"authority/stateiis|"+p.IISID)
	}
	for _, id := range p.IDs {
		f := strings.ToLower(id.Facility)
		fp.Identifiers = append(fp.Identifiers, sid+"sender/"+f+"/"+f+"|"+id.MRN)
	}
	name := func(use string, n synth.Name) string {
		return strings.TrimSpace(use + "|" + n.Family + "|" + strings.TrimSpace(n.Given+" "+n.Middle))
	}
	fp.Names = append(fp.Names, name("official", p.Name))
	for _, n := range p.FormerNames {
		fp.Names = append(fp.Names, name("old", n))
	}
	addr := func(use string, a synth.Address) string {
		return strings.Join([]string{use, a.Line, a.City, a.County, a.State, a.Zip, a.Country}, "|")
	}
	fp.Addresses = append(fp.Addresses, addr("", p.Address))
	for _, a := range p.FormerAddresses {
		fp.Addresses = append(fp.Addresses, addr("old", a))
	}
	if p.Phone != "" {
		fp.Telecom = append(fp.Telecom, "phone|"+p.Phone+"|home")
	}
	if p.Twin != "" {
		fp.BirthOrder = 2
		if p.Key < p.Twin {
			fp.BirthOrder = 1
		}
	}
	for _, d := range p.Doses {
		fd := fhirDose{ID: sid + "sender/" + strings.ToLower(d.Facility) + "/fill|" + d.Filler, Status: d.Status,
			CVX: d.CVX, Date: d.Date, Lot: d.Lot, MVX: d.MVX, Expiration: d.Expiration, PatientRef: "Patient/" + patient, HasProfile: true, HasVaccineText: true}
		switch {
		case d.Completion != "CP":
			fd.Primary = "absent" // nothing administered: no information source
		case d.PrimarySource:
			fd.Primary, fd.Location = "true", d.Facility
		default:
			fd.Primary, fd.Origin = "false", "01"
		}
		if d.Status == "not-done" {
			fd.Refusal = d.RefusalReason
			fd.ActReason = map[string]string{"00": "PATOBJ", "01": "RELIG", "03": "PATOBJ", "": "PATOBJ"}[d.RefusalReason]
			if d.Completion == "NA" {
				fd.ActReason = ""
			}
		}
		fp.Doses[d.Filler] = fd
	}
	return fp
}

// mappedFHIR reads the mapped resources back into the same terms.
func mappedFHIR(t *testing.T, res []*fhirout.Object) fhirPerson {
	fp := fhirPerson{Doses: map[string]fhirDose{}}
	for _, o := range res {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ResourceType string
			Meta         struct{ Profile []string }
			Identifier   []struct{ System, Value string }
			Name         []struct {
				Use, Family string
				Given       []string
			}
			Gender, BirthDate    string
			MultipleBirthInteger int
			Address              []struct {
				Use, City, District, State, PostalCode, Country string
				Line                                            []string
			}
			Telecom   []struct{ System, Value, Use string }
			Extension []struct {
				URL, ValueString string
				Extension        []struct {
					URL, ValueString string
					ValueCoding      struct{ Code string }
				}
			}
			// Immunization
			Status       string
			StatusReason struct {
				Coding []struct{ System, Code string }
			}
			VaccineCode struct {
				Coding []struct{ System, Code, Display string }
				Text   string
			}
			Patient            struct{ Reference string }
			OccurrenceDateTime string
			PrimarySource      *bool
			PrimarySourceExt   struct {
				Extension []struct{ URL, ValueCode string }
			} `json:"_primarySource"`
			ReportOrigin   struct{ Coding []struct{ Code string } }
			Location       struct{ Display string }
			LotNumber      string
			ExpirationDate string
			Manufacturer   struct{ Identifier struct{ Value string } }
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		switch r.ResourceType {
		case "Patient":
			for _, id := range r.Identifier {
				fp.Identifiers = append(fp.Identifiers, id.System+"|"+id.Value)
			}
			for _, n := range r.Name {
				fp.Names = append(fp.Names, strings.TrimSpace(n.Use+"|"+n.Family+"|"+strings.Join(n.Given, " ")))
			}
			fp.Gender, fp.BirthDate, fp.BirthOrder = r.Gender, r.BirthDate, r.MultipleBirthInteger
			for _, a := range r.Address {
				fp.Addresses = append(fp.Addresses, strings.Join([]string{a.Use, strings.Join(a.Line, ","), a.City, a.District, a.State, a.PostalCode, a.Country}, "|"))
			}
			for _, tc := range r.Telecom {
				fp.Telecom = append(fp.Telecom, tc.System+"|"+tc.Value+"|"+tc.Use)
			}
			for _, x := range r.Extension {
				var code, text string
				for _, sub := range x.Extension {
					switch sub.URL {
					case "ombCategory", "detailed":
						code = sub.ValueCoding.Code
					case "text":
						text = sub.ValueString
					}
				}
				switch x.URL {
				case "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName":
					fp.Mother = x.ValueString
				case "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race":
					fp.Race = code + "|" + text
				case "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity":
					fp.Ethnicity = code + "|" + text
				}
			}
		case "Immunization":
			fd := fhirDose{Status: r.Status, Date: r.OccurrenceDateTime, Lot: r.LotNumber, MVX: r.Manufacturer.Identifier.Value, Expiration: r.ExpirationDate,
				Location: r.Location.Display, PatientRef: r.Patient.Reference, HasVaccineText: r.VaccineCode.Text != "",
				HasProfile: slices.Contains(r.Meta.Profile, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-immunization")}
			if len(r.Identifier) == 1 {
				fd.ID = r.Identifier[0].System + "|" + r.Identifier[0].Value
			}
			for _, c := range r.VaccineCode.Coding {
				if c.System == "http://hl7.org/fhir/sid/cvx" {
					fd.CVX, fd.CVXDisplay = c.Code, c.Display
				}
			}
			switch {
			case r.PrimarySource != nil:
				fd.Primary = map[bool]string{true: "true", false: "false"}[*r.PrimarySource]
			case len(r.PrimarySourceExt.Extension) == 1 && r.PrimarySourceExt.Extension[0].ValueCode == "unknown":
				fd.Primary = "absent"
			}
			for _, c := range r.ReportOrigin.Coding {
				fd.Origin = c.Code
				break
			}
			for _, c := range r.StatusReason.Coding {
				switch c.System {
				case "http://iisbridge.dev/fhir/CodeSystem/nip002":
					fd.Refusal = c.Code
				case "http://terminology.hl7.org/CodeSystem/v3-ActReason":
					fd.ActReason = c.Code
				}
			}
			_, filler, _ := strings.Cut(fd.ID, "|")
			if _, dup := fp.Doses[filler]; dup {
				t.Errorf("two Immunizations with filler id %s", filler)
			}
			fp.Doses[filler] = fd
		}
	}
	return fp
}

// TestDefaultMappingWorld: every person of the generated world, read from
// the database and mapped by the default relational mapping, gives the
// Patient and Immunizations the truth says (with the identifier systems,
// codes and absent-data conventions of the default v2 mapping), with no
// issue; soft-deleted vaccinations are mapped entered-in-error.
func TestDefaultMappingWorld(t *testing.T) {
	truth, err := synth.ReadTruth(demoTruth(t))
	if err != nil {
		t.Fatal(err)
	}
	m := mapping.DefaultSQL()
	for _, engine := range engines(t) {
		t.Run(engine, func(t *testing.T) {
			tdb := newTestDB(t, engine)
			loadDemo(t, tdb)
			r, err := Open(tdb.config(0))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := map[string]fhirPerson{}
			pidOf := map[string]string{}
			ap := m.NewApplier()
			_, err = r.Scan(context.Background(), ScanOptions{}, func(rec *Record) error {
				if rec.MergedInto != "" {
					return nil
				}
				link := col(rec.Person, "patient_external_link")
				pid := "pid-" + rec.Key
				pidOf[link] = pid
				out := ap.Apply(mapping.Input{Person: rec, Loc: sources.Location{Source: "iis"}, PatientID: pid}, false)
				for _, is := range out.Issues {
					t.Errorf("person %s: issue %s %s: %s (%+v)", link, is.Severity, is.Code, is.Diagnostics, *is.Input)
				}
				if n := len(out.Resources); n != 1+len(rec.Children["immunizations"]) {
					t.Errorf("person %s: %d resources for %d vaccination rows", link, n, len(rec.Children["immunizations"]))
				}
				if out.Resources[0].ID() != pid {
					t.Errorf("person %s: Patient id %q, want the pipeline's %q", link, out.Resources[0].ID(), pid)
				}
				got[link] = mappedFHIR(t, out.Resources)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var nDeleted, nNotDone, nHistorical int
			for i := range truth.Persons {
				p := &truth.Persons[i]
				want := truthFHIR(p, pidOf[p.Key])
				g := got[p.Key]
				for _, s := range []*[]string{&want.Identifiers, &g.Identifiers} {
					slices.Sort(*s)
				}
				for f, wd := range want.Doses {
					gd := g.Doses[f]
					if gd.CVX != "" && gd.CVXDisplay == "" {
						t.Errorf("person %s dose %s: no CVX display", p.Key, f)
					}
					gd.CVXDisplay = ""
					g.Doses[f] = gd
					switch {
					case wd.Status == "entered-in-error":
						nDeleted++
					case wd.Status == "not-done":
						nNotDone++
					case wd.Origin != "":
						nHistorical++
					}
				}
				if !reflect.DeepEqual(g, want) {
					gj, _ := json.Marshal(g)
					wj, _ := json.Marshal(want)
					t.Fatalf("person %s:\n got %s\nwant %s", p.Key, gj, wj)
				}
			}
			if len(got) != len(truth.Persons) || nDeleted == 0 || nNotDone == 0 || nHistorical == 0 {
				t.Errorf("%d persons mapped (truth %d); %d deleted, %d not-done, %d historical doses checked",
					len(got), len(truth.Persons), nDeleted, nNotDone, nHistorical)
			}
		})
	}
}

// TestDefaultMappingBadRows: a vaccination row whose date the reader
// cannot read and one whose CVX the table does not list (policy reject)
// give no Immunization, and issues that name the source, the table, the
// row's key and column, never the value; the person's other resources
// still come out.
func TestDefaultMappingBadRows(t *testing.T) {
	tdb := newTestDB(t, "sqlite")
	loadDemo(t, tdb)
	ctx := context.Background()
	var pid string
	var vids []string
	rows, err := tdb.db.QueryContext(ctx, `SELECT patient_id, vaccination_id FROM vaccination_master WHERE deleted_flag = 'N' ORDER BY patient_id, vaccination_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, v string
		rows.Scan(&p, &v)
		if pid != "" && p != pid {
			if len(vids) >= 3 {
				break
			}
			vids = nil
		}
		pid = p
		vids = append(vids, v)
	}
	rows.Close()
	if len(vids) < 3 {
		t.Fatal("no person with three vaccinations")
	}
	if _, err := tdb.db.ExecContext(ctx, `UPDATE vaccination_master SET administered_date = '31-FOO-2020' WHERE vaccination_id = ?`, vids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := tdb.db.ExecContext(ctx, `UPDATE vaccination_master SET vaccine_cvx_code = '4242' WHERE vaccination_id = ?`, vids[1]); err != nil {
		t.Fatal(err)
	}
	r, err := Open(tdb.config(0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Person(ctx, pid)
	if err != nil || rec == nil {
		t.Fatalf("person %s: %v", pid, err)
	}
	if len(rec.Problems) != 1 || rec.Problems[0].Table != "immunizations" || rec.Problems[0].Key != vids[0] || rec.Problems[0].Column != "administered_date" {
		t.Errorf("reader problems %+v, want the date of %s", rec.Problems, vids[0])
	}
	out := mapping.DefaultSQL().Apply(mapping.Input{Person: rec, Loc: sources.Location{Source: "iis"}}, false)
	if want := 1 + len(rec.Children["immunizations"]) - 2; len(out.Resources) != want {
		t.Errorf("%d resources, want %d (the Patient and every good row)", len(out.Resources), want)
	}
	got := map[string]string{}
	for _, is := range out.Issues {
		if is.Severity != "error" || is.Input == nil || is.Input.Source != "iis" {
			t.Errorf("issue %+v", is)
			continue
		}
		got[is.Input.ControlID+" "+is.Input.Field] = is.Code
		if strings.Contains(is.Diagnostics, "FOO") {
			t.Errorf("issue carries the value: %s", is.Diagnostics)
		}
	}
	want := map[string]string{
		vids[0] + " immunizations.administered_date": "required",
		vids[1] + " immunizations.vaccine_cvx_code":  "code-invalid",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("issues %v, want %v", got, want)
	}
}

// TestDefaultMappingRouteSite: body_route holds the route as reported,
// an HL7 0162 code or the CDC IG's NCIt code; both map to the v2-0162 and
// FHIR codings (NCIt's own coding only for an NCIt code); a route or site
// the tables do not list is kept as text with a warning naming the row
// and column, never the value.
func TestDefaultMappingRouteSite(t *testing.T) {
	tdb := newTestDB(t, "sqlite")
	loadDemo(t, tdb)
	ctx := context.Background()
	var pid string
	var vids []string
	rows, err := tdb.db.QueryContext(ctx, `SELECT patient_id, vaccination_id FROM vaccination_master WHERE body_route IS NOT NULL AND deleted_flag = 'N' ORDER BY patient_id, vaccination_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p, v string
		rows.Scan(&p, &v)
		if pid != "" && p != pid && len(vids) >= 3 {
			break
		}
		if p != pid {
			pid, vids = p, nil
		}
		vids = append(vids, v)
	}
	rows.Close()
	if len(vids) < 3 {
		t.Fatal("no person with three administered vaccinations")
	}
	for i, set := range []string{`body_route = 'IM', body_site = 'LT'`, `body_route = 'XYZ', body_site = 'QQ'`, `body_route = 'C28161', body_site = NULL`} {
		if _, err := tdb.db.ExecContext(ctx, `UPDATE vaccination_master SET `+set+` WHERE vaccination_id = ?`, vids[i]); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(tdb.config(0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec, err := r.Person(ctx, pid)
	if err != nil || rec == nil {
		t.Fatalf("person %s: %v", pid, err)
	}
	out := mapping.DefaultSQL().Apply(mapping.Input{Person: rec, Loc: sources.Location{Source: "iis"}}, false)
	// A vaccination's Immunization: the one with its filler order id.
	imm := func(vid string) string {
		var filler string
		if err := tdb.db.QueryRowContext(ctx, `SELECT filler_order_id FROM vaccination_master WHERE vaccination_id = ?`, vid).Scan(&filler); err != nil {
			t.Fatal(err)
		}
		for _, res := range out.Resources {
			if res.ResourceType() == "Immunization" && strings.Contains(res.String(), `"value":"`+filler+`"`) {
				return res.String()
			}
		}
		t.Fatalf("no Immunization for vaccination %s", vid)
		return ""
	}
	wantIn := map[string][]string{
		vids[0]: {`"route":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0162","code":"IM","display":"Intramuscular"},{"system":"http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration","code":"IM"`,
			`"site":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0163","code":"LT","display":"Left Thigh"}]}`},
		vids[1]: {`"route":{"text":"XYZ"}`, `"site":{"text":"QQ"}`},
		vids[2]: {`{"system":"http://ncithesaurus-stage.nci.nih.gov","code":"C28161","display":"Intramuscular"}`},
	}
	for vid, wants := range wantIn {
		got := imm(vid)
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("vaccination %s: %s lacks %s", vid, got, w)
			}
		}
	}
	if got := imm(vids[0]); strings.Contains(got, "ncithesaurus") || strings.Contains(got, `"text":"IM"`) {
		t.Errorf("HL7 0162 route: %s", got)
	}
	warned := map[string]bool{}
	for _, is := range out.Issues {
		if is.Severity == "warning" && is.Input != nil && is.Input.ControlID == vids[1] {
			warned[is.Input.Field] = true
			if strings.Contains(is.Diagnostics, "XYZ") || strings.Contains(is.Diagnostics, "QQ") {
				t.Errorf("issue carries the value: %s", is.Diagnostics)
			}
		}
	}
	if !warned["immunizations.body_route"] || !warned["immunizations.body_site"] {
		t.Errorf("warnings on %s: %v, want body_route and body_site", vids[1], warned)
	}
}

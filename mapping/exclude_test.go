package mapping

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withExclude writes the default mapping with an exclude: section in
// front and loads it.
func withExclude(t *testing.T, section string) (*Mapping, error) {
	t.Helper()
	dir := t.TempDir()
	if _, err := WriteDefault(dir, true); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "default.yaml")
	src, _ := os.ReadFile(p)
	os.WriteFile(p, append([]byte(section), src...), 0o644)
	return Load(p)
}

func TestExcludeRemovesElements(t *testing.T) {
	m, err := withExclude(t, `exclude:
  - Patient.telecom
  - Patient.birthDate
  - Patient.address.line
  - Patient.name.given
  - Immunization.lotNumber
`)
	if err != nil {
		t.Fatal(err)
	}
	msg := readMsg(t, "vxu_full.hl7")
	base := Default().Apply(Input{Msg: msg}, true)
	out := m.Apply(Input{Msg: msg}, true)
	bj, oj := tree(t, base.Resources[0]), tree(t, out.Resources[0])
	for _, k := range []string{"telecom", "birthDate", "_birthDate"} {
		if bj[k] == nil && k != "_birthDate" {
			t.Fatalf("test message lacks Patient.%s", k)
		}
		if oj[k] != nil {
			t.Errorf("Patient.%s not excluded", k)
		}
	}
	if jget(bj, "address[0].line") == nil || jget(oj, "address[0].line") != nil || jget(oj, "address[0].city") == nil {
		t.Errorf("address: line not removed or the rest lost: %v", oj["address"])
	}
	if jget(oj, "name[0].given") != nil || jget(oj, "name[0].family") != jget(bj, "name[0].family") {
		t.Errorf("name: %v", oj["name"])
	}
	if jget(oj, "identifier[0].value") != jget(bj, "identifier[0].value") || oj["gender"] != bj["gender"] {
		t.Error("elements not excluded changed")
	}
	for i, r := range out.Resources[1:] {
		if im := tree(t, r); im["lotNumber"] != nil || tree(t, base.Resources[i+1])["lotNumber"] == nil && i == 0 {
			t.Errorf("Immunization %d: lotNumber %v", i, im["lotNumber"])
		}
	}
	for _, tr := range out.Trace {
		e := stripIndexes(tr.Element)
		if strings.HasPrefix(e, "Patient.telecom") || strings.HasPrefix(e, "Patient._birthDate") || strings.HasPrefix(e, "Patient.birthDate") ||
			strings.HasPrefix(e, "Immunization.lotNumber") || strings.HasPrefix(e, "Patient.name.given") || strings.HasPrefix(e, "Patient.address.line") {
			t.Errorf("excluded element still traced: %s", tr.Element)
		}
	}
	// An Applier (a worker's own buffers) excludes the same.
	if a := m.NewApplier().Apply(Input{Msg: msg}, false); tree(t, a.Resources[0])["telecom"] != nil {
		t.Error("Applier.Apply does not apply exclude:")
	}
	if len(out.Trace) == 0 || len(out.Trace) >= len(base.Trace) {
		t.Errorf("trace: %d entries, default %d", len(out.Trace), len(base.Trace))
	}
}

func TestExcludeProblems(t *testing.T) {
	_, err := withExclude(t, `exclude:
  - Patiant.telecom
  - Observation.note
  - Patient.telcom
  - Patient.name[0].given
  - Patient.id
  - Patient
  - Patient.gender.code
  - Immunization.vaccineCode.coding.display
frobnicate: 1
`)
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CheckError, got %v", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, filepath.Base(p.File)+":"+strings.TrimPrefix(p.String(), p.File+":"))
	}
	want := []string{
		// Other problems keep their lines: the exclude: block is blanked, not cut.
		`default.yaml:10:1: unknown key "frobnicate" in the mapping`,
		`default.yaml:2:5: exclude: unknown FHIR R4 resource type "Patiant"; did you mean "Patient"?`,
		`default.yaml:3:5: exclude: FHIR R4 resource type "Observation" is not one this build can map (it maps Bundle, CapabilityStatement, Group, Immunization, ImmunizationRecommendation, Location, OperationOutcome, Organization, Parameters, Patient, Practitioner, Provenance, RelatedPerson; a developer adds a type to the roots of fhirout/r4/gen and runs go generate ./fhirout/r4)`,
		`default.yaml:4:5: exclude: unknown FHIR element Patient.telcom (Patient has no element "telcom"; did you mean "telecom"?)`,
		`default.yaml:5:5: exclude: "Patient.name[0].given": write element names without indexes (Patient.name.given)`,
		`default.yaml:6:5: exclude: Patient.id identifies the resource and cannot be left out`,
		`default.yaml:7:5: exclude: name an element of Patient (e.g. Patient.telecom), not the whole resource: leave the resource out of resources: instead`,
		`default.yaml:8:5: exclude: Patient.gender is a primitive (code) and has no element "code"`,
	}
	if len(got) > 0 {
		got[0], _, _ = strings.Cut(got[0], " (allowed")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSplitExcludeKeepsLines(t *testing.T) {
	src := "a: 1\nexclude:\n  - Patient.telecom\n# comment\nb: 2\n"
	out, n := splitExclude([]byte(src))
	if n == nil || string(out) != "a: 1\n\n\n\nb: 2\n" {
		t.Errorf("%q, %v", out, n)
	}
	if out, n := splitExclude([]byte("a: 1\nexcluded: 2\n")); n != nil || string(out) != "a: 1\nexcluded: 2\n" {
		t.Error("a key merely starting with exclude was taken")
	}
	if out, n := splitExclude([]byte("resources:\n  - exclude: x\n")); n != nil || string(out) != "resources:\n  - exclude: x\n" {
		t.Error("a nested exclude was taken")
	}
	// Last section: to the end of the file.
	if out, n := splitExclude([]byte("a: 1\nexclude: [Patient.gender]\n")); n == nil || string(out) != "a: 1\n\n" {
		t.Errorf("last section: %q", out)
	}
}

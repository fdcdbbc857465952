package r4

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		typ, elem string
		want      Element
	}{
		{"Patient", "name", Element{"name", "HumanName", true, JSONObject}},
		{"Patient", "birthDate", Element{"birthDate", "date", false, JSONString}},
		{"Patient", "gender", Element{"gender", "code", false, JSONString}},
		{"Patient", "deceasedBoolean", Element{"deceasedBoolean", "boolean", false, JSONBool}},
		{"Patient", "multipleBirthInteger", Element{"multipleBirthInteger", "integer", false, JSONNumber}},
		{"Patient", "contact", Element{"contact", "Patient_Contact", true, JSONObject}},
		{"Patient", "contained", Element{"contained", "Resource", true, JSONObject}},
		{"Patient", "resourceType", Element{"resourceType", "code", false, JSONString}},
		{"Patient", "_birthDate", Element{"_birthDate", "Element", false, JSONObject}},
		{"HumanName", "_given", Element{"_given", "Element", true, JSONObject}},
		{"Immunization", "occurrenceDateTime", Element{"occurrenceDateTime", "dateTime", false, JSONString}},
		{"Immunization", "doseQuantity", Element{"doseQuantity", "Quantity", false, JSONObject}},
		{"Immunization", "primarySource", Element{"primarySource", "boolean", false, JSONBool}},
		{"Immunization_ProtocolApplied", "doseNumberPositiveInt", Element{"doseNumberPositiveInt", "positiveInt", false, JSONNumber}},
		{"Quantity", "value", Element{"value", "decimal", false, JSONNumber}},
		{"Extension", "valueInstant", Element{"valueInstant", "instant", false, JSONString}},
		{"Extension", "valueCodeableConcept", Element{"valueCodeableConcept", "CodeableConcept", false, JSONObject}},
		{"Bundle_Entry", "resource", Element{"resource", "Resource", false, JSONObject}},
		{"Narrative", "div", Element{"div", "xhtml", false, JSONString}},
		{"Timing_Repeat", "when", Element{"when", "code", true, JSONString}},
	} {
		got, ok := Lookup(tc.typ, tc.elem)
		if !ok || got != tc.want {
			t.Errorf("Lookup(%s, %s) = %+v %v, want %+v", tc.typ, tc.elem, got, ok, tc.want)
		}
	}
	for _, miss := range [][2]string{{"Patient", "deceased"}, {"Patient", "lot"}, {"Nope", "id"}, {"Patient", "_name"}, {"Coding", "resourceType"}} {
		if e, ok := Lookup(miss[0], miss[1]); ok {
			t.Errorf("Lookup(%s, %s) = %+v, want not found", miss[0], miss[1], e)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct{ res, path, typ string }{
		{"Patient", "name[0].family", "string"},
		{"Patient", "name.given", "string"},
		{"Immunization", "vaccineCode.coding[0].code", "code"},
		{"Immunization", "vaccineCode.coding[1].system", "uri"},
		{"Patient", "extension[0].valueString", "string"},
		{"Patient", "extension[2].extension[0].valueCoding.code", "code"},
		{"Immunization", "performer[0].actor.reference", "string"},
		{"Immunization", "protocolApplied[0].doseNumberPositiveInt", "positiveInt"},
		{"Patient", "contact[0].relationship[0].coding[0].code", "code"},
		{"OperationOutcome", "issue[0].details.text", "string"},
		{"Group", "member[0].entity.reference", "string"},
		{"Bundle", "entry[0].request.method", "code"},
		{"Patient", "meta.security[0].code", "code"},
		{"HumanName", "family", "string"},
	} {
		e, err := Resolve(tc.res, tc.path)
		if err != nil || e.Type != tc.typ {
			t.Errorf("Resolve(%s, %s) = %+v, %v; want type %s", tc.res, tc.path, e, err, tc.typ)
		}
	}
	for _, tc := range []struct{ res, path, want string }{
		{"Patient", "name[0].famly", `Patient.name[0].famly: HumanName has no element "famly"`},
		{"Patient", "birthDate.year", "Patient.birthDate is a primitive (date)"},
		{"Patient", "gender[0]", "does not repeat"},
		{"Patient", "name[x].family", "not a non-negative integer"},
		{"Patient", "name[-1]", "not a non-negative integer"},
		{"Patient", "name[0", "malformed index"},
		{"Patient", "name..family", "empty step"},
		{"Patient", "", "empty path"},
		{"Nope", "id", "unknown resource"},
		{"Bundle", "entry[0].resource.id", "contained resource"},
		{"Immunization", "occurrence", `Immunization has no element "occurrence"`},
	} {
		_, err := Resolve(tc.res, tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%s, %s) error %v, want it to contain %q", tc.res, tc.path, err, tc.want)
		}
	}
}

func TestTypesAndPrimitives(t *testing.T) {
	for _, r := range []string{"Patient", "Immunization", "Group", "Provenance", "OperationOutcome", "Bundle", "Parameters",
		"CapabilityStatement", "Organization", "Location", "Practitioner", "RelatedPerson", "ImmunizationRecommendation"} {
		if !IsResource(r) {
			t.Errorf("IsResource(%s) = false", r)
		}
	}
	for _, dt := range []string{"HumanName", "CodeableConcept", "Patient_Contact", "Dosage", "Extension", "string", "Observation"} {
		if IsResource(dt) {
			t.Errorf("IsResource(%s) = true", dt)
		}
	}
	if !Known("Timing") || Known("Observation") || Known("string") {
		t.Error("Known wrong")
	}
	// Every FHIR R4 resource type is one, whether the table keeps its
	// elements or not; a datatype or a misspelling is not.
	for name, want := range map[string]bool{"Observation": true, "Account": true, "VisionPrescription": true, "Patient": true,
		"ImmunizationRecommendation": true, "HumanName": false, "Immunisation": false, "Resource": false, "": false} {
		if IsR4Resource(name) != want {
			t.Errorf("IsR4Resource(%q) = %v", name, !want)
		}
	}
	if got := strings.Join(Resources(), " "); got != "Bundle CapabilityStatement Group Immunization ImmunizationRecommendation Location "+
		"OperationOutcome Organization Parameters Patient Practitioner Provenance RelatedPerson" {
		t.Errorf("Resources() = %s", got)
	}
	for typ, want := range map[string]Kind{"string": JSONString, "boolean": JSONBool, "decimal": JSONNumber, "positiveInt": JSONNumber,
		"unsignedInt": JSONNumber, "integer": JSONNumber, "dateTime": JSONString, "code": JSONString, "xhtml": JSONString} {
		if k, ok := Primitive(typ); !ok || k != want {
			t.Errorf("Primitive(%s) = %v %v, want %v", typ, k, ok, want)
		}
	}
	if _, ok := Primitive("HumanName"); ok {
		t.Error("HumanName is not primitive")
	}
	// The table must be sorted for binary search, and every complex
	// element type must itself be in the table.
	if !sort.SliceIsSorted(typeTable, func(i, j int) bool { return typeTable[i].name < typeTable[j].name }) {
		t.Fatal("typeTable not sorted")
	}
	for _, td := range typeTable {
		if !sort.SliceIsSorted(td.elems, func(i, j int) bool { return td.elems[i].Name < td.elems[j].Name }) {
			t.Errorf("%s elements not sorted", td.name)
		}
		for _, e := range td.elems {
			_, prim := Primitive(e.Type)
			if !prim && e.Type != "Resource" && !Known(e.Type) {
				t.Errorf("%s.%s: type %s not in table", td.name, e.Name, e.Type)
			}
			if prim == (e.Kind == JSONObject) {
				t.Errorf("%s.%s: kind %v for type %s", td.name, e.Name, e.Kind, e.Type)
			}
		}
	}
	if got := len(Elements("Coding")); got != 7 { // id extension system version code display userSelected
		t.Errorf("Coding has %d elements, want 7", got)
	}
}

// TestGeneratedUpToDate regenerates the table from the schema and compares.
func TestGeneratedUpToDate(t *testing.T) {
	schema := os.Getenv("IISBRIDGE_FHIR_SCHEMA")
	if schema == "" {
		t.Skip("IISBRIDGE_FHIR_SCHEMA not set: cannot regenerate the element table")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	out := filepath.Join(t.TempDir(), "gen.go")
	cmd := exec.Command("go", "run", "./gen", "-schema", schema, "-out", out)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "elements_gen.go"))
	got, _ := os.ReadFile(out)
	if string(got) != string(want) {
		t.Fatal("elements_gen.go is stale: run go generate ./fhirout/r4")
	}
}

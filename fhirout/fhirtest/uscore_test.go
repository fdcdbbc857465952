package fhirtest

import (
	"strings"
	"testing"
)

const dar = `{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}`

func TestUSCore(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string // Finding.String() prefixes, in order
	}{
		{"good patient", `{"resourceType":"Patient","identifier":[{"system":"s","value":"1"}],"name":[{"family":"X"}],"gender":"female"}`, nil},
		{"bare patient", `{"resourceType":"Patient"}`, []string{"Patient.identifier: missing", "Patient.name: missing", "Patient.gender: missing"}},
		{"absent patient", `{"resourceType":"Patient","identifier":[{"_system":` + dar + `,"_value":` + dar + `}],"name":[` + dar + `],"_gender":` + dar + `}`,
			[]string{"Patient.identifier: data-absent-reason", "Patient.name: data-absent-reason", "Patient.gender: data-absent-reason"}},
		{"half identifier, empty name, telecom without value", `{"resourceType":"Patient","identifier":[{"value":"1"}],"name":[{"use":"official"}],"gender":"unknown","telecom":[{"system":"phone","use":"work"}]}`,
			[]string{"Patient.identifier: identifier[0] lacks", "Patient.name: name[0] has neither", "Patient.telecom: telecom[0] lacks"}},
		{"good immunization", `{"resourceType":"Immunization","status":"completed","vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"08"}]},"patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020","primarySource":false}`, nil},
		{"not-done without reason, no primarySource", `{"resourceType":"Immunization","status":"not-done","vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p"},"occurrenceString":"2020"}`,
			[]string{"Immunization.statusReason: a not-done", "Immunization.vaccineCode: no coding", "Immunization.primarySource: missing"}},
		{"absent reason and source", `{"resourceType":"Immunization","status":"not-done","statusReason":` + dar + `,"vaccineCode":{"coding":[{"system":"s","code":"c"}]},"patient":{"reference":"Patient/p"},"occurrenceDateTime":"2020","_primarySource":` + dar + `}`,
			[]string{"Immunization.statusReason: data-absent-reason", "Immunization.primarySource: data-absent-reason"}},
		{"no status, patient, occurrence", `{"resourceType":"Immunization","vaccineCode":{"coding":[{"system":"s","code":"c"}]},"primarySource":true}`,
			[]string{"Immunization.status: missing", "Immunization.patient: no", "Immunization.occurrence[x]: no"}},
		{"other type", `{"resourceType":"OperationOutcome"}`, nil},
	} {
		fs, err := USCore([]byte(tc.json))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(fs) != len(tc.want) {
			t.Errorf("%s: findings %v, want %d", tc.name, fs, len(tc.want))
			continue
		}
		for i, f := range fs {
			if !strings.HasPrefix(f.String(), tc.want[i]) {
				t.Errorf("%s: finding %d = %q, want %q…", tc.name, i, f, tc.want[i])
			}
		}
	}
}

func TestConformantNeedsTheWarning(t *testing.T) {
	res := []byte(`{"resourceType":"Patient","id":"p","identifier":[{"system":"s","value":"1"}],"name":[{"family":"X"}],"_gender":` + dar + `}`)
	if err := Conformant(res, nil); err == nil || !strings.Contains(err.Error(), "without a warning naming Patient.gender") {
		t.Errorf("absent gender without warning: %v", err)
	}
	if err := Conformant(res, []string{"Patient.name", "Patient.genderX"}); err == nil {
		t.Error("a warning about another element excused the absent gender")
	}
	ok := []string{"Patient.gender"}
	if err := Conformant(res, ok); err != nil {
		t.Errorf("warned absent gender: %v", err)
	}
	if err := Conformant([]byte(`{"resourceType":"Patient","id":"q"}`), ok); err == nil || !strings.Contains(err.Error(), "breaks US Core") {
		t.Errorf("missing identifier/name/gender: %v", err)
	}
}

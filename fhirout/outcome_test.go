package fhirout

import (
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
)

func TestOperationOutcome(t *testing.T) {
	oo := OperationOutcome(
		Issue{Severity: "error", Code: "invalid", Diagnostics: "impossible date\nmonth 13",
			Expression: []string{"Patient.birthDate"}, Rule: "default.yaml:40",
			Input: &Input{Source: "file.hl7", Offset: 345, Line: 12, Index: 3, ControlID: "ABC", Field: "PID-7"}},
		Issue{Severity: "bogus", Code: "not-a-code", Diagnostics: "request-level"},
		Issue{Severity: "warning", Code: "code-invalid", Input: &Input{Source: "vxu.hl7", Line: 1}},
	)
	got := oo.String()
	want := `{"resourceType":"OperationOutcome","issue":[` +
		`{"extension":[{"extension":[{"url":"source","valueString":"file.hl7"},{"url":"offset","valueDecimal":345},{"url":"line","valueInteger":12},{"url":"index","valueInteger":3},{"url":"controlId","valueString":"ABC"},{"url":"field","valueString":"PID-7"},{"url":"rule","valueString":"default.yaml:40"}],"url":"http://iisbridge.dev/fhir/StructureDefinition/input-location"}],` +
		`"severity":"error","code":"invalid","details":{"text":"impossible date month 13"},` +
		`"diagnostics":"file.hl7:12 offset 345 record 3 MSH-10 ABC field PID-7: impossible date month 13 [rule default.yaml:40]",` +
		`"expression":["Patient.birthDate"]},` +
		`{"severity":"error","code":"processing","details":{"text":"request-level"},"diagnostics":"request-level"},` +
		`{"extension":[{"extension":[{"url":"source","valueString":"vxu.hl7"},{"url":"offset","valueDecimal":0},{"url":"line","valueInteger":1}],"url":"http://iisbridge.dev/fhir/StructureDefinition/input-location"}],` +
		`"severity":"warning","code":"code-invalid","diagnostics":"vxu.hl7:1 offset 0"}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	fhirtest.Validate(t, oo.AppendJSON(nil))
}

func TestOperationOutcomeEmptyIsValid(t *testing.T) {
	oo := OperationOutcome()
	if !strings.Contains(oo.String(), `"severity":"information"`) {
		t.Fatalf("empty outcome: %s", oo)
	}
	fhirtest.Validate(t, oo.AppendJSON(nil))
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		is   Issue
		want string
	}{
		{Issue{Diagnostics: "x"}, "x"},
		{Issue{Diagnostics: "x", Rule: "m.yaml:3"}, "x [rule m.yaml:3]"},
		{Issue{Input: &Input{Source: "tbl", Index: 7, Field: "dob"}, Diagnostics: "bad"}, "tbl record 7 field dob: bad"},
		{Issue{Input: &Input{Line: 4}}, "line 4 offset 0"},
		{Issue{Input: &Input{ControlID: "row-9"}, Rule: "r:1"}, "key row-9 [rule r:1]"},
		{Issue{Input: &Input{Source: "a.hl7", Offset: 10, ControlID: "M1"}}, "a.hl7 offset 10 MSH-10 M1"},
	} {
		if got := Summary(tc.is); got != tc.want {
			t.Errorf("Summary(%+v) = %q, want %q", tc.is, got, tc.want)
		}
	}
}

func TestDeletedBundle(t *testing.T) {
	at := time.Date(2024, 3, 5, 9, 30, 0, 0, time.FixedZone("EST", -5*3600))
	b := DeletedBundle(Deleted{Type: "Immunization", ID: "i-1", At: at}, Deleted{Type: "Patient", ID: "p-2"})
	want := `{"resourceType":"Bundle","type":"transaction","entry":[` +
		`{"extension":[{"url":"http://iisbridge.dev/fhir/StructureDefinition/deleted-at","valueInstant":"2024-03-05T14:30:00Z"}],"request":{"method":"DELETE","url":"Immunization/i-1"}},` +
		`{"request":{"method":"DELETE","url":"Patient/p-2"}}]}`
	if got := b.String(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	fhirtest.Validate(t, b.AppendJSON(nil))
	fhirtest.Validate(t, DeletedBundle().AppendJSON(nil))
}

func TestFormatInstant(t *testing.T) {
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := FormatInstant(t0); got != "2024-01-02T03:04:05Z" {
		t.Error(got)
	}
	if got := FormatInstant(t0.Add(1500 * time.Microsecond)); got != "2024-01-02T03:04:05.001Z" {
		t.Error(got)
	}
}

func TestSampleImmunizationValid(t *testing.T) {
	fhirtest.Validate(t, sampleImmunization().AppendJSON(nil))
}

package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
)

func TestReduceSection(t *testing.T) {
	const head = "source: v2\nconstants: {cvx: http://hl7.org/fhir/sid/cvx}\nresources:\n  - resource: Patient\n    rules:\n      - {target: gender, const: male}\n"
	m, err := Parse([]byte(head+`reduce:
  Patient: {by: merge}
  Immunization:
    by: doses
    dose_id: 'identifier[type.coding.code=FILL]'
    vaccine: vaccineCode.coding
    vaccine_system: $cvx
    day: 'occurrenceDateTime|occurrenceString'
    deleted: 'status=entered-in-error'
    primary: primarySource
`), "r.yaml", nil, ".")
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Reduction("Patient"); r.By != "merge" {
		t.Errorf("Patient reduced by %q", r.By)
	}
	if r := m.Reduction("Observation"); r.By != "newest" {
		t.Errorf("an undeclared type reduced by %q, want newest", r.By)
	}
	r := m.Reduction("Immunization")
	if r.By != "doses" || r.Elements["vaccine_system"].String() != "http://hl7.org/fhir/sid/cvx" {
		t.Fatalf("Immunization: %+v", r)
	}
	o, err := fhirout.ParseObject([]byte(`{"resourceType":"Immunization","status":"entered-in-error","primarySource":true,
		"identifier":[{"value":"P1","type":{"coding":[{"code":"PLAC"}]}},{"value":"F1","type":{"coding":[{"code":"FILL"}]}}],
		"occurrenceString":"spring 2020"}`))
	if err != nil {
		t.Fatal(err)
	}
	ids := r.Elements["dose_id"].Values(o)
	if len(ids) != 1 || ids[0].(*fhirout.Object).String() != `{"value":"F1","type":{"coding":[{"code":"FILL"}]}}` {
		t.Errorf("dose_id gave %v", ids)
	}
	if got := r.Elements["day"].String1(o); got != "spring 2020" {
		t.Errorf("day (second alternative) = %q", got)
	}
	if !r.Elements["deleted"].Holds(o) || !r.Elements["primary"].Holds(o) {
		t.Error("deleted or primary does not hold")
	}

	// Problems name the place.
	_, err = Parse([]byte(head+`reduce:
  Immunization: {by: dose}
  Observation:
    by: doses
    dose_id: 'identifier[type'
`), "bad.yaml", nil, ".")
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("bad reduce: section accepted: %v", err)
	}
	all := ce.Error()
	for _, want := range []string{`bad.yaml:8:3: reduce Immunization: unknown reducer "dose"`, `bad.yaml:11:14: reduce Observation: element path "identifier[type": [ without ]`, "the doses reducer needs vaccine:"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
}

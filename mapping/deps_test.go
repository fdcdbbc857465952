package mapping

import (
	"slices"
	"strings"
	"testing"
)

// covers reports whether a Dependencies list reads field (SEG-F) or one
// of its components.
func covers(list []string, field string) bool {
	return slices.ContainsFunc(list, func(e string) bool { return e == field || strings.HasPrefix(e, field+".") })
}

// The default Immunization reads at least every message-level field the
// pipeline's ORDER memo (pipeline/ordermemo.go, orderContext) hand-lists:
// MSH-3, MSH-4, MSH-9, the zone of MSH-7, PID-3 and whether a second PID
// exists; and its own ORDER group's ORC and RXA.
func TestReadsDefaultImmunization(t *testing.T) {
	m := Default()
	d := m.ReadsOf("Immunization")
	if !d.PerOrder {
		t.Error("Immunization is made per ORDER group")
	}
	for _, f := range []string{"MSH-3", "MSH-4", "MSH-7", "MSH-9", "PID-3"} {
		if !covers(d.Message, f) {
			t.Errorf("Reads(Immunization).Message lacks %s: %v", f, d.Message)
		}
	}
	for _, f := range []string{"ORC-3", "RXA-3", "RXA-5", "RXA-9", "RXA-20", "RXA-21", "RXR-1", "OBX-3", "OBX-5"} {
		if !covers(d.Order, f) {
			t.Errorf("Reads(Immunization).Order lacks %s: %v", f, d.Order)
		}
	}
	for _, list := range [][]string{d.Order} {
		for _, e := range list {
			if seg, _, _ := strings.Cut(e, "-"); seg == "MSH" || seg == "PID" {
				t.Errorf("%s listed inside the ORDER group", e)
			}
		}
	}
	if !slices.Contains(d.Inputs, "$input.patient_id") {
		t.Errorf("$patient is the identity layer's id: Inputs %v", d.Inputs)
	}
	p := m.ReadsOf("Patient")
	if p.PerOrder || len(p.Order) > 0 {
		t.Errorf("Patient reads no ORDER group: %+v", p)
	}
	for _, f := range []string{"PID-3", "PID-5", "PID-7", "PID-8", "PID-11", "NK1-2", "MSH-4"} {
		if !covers(p.Message, f) {
			t.Errorf("Reads(Patient).Message lacks %s: %v", f, p.Message)
		}
	}
	t.Logf("Immunization: order %v\nmessage %v\ninputs %v", d.Order, d.Message, d.Inputs)
}

// Every kind of read is found, each where it resolves: lets (followed
// through variables), conditions, ids, where, group_by, tables' inputs,
// relative paths, has:.
func TestReadsKinds(t *testing.T) {
	m := compileYAML(t, `
messages: [VXU^V04]
when: {has: PID}
let:
  who: 'first_nonempty(MSH-4.1, MSH-3.1)'
tables:
  t: {codes: {a: b}}
resources:
  - resource: Patient
    as: patient
    id: 'hash($who, PID-3.1)'
    rules:
      - {target: gender, value: 'table("t", PID-8)', when: {present: PD1-3}}
      - foreach: 'PID-5[*]'
        target: name[]
        rules:
          - {target: family, value: .1.1}
  - resource: Immunization
    foreach: ORDER
    when: {not: {value: RXA-5.1, equals: "998"}}
    let:
      lot: RXA-15
    rules:
      - {target: patient.reference, value: 'concat("Patient/", $patient)'}
      - {target: lotNumber, value: $lot}
      - foreach: OBX
        where: {value: OBX-3.1, equals: "64994-7"}
        group_by: OBX-4
        target: programEligibility[]
        rules:
          - {target: 'coding[0].code', value: OBX-5.1}
      - {target: occurrenceDateTime, value: datetime(RXA-3), when: {has: NK1, where: {present: NK1-2}}}
`, nil)
	if m.NumResources() != 2 || m.ResourceType(1) != "Immunization" {
		t.Fatalf("%d resources", m.NumResources())
	}
	p := m.Reads(0)
	want := Dependencies{Resource: "Patient", Message: []string{"MSH-3.1", "MSH-4.1", "MSH-9.1", "MSH-9.2", "PD1-3", "PID", "PID-3.1", "PID-5", "PID-5.1", "PID-8"}}
	if !slices.Equal(p.Message, want.Message) || len(p.Order) > 0 || p.PerOrder {
		t.Errorf("Patient reads %+v\nwant %+v", p, want)
	}
	im := m.Reads(1)
	wantOrder := []string{"OBX", "OBX-3.1", "OBX-4", "OBX-5.1", "RXA-15", "RXA-3", "RXA-5.1"}
	if !slices.Equal(im.Order, wantOrder) || !im.PerOrder {
		t.Errorf("Immunization reads in its group %v, want %v", im.Order, wantOrder)
	}
	for _, f := range []string{"MSH-7", "NK1", "NK1-2", "PID-3.1", "MSH-4.1", "MSH-3.1", "MSH-10", "ORC", "RXA"} {
		if !slices.Contains(im.Message, f) {
			t.Errorf("Immunization.Message lacks %s: %v", f, im.Message)
		}
	}
}

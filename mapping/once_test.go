package mapping

import (
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// A path is left out of the memo (once) only when one place of the
// mapping reads it, from the scope it reads; a field's memo only when
// more than one of its components is read; a call's memo when one place
// reads it. Either way the output is the memo's.
func TestPathReadOnce(t *testing.T) {
	m := compileYAML(t, `
messages: [VXU^V04]
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - {target: lotNumber, value: RXA-15}
      - {target: expirationDate, value: RXA-16}
      - {target: status, value: RXA-16}
      - {target: site.text, value: RXR-2.1}
      - {target: route.text, value: RXR-1.1}
      - {target: route.id, value: RXR-1.2}
      - {target: site.id, value: 'concat(RXA-6, "x")'}
      - {target: vaccineCode.text, value: 'concat(RXA-5.1, "x")'}
      - {target: vaccineCode.id, value: 'concat(RXA-5.1, "x")', when: {present: 'concat(RXA-5.1, "x")'}}
      - foreach: OBX
        target: note[]
        rules:
          - {target: text, value: RXA-9.1}
          - {target: id, value: OBX-5.1}
`, nil)
	paths := map[string]*pathExpr{}
	calls := map[string]*callExpr{}
	var walk func([]*rule)
	walk = func(rs []*rule) {
		for _, r := range rs {
			if p, ok := r.value.(*pathExpr); ok {
				paths[p.text] = p
			}
			if c, ok := r.value.(*callExpr); ok {
				calls[c.text] = c
			}
			walk(r.children)
		}
	}
	walk(m.impl.resources[0].rules)
	for text, want := range map[string]bool{"RXA-15": true, "RXA-16": false, "RXR-2.1": true, "RXR-1.1": true, "RXA-9.1": false, "OBX-5.1": true} {
		if p := paths[text]; p == nil || p.once != want {
			t.Errorf("%s: once %v, want %v", text, p != nil && p.once, want)
		}
	}
	if f := paths["RXR-2.1"].field; f.readers != 1 {
		t.Errorf("RXR-2 has %d readers, want 1", f.readers)
	}
	if f := paths["RXR-1.1"].field; f.readers != 2 {
		t.Errorf("RXR-1 has %d readers, want 2", f.readers)
	}
	// A remembered call read at one place is evaluated without its slot.
	if c := calls[`concat(RXA-6, "x")`]; c == nil || !c.memo || c.sites != 1 {
		t.Errorf("concat(RXA-6, \"x\"): %+v, want a memo call of one site", c)
	}
	if c := calls[`concat(RXA-5.1, "x")`]; c == nil || !c.memo || c.sites != 3 {
		t.Errorf("concat(RXA-5.1, \"x\"): %+v, want a memo call of three sites", c)
	}
	got := applyOne(t, m, "MSH|^~\\&|A|B|C|D|20240101||VXU^V04|1|P|2.5.1\rPID|1\rORC|RE\r"+
		"RXA|0|1|20240101|20240101|08^x^CVX|0.5|||01||||||LOT1|20250101|||||A\rRXR|IM^im^HL70162|LT^lt\rOBX|1|CE|x||v1\rOBX|2|CE|y||v2\r")
	for _, want := range []string{`"lotNumber":"LOT1"`, `"expirationDate":"20250101"`, `"site":{"text":"LT","id":"0.5x"}`, `"text":"IM","id":"im"`, `{"text":"01","id":"v1"}`, `{"text":"01","id":"v2"}`, `"vaccineCode":{"text":"08x","id":"08x"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
}

// group_by loops with the same foreach, where and group_by share their
// groups (one group class); one whose where reads a variable or an alias
// does not. The shared groups give what groups of their own give.
func TestGroupClassShared(t *testing.T) {
	yml := `
messages: [VXU^V04]
let:
  code: '"a"'
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - foreach: OBX
        where: {value: OBX-3.1, in: [a, b]}
        group_by: OBX-4
        target: note[]
        rules:
          - {target: text, value: 'join(",", OBX-5.1)'}
      - foreach: OBX
        where: {value: OBX-3.1, in: [a, b]}
        group_by: OBX-4
        when: {has: OBX, where: &vis {value: OBX-3.1, equals: b}}
        target: reasonCode[]
        rules:
          - {target: text, value: OBX-5.1}
      - foreach: OBX
        where: {value: 'concat(OBX-3.1, $code)', equals: aa}
        group_by: OBX-4
        target: protocolApplied[]
        rules:
          - {target: series, value: OBX-5.1}
      - foreach: OBX
        where: {all: [*vis]}
        group_by: OBX-4
        target: education[]
        rules:
          - {target: documentType, value: OBX-5.1}
`
	m := compileYAML(t, yml, nil)
	var ids []int
	for _, r := range m.impl.resources[0].rules {
		ids = append(ids, r.foreach.groupID)
	}
	if ids[0] != ids[1] || ids[2] == ids[0] || ids[3] == ids[0] || ids[2] == ids[3] {
		t.Errorf("group classes %v: want the first two alike, the others apart", ids)
	}
	for i, r := range m.impl.resources[0].rules {
		if got, want := r.foreach.groupShared, i < 2; got != want {
			t.Errorf("loop %d: groupShared %v, want %v", i, got, want)
		}
	}
	got := applyOne(t, m, "MSH|^~\\&|A|B|C|D|20240101||VXU^V04|1|P|2.5.1\rPID|1\rORC|RE\rRXA|0|1|20240101|20240101|08^x^CVX\r"+
		"OBX|1|CE|a|1|v1\rOBX|2|CE|b|1|v2\rOBX|3|CE|a|2|v3\rOBX|4|CE|c|2|v4\r")
	for _, want := range []string{`"note":[{"text":"v1"},{"text":"v3"}]`, `"reasonCode":[{"text":"v1"}]`,
		`"protocolApplied":[{"series":"v1"},{"series":"v3"}]`, `"education":[{"documentType":"v2"}]`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
}

// applyOne maps raw (with its trace) and returns its one resource's
// JSON.
func applyOne(t *testing.T, m *Mapping, raw string) string {
	t.Helper()
	msg, err := hl7v2.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	out := m.Apply(Input{Msg: msg}, true)
	if len(out.Resources) != 1 {
		t.Fatalf("%d resources, issues %v", len(out.Resources), out.Issues)
	}
	return string(out.Resources[0].AppendJSON(nil))
}

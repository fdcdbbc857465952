package mapping

import "testing"

// first_nonempty and if skip arguments they do not need only when those
// arguments cannot report anything: a table lookup whose policy warns is
// still made, so the warning stays.
func TestLazyCallsKeepIssues(t *testing.T) {
	m := compileYAML(t, `
tables:
  warned: {policy: warn, codes: {F: female}}
  quiet: {policy: omit, codes: {F: female}}
resources:
  - resource: Patient
    rules:
      - {target: gender, value: 'first_nonempty("female", table("warned", PID-5.1))'}
      - {target: birthDate, value: 'if(PID-8, "2020-01-01", table("warned", PID-5.2))'}
      - {target: 'name[0].family', value: 'first_nonempty(PID-5.1, table("quiet", PID-5.2))'}
      - {target: 'name[0].given[]', value: 'if(PID-39, "never", first_nonempty(PID-3[*].4, PID-5.2))'}
      - {target: 'name[0].text', value: 'text_in(RXA-5, "CVX")'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	p := byType(t, out, "Patient")[0]
	want(t, p, "gender", "female")
	want(t, p, "birthDate", "2020-01-01")
	want(t, p, "name[0].family", "Doe")
	want(t, p, "name[0].given[0]", "AUTH1") // PID-3[*].4: the first authority sent
	want(t, p, "name[0].text", "HepB")
	// Both warned lookups ran although their value was not used.
	if n := issueCount(out, "warning", "code-invalid", "not in table warned"); n != 2 {
		t.Errorf("%d warnings from the warned table, want 2: %+v", n, out.Issues)
	}
	for _, x := range []string{`first_nonempty("female", table("warned", PID-5.1))`, `if(PID-8, "2020-01-01", table("warned", PID-5.2))`} {
		if c := parseOne(t, m, x); c.lazy {
			t.Errorf("%s: lazy although an argument may warn", x)
		}
	}
	for _, x := range []string{`first_nonempty(PID-5.1, table("quiet", PID-5.2))`, `text_in(RXA-5, "CVX")`} {
		if c := parseOne(t, m, x); !c.lazy {
			t.Errorf("%s: not lazy", x)
		}
	}
}

// parseOne finds the compiled call x among m's rule values.
func parseOne(t *testing.T, m *Mapping, x string) *callExpr {
	t.Helper()
	for _, r := range m.impl.resources {
		for _, rl := range r.rules {
			if c, ok := rl.value.(*callExpr); ok && c.String() == x {
				return c
			}
		}
	}
	t.Fatalf("no rule value %s", x)
	return nil
}

// Identical pure calls share one compiled call whose value is remembered
// per scope: each ORDER still gets its own, and a call reading a variable
// (which changes between resources) is never remembered.
func TestCallMemoPerScope(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Immunization
    foreach: ORDER
    when: {present: 'code_in(RXA-5, "CVX")'}
    let:
      code: 'code_in(RXA-5, "CVX")'
    id: 'hash(code_in(RXA-5, "CVX"), ORC-3.1)'
    rules:
      - {target: status, const: completed}
      - {target: vaccineCode.text, value: 'code_in(RXA-5, "CVX")'}
      - {target: lotNumber, value: 'concat($code, "-lot")'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	imms := byType(t, out, "Immunization")
	if len(imms) != 2 {
		t.Fatalf("%d Immunizations", len(imms))
	}
	want(t, imms[0], "vaccineCode.text", "08")
	want(t, imms[0], "lotNumber", "08-lot")
	want(t, imms[1], "vaccineCode.text", "03")
	want(t, imms[1], "lotNumber", "03-lot")
	r := m.impl.resources[0]
	first := r.when.x.(*callExpr)
	if !first.memo || r.lets[0].x != first || r.rules[1].value != first {
		t.Error("the three code_in(RXA-5, \"CVX\") are not one remembered call")
	}
	if c := r.rules[2].value.(*callExpr); c.memo {
		t.Error("a call reading $code is remembered")
	}
}

// A pure call over literals and the record's own variables (the mapping's
// lets, $input.*) is remembered for the record: each ORDER gets the same
// value, worked out once; one over a resource's variable (its lets, an
// as:) or a path is not.
func TestCallMemoPerRecord(t *testing.T) {
	m := compileYAML(t, `
let:
  sender: 'first_nonempty(MSH-4.1, "unknown")'
resources:
  - resource: Patient
    as: patient
    id: 'hash("p", PID-3.1)'
    rules:
      - {target: gender, value: 'concat("s-", upper($sender))'}
  - resource: Immunization
    foreach: ORDER
    let:
      code: 'code_in(RXA-5, "CVX")'
    rules:
      - {target: status, const: completed}
      - {target: lotNumber, value: 'concat("s-", upper($sender))'}
      - {target: 'note[0].text', value: 'concat($patient, "/", $code)'}
      - {target: patient.display, value: 'concat(upper($sender), RXA-5.1)'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	imms := byType(t, out, "Immunization")
	if len(imms) != 2 {
		t.Fatalf("%d Immunizations", len(imms))
	}
	for i, code := range []string{"08", "03"} {
		want(t, imms[i], "lotNumber", "s-CLINIC-A")
		want(t, imms[i], "patient.display", "CLINIC-A"+code)
	}
	want(t, byType(t, out, "Patient")[0], "gender", "s-CLINIC-A")
	rules := m.impl.resources[1].rules
	if c := rules[1].value.(*callExpr); !c.rec || c != m.impl.resources[0].rules[0].value {
		t.Error("concat(\"s-\", upper($sender)) is not one call remembered for the record")
	}
	for _, i := range []int{2, 3} {
		if c := rules[i].value.(*callExpr); c.rec {
			t.Errorf("%s is remembered for the record", c.text)
		}
	}
}

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

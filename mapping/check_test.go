package mapping

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// loadProblems loads a broken mapping from testdata/broken.
func loadProblems(t *testing.T, name string) []string {
	t.Helper()
	_, err := Load(filepath.Join("testdata", "broken", name))
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: want a CheckError, got %v", name, err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, strings.TrimPrefix(p.String(), filepath.Join("testdata", "broken")+"/"))
	}
	return out
}

func TestCheckPaths(t *testing.T) {
	wantProblems(t, loadProblems(t, "paths.yaml"),
		`paths.yaml:5:33: unknown v2 segment "PIX"`,
		`paths.yaml:6:36: PID has 39 fields in v2.5.1; PID-99 names field 99`,
		`paths.yaml:7:43: malformed v2 path "PID-5..1": hl7v2: path "PID-5..1": component number expected at character 7`,
		`paths.yaml:8:44: relative path ".2" outside a foreach over repetitions`,
		`paths.yaml:9:18: unknown FHIR element Patient.name.nickname (HumanName has no element "nickname")`,
		`paths.yaml:10:18: Patient.name repeats: write name[] (append) or name[0]`,
		`paths.yaml:11:18: Patient.gender does not repeat: no [] or index allowed`,
		`paths.yaml:12:33: Patient.active is boolean: "yes" is not true or false`,
		`paths.yaml:13:18: Patient.name repeats: write name[] (append) or name[0]`,
		`paths.yaml:14:15: unknown FHIR R4 resource type "Immunisation"; did you mean "Immunization"?`,
	)
}

func TestCheckFunctionsTablesKeys(t *testing.T) {
	wantProblems(t, loadProblems(t, "funcs.yaml"),
		`funcs.yaml:5:13: table sex: unknown policy "ignore" (one of drop, omit, pass, reject, warn)`,
		`tables/sex.csv:4:20: invalid CSV: extraneous or missing " in quoted-field`,
		`funcs.yaml:7:11: table missing: cannot read table file testdata/broken/tables/nope.csv: no such file or directory (table file paths are relative to the folder of the mapping file; builtin:NAME names a table shipped in the binary)`,
		`funcs.yaml:10:5: unknown key "colour" in a resource (allowed: resource, as, foreach, when, let, id, rules)`,
		`funcs.yaml:12:33: expression "table(\"sexx\", PID-8)": table: unknown table "sexx" (declare it under tables:)`,
		`funcs.yaml:13:36: expression "datetime(PID-7, PID-8)": datetime takes 1 argument(s), not 2`,
		`funcs.yaml:14:41: expression "frobnicate(PID-5)": unknown function frobnicate (see iisbridge mapping docs)`,
		`funcs.yaml:15:43: expression "$nobody": unknown variable $nobody`,
		`funcs.yaml:16:44: expression "concat(\"a\", PID-5.2": missing ) after arguments of concat`,
		`funcs.yaml:17:64: Patient.multipleBirthInteger is integer: "two" is not an integer`,
		`funcs.yaml:18:49: value: needs exactly one of equals, in, matches`,
		`funcs.yaml:19:38: unknown key "valeu" in a rule (allowed: target, value, const, cases, default, when, required, foreach, where, group_by, rules, warn, reject, code); did you mean "value"?`,
		`funcs.yaml:19:9: a rule needs exactly one of value, const, cases, rules, warn, reject`,
	)
}

func TestCheckYAMLSyntax(t *testing.T) {
	wantProblems(t, loadProblems(t, "syntax.yaml"),
		`syntax.yaml:4:1: invalid YAML: did not find expected ',' or '}'`)
}

func TestCheckMore(t *testing.T) {
	got := problems(t, `
source: v3
settings: {timezone: Mars/Olympus}
tables:
  t: {policy: pass}
  u: {codes: [a, b]}
let:
  x: PID-3
  x: PID-4
resources:
  - resource: Patient
    foreach: OBX
    rules:
      - {target: gender, const: female, value: PID-8}
      - {target: 'identifier[]', value: PID-3}
      - {target: gender, value: 'code_in(PID-8.1, "X")'}
      - {foreach: ORDER, target: 'name[]', rules: []}
      - {target: 'name[]', rules: [{target: family, value: 'replace(PID-5, "(", "")'}]}
      - {target: gender, when: {value: PID-8, matches: '('}, const: male}
      - {target: gender, value: PID-8, where: {present: PID-8}}
`, nil)
	wantProblems(t, got,
		`test.yaml:2:9: source must be v2 or sql, not "v3"`,
		`test.yaml:3:22: unknown timezone "Mars/Olympus" (want an IANA name such as America/Chicago)`,
		`test.yaml:5:3: table t: give file: or codes:`,
		`test.yaml:6:14: table u: codes must be a mapping of from: code or from: {code, display, system}`,
		`test.yaml:9:3: variable $x defined twice`,
		`test.yaml:14:9: a rule needs exactly one of value, const, cases, rules, warn, reject`,
		`test.yaml:15:18: Patient.identifier is a complex element: give it rules:, not a value`,
		`test.yaml:16:33: expression "code_in(PID-8.1, \"X\")": code_in: the first argument must name a whole field or repetition (RXA-5, not RXA-5.1)`,
		`test.yaml:17:19: foreach: ORDER only at the top (resources or top-level rules)`,
		`test.yaml:18:60: expression "replace(PID-5, \"(\", \"\")": replace: bad regular expression: error parsing regexp: missing closing ): `+"`(`",
		`test.yaml:19:56: bad regular expression: error parsing regexp: missing closing ): `+"`(`",
		`test.yaml:20:9: where: and group_by: need a foreach:`,
	)
}

func TestCheckDefaultIsValid(t *testing.T) {
	m, err := Load(filepath.Join("defaults", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, rules := m.Stats()
	if res != 3 || rules < 150 { // Patient, Immunization, ImmunizationRecommendation
		t.Errorf("default mapping: %d resources, %d rules", res, rules)
	}
}

// Problems suggest what was probably meant, from the registries the
// compiler checks against (issue 19).
func TestCheckSuggests(t *testing.T) {
	src := `resources:
  - resource: Patient
    let:
      sender: MSH-4
    rules:
      - target: brithDate
        value: PID-7
      - target: gender
        value: uper(PID-8)
      - target: id
        value: $sendr
`
	_, err := Parse([]byte(src), "s.yaml", nil, ".")
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("want a CheckError, got %v", err)
	}
	msg := err.Error()
	for _, w := range []string{`did you mean "birthDate"?`, `did you mean "upper"?`, `did you mean "$sender"?`} {
		if !strings.Contains(msg, w) {
			t.Errorf("no %s in:\n%s", w, msg)
		}
	}
}

package mapping

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const engineMsg = `
MSH|^~\&|APP|CLINIC-A|IIS|STATE|20240301120000-0600||VXU^V04^VXU_V04|CTRL-1|P|2.5.1
PID|1||A1^^^AUTH1^MR~~B2^^^^PI~C3^^^AUTH3^SR||Doe^Jane^Q^^^^L|||F
ORC|RE||F-1
RXA|0|1|20240301101500|20240301101500|08^HepB^CVX|0.5|mL||00
OBX|1|CE|64994-7^elig^LN|1|V02^Medicaid^HL70064||||||F
OBX|2|CE|30963-3^funding^LN|2|VXC1^Federal^CDCPHINVS||||||F
OBX|3|CE|69764-9^doc^LN|3|DOC-A^VIS A^cdcgs1vis||||||F
OBX|4|TS|29769-7^presented^LN|3|20240301||||||F
OBX|5|CE|69764-9^doc^LN|4|DOC-B^VIS B^cdcgs1vis||||||F
OBX|6|TS|29769-7^presented^LN|4|20240302||||||F
ORC|RE||F-2
RXA|0|1|201508|201508|03^MMR^CVX|999|||01
`

func TestForeachRepetitions(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    rules:
      - foreach: 'PID-3[*]'
        target: identifier[]
        rules:
          - {target: value, value: .1}
          - {target: system, value: .4.1, default: 'urn:none'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	p := byType(t, out, "Patient")[0]
	// The empty repetition (~~) gives no element.
	want(t, p, "identifier[0].value", "A1")
	want(t, p, "identifier[0].system", "AUTH1")
	want(t, p, "identifier[1].value", "B2")
	want(t, p, "identifier[1].system", "urn:none")
	want(t, p, "identifier[2].value", "C3")
	absent(t, p, "identifier[3]")
}

func TestForeachOrderGroups(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    as: patient
    id: hash(PID-3.1)
  - resource: Immunization
    foreach: ORDER
    id: 'hash($patient, ORC-3.1)'
    rules:
      - {target: status, const: completed}
      - {target: vaccineCode.text, value: RXA-5.2}
      # PID resolves in the whole message even inside an ORDER.
      - {target: patient.display, value: PID-5.1.1}
      - {target: lotNumber, value: ORC-3.1}
      - foreach: OBX
        where: {value: OBX-3.1, equals: 64994-7}
        target: programEligibility[]
        rules:
          - {target: 'coding[0].code', value: OBX-5.1}
`, nil)
	out := apply(m, msg(t, engineMsg))
	imms := byType(t, out, "Immunization")
	if len(imms) != 2 {
		t.Fatalf("%d Immunizations, want 2 (one per ORDER)", len(imms))
	}
	want(t, imms[0], "vaccineCode.text", "HepB")
	want(t, imms[1], "vaccineCode.text", "MMR")
	want(t, imms[0], "patient.display", "Doe")
	want(t, imms[1], "lotNumber", "F-2")
	want(t, imms[0], "programEligibility[0].coding[0].code", "V02")
	// OBX of the first order must not leak into the second.
	absent(t, imms[1], "programEligibility")
	if imms[0]["id"] == imms[1]["id"] || imms[0]["id"] == "" {
		t.Errorf("ids not distinct: %v %v", imms[0]["id"], imms[1]["id"])
	}
}

func TestGroupBy(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - {target: status, const: completed}
      - foreach: OBX
        where: {value: OBX-3.1, in: [69764-9, 29769-7]}
        group_by: OBX-4
        target: education[]
        rules:
          - foreach: OBX
            where: {value: OBX-3.1, equals: 69764-9}
            target: documentType
            value: OBX-5.1
          - foreach: OBX
            where: {value: OBX-3.1, equals: 29769-7}
            target: presentationDate
            value: datetime(OBX-5)
`, nil)
	out := apply(m, msg(t, engineMsg))
	imm := byType(t, out, "Immunization")[0]
	want(t, imm, "education[0].documentType", "DOC-A")
	want(t, imm, "education[0].presentationDate", "2024-03-01")
	want(t, imm, "education[1].documentType", "DOC-B")
	want(t, imm, "education[1].presentationDate", "2024-03-02")
	absent(t, imm, "education[2]")
}

func TestConditions(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    rules:
      - {target: 'name[0].text', when: {present: PID-5.1}, const: present}
      - {target: 'name[1].text', when: {empty: PID-6}, const: empty}
      - {target: 'name[2].text', when: {value: PID-8, equals: f}, const: equals-any-case}
      - {target: 'name[3].text', when: {value: PID-8, in: [M, F]}, const: in}
      - {target: 'name[4].text', when: {not: {value: PID-8, equals: M}}, const: not}
      - {target: 'name[5].text', when: {all: [{present: PID-5}, {value: MSH-4, equals: CLINIC-A}]}, const: all}
      - {target: 'name[6].text', when: {any: [{present: PID-30}, {value: MSH-4, matches: '^CLINIC-'}]}, const: any-matches}
      - {target: 'name[7].text', when: {has: OBX, where: {value: OBX-5.1, equals: VXC1}}, const: has}
      - {target: 'name[8].text', when: {has: NK1}, const: never}
      - {target: 'name[9].text', when: {value: PID-8, equals: M}, const: never}
`, nil)
	out := apply(m, msg(t, engineMsg))
	p := byType(t, out, "Patient")[0]
	for i, w := range []string{"present", "empty", "equals-any-case", "in", "not", "all", "any-matches", "has"} {
		want(t, p, fmt.Sprintf("name[%d].text", i), w)
	}
	// name[8] and name[9] were never written: Prune leaves no empty objects.
	absent(t, p, "name[8]")
}

func TestValuesFunctionsDefaults(t *testing.T) {
	m := compileYAML(t, `
constants:
  base: 'http://example.org/'
let:
  who: concat(MSH-4, "/", MSH-3)
resources:
  - resource: Patient
    rules:
      - {target: 'identifier[0].system', value: 'concat($base, lower(MSH-4))'}
      - {target: 'identifier[0].value', value: '$who'}
      - {target: 'name[0].text', value: 'join(" ", PID-5.2, PID-5.3, PID-5.1.1)'}
      - {target: 'name[0].family', value: 'upper(PID-5.1)'}
      - {target: 'name[0].given[]', value: 'join("+", PID-3[*].1)'}
      - {target: 'name[0].suffix[]', value: 'first_nonempty(PID-6, PID-7, "fallback")'}
      - {target: gender, value: PID-9, default: unknown}
      - {target: 'name[0].prefix[]', value: 'if(PID-30, "dead", "alive")'}
      - {target: 'name[0].use', value: 'replace(PID-5.7, "^L$", "official")'}
      - {target: 'telecom[0].value', value: 'slug(" A b/C ")'}
      - {target: 'telecom[1].value', value: cvx("3")}
      - {target: 'telecom[2].value', value: cvx("045")}
      - {target: 'telecom[3].value', value: ndc("49281-0215-88")}
      - {target: 'telecom[4].value', value: ndc("4928-1021-58")}
      - {target: 'telecom[5].value', value: 'trim("  x  ")'}
      - {target: 'telecom[6].value', value: 'code_in(RXA-5, "cvx")'}
      - {target: 'telecom[7].value', value: 'text_in(RXA-5, "CVX")'}
      - {target: 'telecom[8].value', value: 'code_in(RXA-5, "NDC")'}
      - {target: 'contact[0].name.text', value: 'except(ORC-3.1, "f-1", "0")'}
      - {target: 'contact[1].name.text', value: 'except(PID-3.1, "0", "9999")'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	p := byType(t, out, "Patient")[0]
	want(t, p, "identifier[0].system", "http://example.org/clinic-a")
	want(t, p, "identifier[0].value", "CLINIC-A/APP")
	want(t, p, "name[0].text", "Jane Q Doe")
	want(t, p, "name[0].family", "DOE")
	want(t, p, "name[0].given[0]", "A1+B2+C3")
	want(t, p, "name[0].suffix[0]", "fallback")
	want(t, p, "gender", "unknown")
	want(t, p, "name[0].prefix[0]", "alive")
	want(t, p, "name[0].use", "official")
	want(t, p, "telecom[0].value", "-a-b-c-")
	want(t, p, "telecom[1].value", "03")
	want(t, p, "telecom[2].value", "45")
	want(t, p, "telecom[3].value", "49281021588")
	want(t, p, "telecom[4].value", "04928102158")
	want(t, p, "telecom[5].value", "x")
	want(t, p, "telecom[6].value", "08")
	want(t, p, "telecom[7].value", "HepB")
	absent(t, p, "telecom[8]")
	// contact[0] got nothing (ORC-3.1 is F-1): pruned, so A1 moves up.
	want(t, p, "contact[0].name.text", "A1")
	absent(t, p, "contact[1]")
}

func TestCases(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - target: status
        cases:
          - {when: {value: RXA-9, equals: "00"}, const: completed}
          - {value: 'if(RXA-9, "not-done")'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	imms := byType(t, out, "Immunization")
	want(t, imms[0], "status", "completed")
	want(t, imms[1], "status", "not-done")
}

func TestTablePolicies(t *testing.T) {
	yml := `
tables:
  t_pass: {policy: pass, codes: {F: female}}
  t_warn: {policy: warn, codes: {X: female}}
  t_omit: {policy: omit, codes: {X: female}}
  t_drop: {policy: drop, codes: {X: female}}
  t_reject: {policy: reject, codes: {"03": {code: "03", display: MMR}}}
  t_csv: {file: tables/t.csv, policy: pass}
resources:
  - resource: Patient
    rules:
      - {target: gender, value: 'table("t_pass", PID-8)'}
      - {target: 'name[0].text', value: 'table("t_warn", PID-8)'}
      - {target: 'name[1].text', value: 'table("t_omit", PID-8)'}
      - {target: 'name[2].text', value: 'table("t_drop", PID-8)'}
      - {target: 'name[3].text', value: 'table("t_csv", PID-8, "display")'}
      - {target: 'name[4].text', value: 'table("t_csv", PID-8, "system")'}
  - resource: Immunization
    foreach: ORDER
    rules:
      - {target: status, const: completed}
      - {target: 'vaccineCode.coding[0].code', value: 'table("t_reject", RXA-5.1)'}
      - {target: 'vaccineCode.coding[0].display', value: 'table("t_reject", RXA-5.1, "display")'}
`
	csv := "from,code,display,system,status\n# comment\nF,female,Woman,http://x,Active\n"
	m := compileYAML(t, yml, map[string]string{"tables/t.csv": csv})
	out := apply(m, msg(t, engineMsg))
	p := byType(t, out, "Patient")[0]
	want(t, p, "gender", "female")
	want(t, p, "name[0].text", "F") // warn: passed through
	if is := findIssue(out, `code "F" is not in table t_warn; kept as sent`); is == nil || is.Severity != "warning" || is.Code != "code-invalid" {
		t.Errorf("warn policy issue: %+v", is)
	}
	// omit and drop leave the element out; only drop warns.
	want(t, p, "name[1].text", "Woman")
	want(t, p, "name[2].text", "http://x")
	if findIssue(out, "t_omit") != nil {
		t.Error("omit policy must not warn")
	}
	if is := findIssue(out, `code "F" is not in table t_drop; left out`); is == nil || is.Severity != "warning" {
		t.Errorf("drop policy issue: %+v", is)
	}
	// reject: the HepB Immunization is rejected, the MMR one and the
	// Patient still convert.
	imms := byType(t, out, "Immunization")
	if len(imms) != 1 {
		t.Fatalf("%d Immunizations, want 1", len(imms))
	}
	want(t, imms[0], "vaccineCode.coding[0].display", "MMR")
	is := findIssue(out, `code "08" is not in table t_reject`)
	if is == nil || is.Severity != "error" || is.Code != "code-invalid" || !strings.HasSuffix(is.Diagnostics, "resource rejected") {
		t.Fatalf("reject issue: %+v", is)
	}
	if is.Rule != "test.yaml:22" || is.Input == nil || is.Input.Source != "test.hl7" || is.Input.Field != "ORDER[1] RXA-5.1" {
		t.Errorf("reject issue location: rule %q input %+v", is.Rule, is.Input)
	}
	if len(is.Expression) != 1 || is.Expression[0] != "Immunization.vaccineCode.coding.code" {
		t.Errorf("expression %v", is.Expression)
	}
}

func TestDatesAndTimezones(t *testing.T) {
	yml := `
settings: {timezone: America/Chicago}
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - {target: status, const: completed}
      - {target: occurrenceDateTime, value: datetime(RXA-3)}
      - {target: recorded, value: datetime(RXA-4)}
      - {target: expirationDate, value: date(RXA-16)}
`
	m := compileYAML(t, yml, nil)
	cases := []struct {
		msh7, rxa3, rxa4, rxa16 string
		occ, rec, exp           string
	}{
		// The value's own offset wins.
		{"20240301120000-0600", "20240301101500+0200", "2024", "20251231", "2024-03-01T10:15:00+02:00", "2024", "2025-12-31"},
		// No offset: MSH-7's.
		{"20240301120000-0600", "20240301101500", "202403", "202512", "2024-03-01T10:15:00-06:00", "2024-03", "2025-12"},
		// Neither: settings.timezone (Chicago is -05:00 in July, -06:00 in January).
		{"20240301120000", "20240701101500", "20240101083000", "", "2024-07-01T10:15:00-05:00", "2024-01-01T08:30:00-06:00", ""},
		// Day precision stays a date.
		{"20240301120000", "20240701", "", "", "2024-07-01", "", ""},
	}
	for _, c := range cases {
		text := fmt.Sprintf("MSH|^~\\&|A|B|C|D|%s||VXU^V04|1|P|2.5.1\nPID|1||X\nRXA|0|1|%s|%s|08^HepB^CVX|||||||||||%s", c.msh7, c.rxa3, c.rxa4, c.rxa16)
		out := apply(m, msg(t, text))
		imm := byType(t, out, "Immunization")[0]
		want(t, imm, "occurrenceDateTime", c.occ)
		if c.rec == "" {
			absent(t, imm, "recorded")
		} else {
			want(t, imm, "recorded", c.rec)
		}
		if c.exp == "" {
			absent(t, imm, "expirationDate")
		} else {
			want(t, imm, "expirationDate", c.exp)
		}
	}
	// Without settings.timezone, UTC.
	m2 := compileYAML(t, strings.Replace(yml, "settings: {timezone: America/Chicago}\n", "", 1), nil)
	out := apply(m2, msg(t, "MSH|^~\\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1\nRXA|0|1|20240701101500"))
	want(t, byType(t, out, "Immunization")[0], "occurrenceDateTime", "2024-07-01T10:15:00Z")
	// An impossible date is an error issue for the element; the resource stays.
	out = apply(m, msg(t, "MSH|^~\\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1\nRXA|0|1|20111301"))
	imm := byType(t, out, "Immunization")[0]
	absent(t, imm, "occurrenceDateTime")
	if is := findIssue(out, "not a valid v2 timestamp"); is == nil || is.Severity != "error" || is.Code != "value" {
		t.Errorf("bad date issue: %+v", is)
	}
}

func TestRequired(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - {target: status, const: completed}
      - {target: occurrenceDateTime, value: datetime(RXA-3), required: true}
      - target: vaccineCode
        required: true
        rules:
          - {target: 'coding[0].code', value: 'code_in(RXA-5, "CVX")'}
`, nil)
	out := apply(m, msg(t, `
MSH|^~\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1
RXA|0|1||20240301|08^HepB^CVX
RXA|0|1|20240301|20240301|^^CVX
RXA|0|1|20240301|20240301|08^HepB^CVX`))
	if n := len(out.Resources); n != 1 {
		t.Fatalf("%d resources, want 1 (two rejected)", n)
	}
	var req int
	for _, is := range out.Issues {
		if is.Code == "required" && is.Severity == "error" {
			req++
		}
	}
	if req != 2 {
		t.Errorf("%d required issues, want 2: %+v", req, out.Issues)
	}
	if is := findIssue(out, "Immunization.vaccineCode is required"); is == nil || is.Rule != "test.yaml:8" {
		t.Errorf("block required issue: %+v", is)
	}
}

func TestTypedValues(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    rules:
      - {target: active, const: true}
      - {target: multipleBirthInteger, value: number(PID-25)}
      - {target: deceasedBoolean, value: boolean(PID-30)}
  - resource: Immunization
    rules:
      - {target: status, const: completed}
      - {target: doseQuantity.value, value: number(RXA-6)}
`, nil)
	pid := "PID|1||X" + strings.Repeat("|", 21) // next is PID-24
	out := apply(m, msg(t, "MSH|^~\\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1\n"+pid+"Y|2|||||n\nRXA|0|1|20240301|20240301|08|.50"))
	js := string(out.Resources[0].AppendJSON(nil))
	for _, w := range []string{`"active":true`, `"multipleBirthInteger":2`, `"deceasedBoolean":false`} {
		if !strings.Contains(js, w) {
			t.Errorf("Patient %s lacks %s", js, w)
		}
	}
	if js := string(out.Resources[1].AppendJSON(nil)); !strings.Contains(js, `"value":0.50`) {
		t.Errorf("decimal keeps its precision: %s", js)
	}
	// A value that cannot take the element's type: error issue, no crash.
	out = apply(m, msg(t, "MSH|^~\\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1\n"+pid+"Y|two|||||maybe"))
	if len(out.Resources) != 2 {
		t.Fatalf("resources: %d", len(out.Resources))
	}
	if findIssue(out, "multipleBirthInteger: number(PID-25): not a number") == nil || findIssue(out, "not a yes/no value") == nil {
		t.Errorf("issues: %+v", out.Issues)
	}
}

func TestStableIDsAndTrace(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    id: 'first_nonempty($input.patient_id, hash(MSH-4, PID-3.1))'
    rules:
      - foreach: 'PID-3[*]'
        target: identifier[]
        rules:
          - {target: value, value: .1}
      - {target: meta.lastUpdated, value: $input.last_updated}
`, nil)
	ms := msg(t, engineMsg)
	a, b := apply(m, ms), apply(m, ms)
	ida := a.Resources[0].ID()
	if ida == "" || ida != b.Resources[0].ID() || len(ida) != 32 || strings.Trim(ida, "0123456789abcdef") != "" {
		t.Errorf("unstable or malformed id %q / %q", ida, b.Resources[0].ID())
	}
	// The same person from another sender gets another id.
	other := msg(t, strings.Replace(engineMsg, "CLINIC-A", "CLINIC-B", 1))
	if apply(m, other).Resources[0].ID() == ida {
		t.Error("two senders share a patient id")
	}
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	out := m.Apply(Input{Msg: ms, PatientID: "person-7", LastUpdated: when}, true)
	p := tree(t, out.Resources[0])
	want(t, p, "id", "person-7")
	want(t, p, "meta.lastUpdated", "2024-05-06T07:08:09Z")
	var got *Trace
	for i := range out.Trace {
		if out.Trace[i].Element == "Patient.identifier[1].value" {
			got = &out.Trace[i]
		}
	}
	if got == nil || got.Value != "B2" || got.Source != "PID-3[3].1" || got.Rule != "test.yaml:9" || got.Resource != "Patient/person-7" {
		t.Errorf("trace: %+v in %+v", got, out.Trace)
	}
	if len(apply(m, ms).Trace) == 0 || len(m.Apply(Input{Msg: ms}, false).Trace) != 0 {
		t.Error("trace only when asked for")
	}
}

func TestMessageFilterAndWhen(t *testing.T) {
	m := compileYAML(t, `
messages: [VXU^V04]
when: {has: PID}
resources:
  - resource: Patient
    rules:
      - {target: gender, const: unknown}
`, nil)
	if out := apply(m, msg(t, "MSH|^~\\&|A|B|C|D|20240301||QBP^Q11^QBP_Q11|1|P|2.5.1\nQPD|Z34")); len(out.Resources)+len(out.Issues) != 0 {
		t.Errorf("QBP: %+v", out)
	}
	if out := apply(m, msg(t, "MSH|^~\\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1\nORC|RE")); len(out.Resources)+len(out.Issues) != 0 {
		t.Errorf("VXU without PID: %+v", out)
	}
	if out := apply(m, msg(t, "MSH|^~\\&|A|B|C|D|20240301||VXU^V04|1|P|2.5.1\nPID|1")); len(out.Resources) != 1 {
		t.Errorf("VXU: %+v", out)
	}
	if out := m.Apply(Input{}, false); len(out.Resources) != 0 {
		t.Error("nil message")
	}
}

type row map[string]string

func (r row) Column(name string) (string, bool) { v, ok := r[name]; return v, ok }

func TestSQLSource(t *testing.T) {
	m := compileYAML(t, `
source: sql
columns: [patient_id, last_name, birth_date, sex]
resources:
  - resource: Patient
    id: hash(patient_id)
    rules:
      - {target: 'name[0].family', value: last_name}
      - {target: birthDate, value: date(birth_date)}
      - {target: gender, value: lower(sex), default: unknown}
`, nil)
	out := m.Apply(Input{Row: row{"patient_id": "7", "last_name": "Ng", "birth_date": "20200102"}}, false)
	p := tree(t, out.Resources[0])
	want(t, p, "name[0].family", "Ng")
	want(t, p, "birthDate", "2020-01-02")
	want(t, p, "gender", "unknown")
	got := problems(t, `
source: sql
columns: [patient_id]
resources:
  - resource: Patient
    rules:
      - {target: gender, value: sex}
      - foreach: 'PID-3[*]'
        target: identifier[]
        rules: []
`, nil)
	wantProblems(t, got,
		`test.yaml:7:33: unknown column "sex" (not in columns:)`,
		`test.yaml:8:18: foreach needs the tables declared under columns: (a one-row mapping has one record per row)`)
}

func TestConcurrentApply(t *testing.T) {
	m := Default()
	ms := readMsg(t, "vxu_full.hl7")
	ref := string(m.Apply(Input{Msg: ms}, false).Resources[1].AppendJSON(nil))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if got := string(m.Apply(Input{Msg: ms}, i%2 == 0).Resources[1].AppendJSON(nil)); got != ref {
					t.Errorf("concurrent Apply differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func wantProblems(t testing.TB, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDefaultIDWithoutIDRule(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Immunization
    foreach: ORDER
    rules:
      - {target: status, const: completed}
`, nil)
	a, b := apply(m, msg(t, engineMsg)), apply(m, msg(t, engineMsg))
	if len(a.Resources) != 2 {
		t.Fatalf("%d resources", len(a.Resources))
	}
	id0, id1 := a.Resources[0].ID(), a.Resources[1].ID()
	if id0 == "" || id0 == id1 || id0 != b.Resources[0].ID() || id1 != b.Resources[1].ID() {
		t.Errorf("default ids must be stable and distinct: %q %q", id0, id1)
	}
}

package mapping

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources"
)

const unbuiltMsg = `
MSH|^~\&|APP|CLINIC-A|IIS|STATE|20240301120000-0600||VXU^V04^VXU_V04|CTRL-1|P|2.5.1
PID|1||A1^^^AUTH1^MR||Doe^Jane^Q^^^^L|||F
ORC|RE||F-1
RXA|0|1|20240301|20240301|08^HepB^CVX|0.5|mL||00
ORC|RE||F-2
RXA|0|1|20240302|20240302||999
ORC|RE||F-3
RXA|0|1|2024XX03|2024XX03|03^MMR^CVX|999|||01
ORC|RE||F-4
RXA|0|1|20240304|20240304|10^IPV^CVX|999|||01
`

// builtAlone maps msg once per resource instance, Want accepting only
// that one, and checks each resource equals its full-run JSON.
func builtAlone(t *testing.T, m *Mapping, text string) (full Output, alone []Output) {
	t.Helper()
	in := Input{Msg: msg(t, text), Loc: sources.Location{Source: "test.hl7", Line: 1}}
	full = m.Apply(in, false)
	var got []string
	asks := [][2]any{{"Patient", -1}}
	for k := range in.Msg.Orders() {
		asks = append(asks, [2]any{"Immunization", k})
	}
	for _, ask := range asks {
		in.Want = func(typ string, ord int) bool { return typ == ask[0] && ord == ask[1] }
		out := m.Apply(in, false)
		alone = append(alone, out)
		for _, r := range out.Resources {
			got = append(got, string(r.AppendJSON(nil)))
		}
	}
	var want []string
	for _, r := range full.Resources {
		want = append(want, string(r.AppendJSON(nil)))
	}
	slices.Sort(got) // one call per ORDER builds every resource type of it
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("resources built one at a time:\n%s\nfull run:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return full, alone
}

// An unbuilt instance skips its lets and id only when nothing can see
// them, and still counts toward the default ids of later instances: a
// default id (no id rule, or one that gives nothing) is the same whether
// the earlier instances were built or not.
func TestUnbuiltKeepsDefaultIDs(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    let:
      fam: PID-5.1
  - resource: Immunization
    foreach: ORDER
    when: {present: RXA-5.1}
    let:
      code: RXA-5.1
    rules:
      - {target: status, const: completed}
      - {target: vaccineCode.text, value: $code}
  - resource: Immunization
    foreach: ORDER
    when: {present: RXA-5.1}
    id: 'hash("x", date(RXA-3))'
    rules:
      - {target: status, const: completed}
      - {target: lotNumber, value: $fam}
`, nil)
	r := m.impl.resources
	if !r[0].observed || r[0].skipUnbuilt {
		t.Error("Patient: its let is read by another resource, yet skippable")
	}
	if !r[1].skipUnbuilt || !r[1].whenLater || !r[1].needStarted {
		t.Errorf("first Immunization: skip %v, whenLater %v, needStarted %v", r[1].skipUnbuilt, r[1].whenLater, r[1].needStarted)
	}
	if !r[2].needStarted {
		t.Error("an id with date() may be empty: the default id may be needed")
	}
	full, _ := builtAlone(t, m, unbuiltMsg)
	// 3 with a code of each Immunization resource, the Patient: 7, and
	// the second resource's bad date falls back to a default id.
	if len(full.Resources) != 7 {
		t.Fatalf("%d resources", len(full.Resources))
	}
}

// What an unbuilt instance reports stays reported: a let whose table
// warns, a when: that fails on a bad value.
func TestUnbuiltKeepsIssues(t *testing.T) {
	m := compileYAML(t, `
tables:
  loud: {policy: warn, codes: {"08": HepB}}
resources:
  - resource: Immunization
    foreach: ORDER
    let:
      code: 'table("loud", RXA-5.1)'
    rules:
      - {target: status, const: completed}
  - resource: Immunization
    foreach: ORDER
    when: {present: 'date(RXA-3)'}
    id: 'hash("y", ORC-3.1)'
    rules:
      - {target: status, const: completed}
`, nil)
	r := m.impl.resources
	if r[0].skipUnbuilt {
		t.Error("a let whose table warns is skipped")
	}
	if r[1].whenPure {
		t.Error("date() in a when: is pure")
	}
	full, alone := builtAlone(t, m, unbuiltMsg)
	count := func(o Output) (n int) {
		for _, is := range o.Issues {
			if strings.Contains(is.Diagnostics, "not in table loud") || strings.Contains(is.Diagnostics, "date") {
				n++
			}
		}
		return n
	}
	want := count(full)
	if want == 0 {
		t.Fatal("the fixture raises no issue")
	}
	for i, o := range alone {
		if n := count(o); n != want {
			t.Errorf("Want call %d: %d issues, a full run %d", i, n, want)
		}
	}
}

// The default mapping's Immunizations are skippable when refused; its
// Patient (whose id is $patient) is not.
func TestUnbuiltDefault(t *testing.T) {
	r := Default().impl.resources
	if r[0].skipUnbuilt || !r[1].skipUnbuilt || !r[1].whenLater {
		t.Errorf("Patient skip %v; Immunization skip %v, whenLater %v", r[0].skipUnbuilt, r[1].skipUnbuilt, r[1].whenLater)
	}
	builtAlone(t, Default(), unbuiltMsg)
	builtAlone(t, Default(), benchVXU8)
}

// wantedOrders counts ORDER groups as RXA segments: Message.Orders makes
// exactly one group per RXA, whatever surrounds it.
func TestOrdersAreRXAs(t *testing.T) {
	texts := []string{engineMsg, unbuiltMsg, benchVXU8, benchVXU,
		"MSH|^~\\&|A|B|||||VXU^V04|1|P|2.5.1\nPID|1\nRXA|0|1|2024\nORC|RE\nORC|RE\nRXA|0|1\nNTE|1\nRXA|0|1\nPV1|1\nRXA|0\nZXY|1\nRXR|IM\nOBX|1\nRXA|1"}
	for _, name := range []string{"vxu_full.hl7", "vxu_misc.hl7", "vxu_status.hl7", "vxu_badcodes.hl7", "rsp_z42.hl7", "rsp_z31.hl7", "qbp.hl7"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(data))
	}
	for i, text := range texts {
		m := msg(t, text)
		n := 0
		for _, seg := range m.Segments() {
			if seg.Name() == "RXA" {
				n++
			}
		}
		if got := len(m.Orders()); got != n {
			t.Errorf("message %d: %d ORDER groups, %d RXA", i, got, n)
		}
	}
}

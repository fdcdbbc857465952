package mapping

import (
	"reflect"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources"
)

func TestIdentityMessage(t *testing.T) {
	var id sources.Identity
	m := msg(t, "MSH|^~\\&|EHR|CLINICA^1.2^ISO|IIS|MYIIS|20240101||VXU^V04|1|P|2.5.1\r"+
		"PID|1||M1^^^^MR~S9^^^MYIIS&2.16.840^SR~~\"\"||Ng&Van^Ann||20200102|F\r")
	if err := Default().Identify(m, &id); err != nil {
		t.Fatal(err)
	}
	want := sources.Identity{
		IDs: []sources.PersonID{
			{ID: "M1", Type: "MR", Facility: "CLINICA"},
			{ID: "S9", Type: "SR", Authority: "MYIIS", AuthorityID: "2.16.840", Facility: "CLINICA"},
		},
		Family: "Ng", Given: "Ann", BirthDate: "20200102", Sex: "F",
		OrgKey: "CLINICA|1.2", OrgName: "CLINICA",
	}
	if !reflect.DeepEqual(id, want) {
		t.Errorf("identity\n%+v, want\n%+v", id, want)
	}
	// The destination is reset: nothing of the last record stays.
	if err := Default().Identify(msg(t, "MSH|^~\\&|A||B||20240101||VXU^V04|2|P|2.5.1\r"), &id); err != nil {
		t.Fatal(err)
	}
	if len(id.IDs) != 0 || id.Family != "" || id.OrgKey != "" {
		t.Errorf("not reset: %+v", id)
	}
	if err := Default().Identify(42, &id); err == nil {
		t.Error("identified an int")
	}
}

// The same section reads rows, from columns.
func TestIdentityRow(t *testing.T) {
	m := compileYAML(t, `
source: sql
columns: [patient_id, mrn, clinic, last_name, first_name, dob, sex, org]
identity:
  identifiers:
    - {id: patient_id, type: '"SR"', authority: '"STATEIIS"'}
    - {id: mrn, type: '"MR"', facility: clinic, when: {present: clinic}}
  family: last_name
  given: first_name
  birth_date: dob
  sex: sex
  organization: org
resources:
  - resource: Patient
    id: hash(patient_id)
`, nil)
	var id sources.Identity
	if err := m.Identify(row{"patient_id": "7", "mrn": "M7", "last_name": "Ng", "first_name": "Ann", "dob": "20200102", "sex": "F", "org": "O1"}, &id); err != nil {
		t.Fatal(err)
	}
	keys := sources.DefaultIdentity().Keys(&id, nil)
	if want := []string{"A:STATEIIS|7", "C:NG|ANN|20200102|F"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %q, want %q (the MRN has no clinic: when: leaves it out)", keys, want)
	}
	if id.OrgKey != "O1" {
		t.Errorf("organization %q", id.OrgKey)
	}
}

func TestIdentityProblems(t *testing.T) {
	got := problems(t, `
let:
  x: MSH-4.1
identity:
  identifiers:
    - foreach: PID
      id: .1
    - type: PID-3.5
      colour: red
  family: .1
  sex: $nope
  organization_name: MSH-4.1
  extra: 1
resources:
  - resource: Patient
`, nil)
	wantProblems(t, got,
		`test.yaml:13:3: unknown key "extra" in identity (allowed: identifiers, family, given, birth_date, sex, organization, organization_name)`,
		`test.yaml:6:16: identity identifiers: foreach must be a repeating field (PID-3[*]): an identifier is one repetition`,
		`test.yaml:7:11: relative path ".1" outside a foreach over repetitions`,
		`test.yaml:9:7: unknown key "colour" in an identity identifier (allowed: foreach, when, id, type, authority, authority_id, facility)`,
		`test.yaml:8:7: an identity identifier needs id:`,
		`test.yaml:10:11: relative path ".1" outside a foreach over repetitions`,
		`test.yaml:11:8: expression "$nope": unknown variable $nope`,
		`test.yaml:12:22: identity: organization_name without organization`)
}

// The index is rebuilt when the identity section (or a let or constant it
// may read) changes, not when a resource rule does; a mapping without the
// section uses the default's.
func TestIdentityFingerprint(t *testing.T) {
	def := Default().IdentityFingerprint()
	src := string(DefaultSource())
	load := func(text string) string {
		t.Helper()
		m, err := Parse([]byte(text), "copy.yaml", DefaultFS(), ".")
		if err != nil {
			t.Fatal(err)
		}
		return m.IdentityFingerprint()
	}
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(src, old) {
			t.Fatalf("the default mapping has no %q", old)
		}
		return strings.Replace(src, old, new, 1)
	}
	if got := load(src); got != def {
		t.Errorf("a copy: fingerprint %s, want %s", got, def)
	}
	if got := load(edit("      type: .5\n", "      type: .5 # the CX-5 type\n")); got != def {
		t.Error("a comment changed the fingerprint")
	}
	if got := load(edit("  sex: PID-8.1\n", "  sex: PID-8.2\n")); got == def {
		t.Error("an identity edit kept the fingerprint")
	}
	if got := load(edit("first_nonempty(MSH-6.1, MSH-6.2))'", "MSH-6.1)'")); got == def {
		t.Error("an edit of a let the section reads kept the fingerprint")
	}
	if got := load(edit("url, const: status}", "url, const: state}")); got != def {
		t.Error("a resource rule edit changed the fingerprint")
	}
	i, j := strings.Index(src, "\nidentity:\n"), strings.Index(src, "\nresources:\n")
	if got := load(src[:i] + src[j:]); got != def {
		t.Error("a mapping without the section does not use the default's")
	}
}

// BenchmarkIdentity is what the index pays per message for the identity:
// section (the message parsed once, outside the loop).
func BenchmarkIdentity(b *testing.B) {
	m := Default()
	msg := msg(b, benchVXU)
	var id sources.Identity
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Identify(msg, &id); err != nil {
			b.Fatal(err)
		}
	}
}

// Identity evaluates the root lets its section reads, through other lets
// and conditions too, and no other: a let it does not read (here $unread,
// whose value would be a dozen segment reads per record) costs nothing.
func TestIdentityReadsItsLets(t *testing.T) {
	m := compileYAML(t, `
let:
  owner: 'first_nonempty(MSH-4.1, MSH-3.1)'
  fac: 'concat($owner, "/", MSH-4.2)'
  unread: 'concat(PID-11.1, $owner)'
  gate: '"MR"'
identity:
  identifiers:
    - foreach: 'PID-3[*]'
      when: {all: [{value: .5, equals: MR}, {present: $gate}]}
      id: .1
      type: .5
      facility: $fac
  family: PID-5.1
resources:
  - resource: Patient
    id: hash(PID-3.1)
`, nil)
	impl := m.impl
	var got []int
	for _, l := range impl.identity.lets {
		got = append(got, l.slot)
	}
	want := []int{impl.lets[0].slot, impl.lets[1].slot, impl.lets[3].slot}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("identity lets: slots %v, want %v (owner, fac, gate)", got, want)
	}
	var id sources.Identity
	if err := m.Identify(msg(t, "MSH|^~\\&|APP|CLIN^1.2|IIS||20240101||VXU^V04|1|P|2.5.1\r"+
		"PID|1||M1^^^^MR~S9^^^^SR||Ng^Ann"), &id); err != nil {
		t.Fatal(err)
	}
	want2 := []sources.PersonID{{ID: "M1", Type: "MR", Facility: "CLIN/1.2"}}
	if !reflect.DeepEqual(id.IDs, want2) || id.Family != "Ng" {
		t.Errorf("identity %+v, want IDs %+v and family Ng", id, want2)
	}
	// The default section reads $mrn_owner alone.
	d := Default().impl
	if l := d.identity.lets; len(l) != 1 || l[0].x.String() != "if(except(MSH-9.1, \"RSP\"), first_nonempty(MSH-4.1, MSH-4.2), first_nonempty(MSH-6.1, MSH-6.2))" {
		t.Errorf("default identity lets: %v", l)
	}
}

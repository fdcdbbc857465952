package mapdiff

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
)

// archives are the test messages of the mapping and cmd packages.
var archives = []string{"../testdata", "../../cmd/iisbridge/testdata/archive.hl7"}

// draft writes the default mapping with edits (old → new) to a folder
// and loads it.
func draft(t testing.TB, edits ...string) *mapping.Mapping {
	t.Helper()
	dir := t.TempDir()
	if _, err := mapping.WriteDefault(dir, true); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "default.yaml")
	src, _ := os.ReadFile(p)
	s := string(src)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("the default mapping no longer holds %q", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	os.WriteFile(p, []byte(s), 0o644)
	m, err := mapping.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSampleIsDeterministicAndBounded(t *testing.T) {
	ctx := context.Background()
	all, seen, err := Sample(ctx, archives, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if seen < 8 || len(all) != seen {
		t.Fatalf("a sample larger than the archive holds every message: %d of %d", len(all), seen)
	}
	a, _, _ := Sample(ctx, archives, 4, 7)
	b, _, _ := Sample(ctx, archives, 4, 7)
	if len(a) != 4 || names(a) != names(b) {
		t.Errorf("same seed, different samples:\n%s\n%s", names(a), names(b))
	}
	differs := false
	for seed := uint64(8); seed < 20 && !differs; seed++ {
		c, _, _ := Sample(ctx, archives, 4, seed)
		differs = names(c) != names(a)
	}
	if !differs {
		t.Error("the seed does not change the sample")
	}
	// Archive order is kept.
	for i := 1; i < len(a); i++ {
		if a[i].Loc.Source == a[i-1].Loc.Source && a[i].Loc.Offset <= a[i-1].Loc.Offset {
			t.Errorf("sample out of archive order: %v", names(a))
		}
	}
	if _, _, err := Sample(ctx, archives, 0, 1); err == nil {
		t.Error("a sample of 0 must be refused")
	}
}

func names(rs []Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Loc.String())
	}
	return strings.Join(s, "\n")
}

func TestCompareSameMappingIsQuiet(t *testing.T) {
	recs, _, _ := Sample(context.Background(), archives, 100, 1)
	rep := Compare(mapping.Default(), draft(t), recs)
	if rep.Changed != 0 || len(rep.Elements)+len(rep.Resources)+len(rep.Issues) != 0 {
		t.Errorf("the default against its own copy: %+v", rep)
	}
	if rep.Messages == 0 {
		t.Error("nothing compared")
	}
}

func TestCompareFindsEveryKindOfChange(t *testing.T) {
	// VXUs only: an RSP without doses makes no Patient at all (the default
	// mapping's top-level when), which would blur the expected counts.
	all, _, _ := Sample(context.Background(), archives, 100, 1)
	var recs []Record
	for _, r := range all {
		if msh, _, _ := strings.Cut(string(r.Data), "\r"); strings.Contains(msh, "|VXU^V04") {
			recs = append(recs, r)
		}
	}
	d := draft(t,
		// A value change: every CVX display.
		`{target: display, value: 'table("cvx", $cvx, "display")'}`, `{target: display, const: Changed display}`,
		// A new warning on every Patient with a birth date.
		"      - {target: birthDate, value: date(PID-7)}\n",
		"      - {target: birthDate, value: date(PID-7)}\n      - {target: birthDate, when: {present: PID-7}, warn: draft rule fired}\n",
		// Hep B doses (CVX 08) are no longer exported.
		"    foreach: ORDER\n    when:\n      all:\n        - {has: RXA}\n", "    foreach: ORDER\n    when:\n      all:\n        - {has: RXA}\n        - {not: {value: 'cvx(first_nonempty(code_in(RXA-5, \"CVX\", \"HL70292\"), RXA-5.1))', equals: \"08\"}}\n",
	)
	// What to expect, counted from the base mapping's own output.
	var withCVX, hepB, births int
	for _, r := range recs {
		msg, err := hl7v2.Parse(r.Data)
		if err != nil {
			continue
		}
		out := mapping.Default().Apply(mapping.Input{Msg: msg, Loc: r.Loc}, false)
		for _, res := range out.Resources {
			js := string(res.AppendJSON(nil))
			switch res.ResourceType() {
			case "Immunization":
				if strings.Contains(js, `"code":"08"`) {
					hepB++
				} else if strings.Contains(js, `"system":"http://hl7.org/fhir/sid/cvx"`) {
					withCVX++
				}
			case "Patient":
				if strings.Contains(js, `"birthDate"`) {
					births++
				}
			}
		}
	}
	if withCVX == 0 || hepB == 0 || births == 0 {
		t.Fatalf("test data lacks the cases: %d CVX doses, %d Hep B, %d births", withCVX, hepB, births)
	}
	rep := Compare(mapping.Default(), d, recs)

	var disp *ElementChange
	for i, e := range rep.Elements {
		if e.Element == "Immunization.vaccineCode.coding.display" {
			disp = &rep.Elements[i]
		}
	}
	if disp == nil || disp.Kind != "changed" || disp.Count != withCVX {
		t.Fatalf("display change: %+v, want %d changed (%d Hep B; resources %+v)", disp, withCVX, hepB, rep.Resources)
	}
	if disp.Values[0].After != "Changed display" || disp.Example.After != "Changed display" || disp.Example.Where == "" || !strings.HasPrefix(disp.Example.Resource, "Immunization/") {
		t.Errorf("display change values/example: %+v", disp)
	}
	if len(rep.Elements) != 1 {
		t.Errorf("only the display should change, got %+v", rep.Elements)
	}
	if len(rep.Resources) != 1 || rep.Resources[0].Type != "Immunization" || rep.Resources[0].Vanished != hepB || rep.Resources[0].Appeared != 0 {
		t.Errorf("resources: %+v, want %d Immunizations vanished", rep.Resources, hepB)
	}
	var fired *IssueChange
	for i, is := range rep.Issues {
		if is.Kind == "draft rule fired" {
			fired = &rep.Issues[i]
		}
	}
	if fired == nil || fired.Appeared != births || fired.Disappeared != 0 || fired.Severity != "warning" || !strings.Contains(fired.Rule, "default.yaml:") {
		t.Errorf("warning appeared: %+v, want %d", fired, births)
	}
	// The other way round, the warning disappears and the doses appear.
	back := Compare(d, mapping.Default(), recs)
	if len(back.Resources) != 1 || back.Resources[0].Appeared != hepB {
		t.Errorf("reverse resources: %+v", back.Resources)
	}
	for _, is := range back.Issues {
		if is.Kind == "draft rule fired" && is.Disappeared != births {
			t.Errorf("reverse warning: %+v", is)
		}
	}
}

func TestDeltas(t *testing.T) {
	msg, err := hl7v2.Parse(mustRead(t, "../testdata/vxu_full.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	d := draft(t, `{target: display, value: 'table("cvx", $cvx, "display")'}`, `{target: display, const: Changed display}`)
	in := mapping.Input{Msg: msg}
	ds := Deltas(mapping.Default().Apply(in, false), d.Apply(in, false))
	if len(ds) == 0 {
		t.Fatal("no deltas")
	}
	for _, x := range ds {
		if x.Kind != "changed" || x.After != "Changed display" || !strings.HasPrefix(x.Element, "Immunization.vaccineCode.coding[") {
			t.Errorf("delta %+v", x)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIssueKind(t *testing.T) {
	if a, b := IssueKind(`code "45" is not in table cvx at line 3`), IssueKind(`code "08" is not in table cvx at line 9`); a != b {
		t.Errorf("%q != %q", a, b)
	}
}

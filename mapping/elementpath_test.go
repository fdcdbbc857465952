package mapping

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/iisbridge/iisbridge/fhirout"
)

// refValues is what ElementPath.Values gave when it walked the path
// level by level into fresh slices: the reference the in-place walk
// must match.
func refValues(p *ElementPath, o *fhirout.Object) []any {
	var walk func(o *fhirout.Object, steps []pathStep) []any
	walk = func(o *fhirout.Object, steps []pathStep) []any {
		cur := []any{o}
		for _, st := range steps {
			var next []any
			for _, c := range cur {
				co, ok := c.(*fhirout.Object)
				if !ok {
					continue
				}
				v, ok := co.Get(st.name)
				if !ok {
					continue
				}
				items := []any{v}
				if l, ok := v.([]any); ok {
					items = l
				}
				for _, it := range items {
					if st.filter != nil {
						io, ok := it.(*fhirout.Object)
						if !ok {
							continue
						}
						var fs []pathStep
						for _, n := range st.filter {
							fs = append(fs, pathStep{name: n})
						}
						hit := false
						for _, fv := range walk(io, fs) {
							if s, ok := fv.(string); ok && s == st.filterWant {
								hit = true
							}
						}
						if !hit {
							continue
						}
					}
					next = append(next, it)
				}
			}
			cur = next
		}
		return cur
	}
	for _, steps := range p.alts {
		if vs := walk(o, steps); len(vs) > 0 {
			return vs
		}
	}
	return nil
}

func TestElementPathMatchesReference(t *testing.T) {
	o, err := fhirout.ParseObject([]byte(`{"resourceType":"Immunization","status":"entered-in-error",
		"vaccineCode":{"coding":[{"system":"s/ndc","code":"49281"},{"system":"http://hl7.org/fhir/sid/cvx","code":"08"},"odd"]},
		"identifier":[{"type":{"coding":[{"code":"PLAC"}]},"value":"P1"},{"type":{"coding":[{"code":"X"},{"code":"FILL"}]},"system":"s/a","value":"F1"},
			{"type":{"coding":[{"code":"FILL"}]},"value":"F2"},"notanobject"],
		"occurrenceString":"spring 2020","primarySource":true,"reportOrigin":{"coding":[]},
		"protocolApplied":[{"doseNumberPositiveInt":1,"series":"A"},{"series":"B"},{"doseNumberString":"2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"vaccineCode.coding", "vaccineCode.coding.code", "vaccineCode.coding.system=s/ndc",
		"identifier[type.coding.code=FILL]", "identifier[type.coding.code=FILL].value", "identifier[type.coding.code=NONE].value",
		"occurrenceDateTime|occurrenceString", "occurrenceString|occurrenceDateTime", "missing|also.missing",
		"status=entered-in-error", "status=completed", "primarySource", "status", "reportOrigin.coding.code",
		"protocolApplied.series", "protocolApplied.doseNumberPositiveInt|protocolApplied.doseNumberString", "status.deeper"} {
		p, err := ParseElementPath(src)
		if err != nil {
			t.Fatal(err)
		}
		want := refValues(p, o)
		if got := p.Values(o); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Values %v, want %v", src, got, want)
		}
		room := []any{"kept"}
		if got := p.AppendValues(room, o); !reflect.DeepEqual(got, append([]any{"kept"}, want...)) {
			t.Errorf("%s: AppendValues %v, want kept + %v", src, got, want)
		}
		var wantHolds bool
		wantStr := ""
		for _, v := range want {
			if p.tested {
				if s, ok := v.(string); ok && s == p.test {
					wantHolds = true
				}
			} else if b, ok := v.(bool); ok && b {
				wantHolds = true
			}
			if s, ok := v.(string); ok && wantStr == "" {
				wantStr = s
			}
		}
		if got := p.Holds(o); got != wantHolds {
			t.Errorf("%s: Holds %v, want %v", src, got, wantHolds)
		}
		if got := p.String1(o); got != wantStr {
			t.Errorf("%s: String1 %q, want %q", src, got, wantStr)
		}
	}
}

// BenchmarkElementPath reads what the dose reducer reads of an
// Immunization (vaccine codings, day, FILL identifier, two tests).
//
//	go test ./mapping -run '^$' -bench ElementPath -benchmem
func BenchmarkElementPath(b *testing.B) {
	o, err := fhirout.ParseObject([]byte(`{"resourceType":"Immunization","status":"completed",
		"vaccineCode":{"coding":[{"system":"http://hl7.org/fhir/sid/cvx","code":"08"}]},
		"identifier":[{"type":{"coding":[{"code":"FILL"}]},"system":"s/a","value":"F1"}],
		"occurrenceDateTime":"2024-01-01","primarySource":true}`))
	if err != nil {
		b.Fatal(err)
	}
	el := Default().Reduction("Immunization").Elements
	b.ReportAllocs()
	var room [4]any
	for b.Loop() {
		el["vaccine"].AppendValues(room[:0], o)
		el["day"].String1(o)
		el["dose_id"].AppendValues(room[:0], o)
		el["deleted"].Holds(o)
		el["primary"].Holds(o)
	}
}

// TestElementNamesInterned checks that a name in targets and element
// paths parsed from different texts is one string: objects the mapping
// makes and reads then find their keys by pointer (Object.index).
func TestElementNamesInterned(t *testing.T) {
	a, err := parseTarget(strings.Clone("coding[].system"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseTarget(strings.Clone("identifier[].system"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseElementPath(strings.Clone("vaccineCode.coding[system=x].system"))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{a.steps[1].key, b.steps[1].key, p.alts[0][2].name, p.alts[0][1].filterSteps[0].name}
	for _, n := range names {
		if n != "system" || unsafe.StringData(n) != unsafe.StringData(names[0]) {
			t.Errorf("%q at %p, want \"system\" at %p", n, unsafe.StringData(n), unsafe.StringData(names[0]))
		}
	}
}

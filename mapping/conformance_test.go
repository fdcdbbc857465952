package mapping

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// conformance checks every resource the default mapping makes of one
// message: FHIR R4 schema (with IISBRIDGE_FHIR_SCHEMA) and the US Core
// rules of fhirtest.USCore, where a data-absent element must come with a
// warning naming it among the issues of the same record. To tie each
// warning to its resource, the Patient and every ORDER group's
// Immunization are mapped on their own (Input.Want); the full Apply must
// give the same resources.
func conformance(m *Mapping, in Input) (resources int, errs []error) {
	full := m.Apply(in, false)
	parts := 0
	check := func(what string, want func(string, int) bool) {
		in := in
		in.Want = want
		out := m.Apply(in, false)
		for _, r := range out.Resources {
			parts++
			b, err := r.MarshalJSON()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := fhirtest.Conformant(b, warnedElements(out)); err != nil {
				errs = append(errs, fmt.Errorf("%s record %d %s: %w", in.Loc.Source, in.Loc.Index, what, err))
			}
		}
	}
	check("Patient", func(t string, _ int) bool { return t == "Patient" })
	for k := range in.Msg.Orders() {
		check(fmt.Sprintf("ORDER[%d]", k+1), func(t string, o int) bool { return t == "Immunization" && o == k })
	}
	check("other types", func(t string, _ int) bool { return t != "Patient" && t != "Immunization" })
	if parts != len(full.Resources) {
		errs = append(errs, fmt.Errorf("%s record %d: %d resources mapped in full, %d part by part", in.Loc.Source, in.Loc.Index, len(full.Resources), parts))
	}
	return len(full.Resources), errs
}

// warnedElements lists the FHIR elements the warnings of out name.
func warnedElements(out Output) []string {
	var els []string
	for _, is := range out.Issues {
		if is.Severity == "warning" {
			els = append(els, is.Expression...)
		}
	}
	return els
}

// conformanceOver runs conformance over every message of paths.
func conformanceOver(t *testing.T, paths ...string) (msgs, resources int) {
	t.Helper()
	r, err := v2archive.Open(paths, v2archive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := Default()
	failed := 0
	for {
		it, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.Err != nil {
			continue
		}
		msg, err := hl7v2.Parse(it.Data)
		if err != nil {
			continue
		}
		msgs++
		n, errs := conformance(m, Input{Msg: msg, Loc: it.Loc})
		resources += n
		for _, e := range errs {
			if failed++; failed <= 20 {
				t.Error(e)
			}
		}
	}
	if failed > 20 {
		t.Errorf("… %d failures in all", failed)
	}
	return msgs, resources
}

// TestConformanceTestdata: every resource of the mapping's own test
// messages is FHIR R4 and US Core, or reports what it lacks.
func TestConformanceTestdata(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	msgs, res := conformanceOver(t, files...)
	if msgs < 5 || res == 0 {
		t.Fatalf("%d messages, %d resources: the test checked nothing", msgs, res)
	}
	t.Logf("%d messages, %d resources", msgs, res)
}

// TestConformanceCorpus does the same over the real-world corpus
// ($IISBRIDGE_CORPUS, else ../shared/corpus beside the module).
func TestConformanceCorpus(t *testing.T) {
	dir := os.Getenv("IISBRIDGE_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	v2 := filepath.Join(dir, "v2")
	if _, err := os.Stat(v2); err != nil {
		t.Skipf("corpus not found at %s (set IISBRIDGE_CORPUS): skipping", v2)
	}
	msgs, res := conformanceOver(t, v2)
	t.Logf("%d messages, %d resources", msgs, res)
}

// TestConformanceSynth does the same over a generated IIS world.
func TestConformanceSynth(t *testing.T) {
	dir := t.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 16, People: 60, Framings: []string{"msh"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	msgs, res := conformanceOver(t, paths...)
	if msgs == 0 || res == 0 {
		t.Fatal("the generated world gave nothing")
	}
	t.Logf("%d messages, %d resources", msgs, res)
}

// TestConformanceCatchesSilentAbsence: a mapping that writes
// data-absent-reason without its warning fails the check.
func TestConformanceCatchesSilentAbsence(t *testing.T) {
	m := compileYAML(t, `
resources:
  - resource: Patient
    rules:
      - {target: 'identifier[0].system', const: 's'}
      - {target: 'identifier[0].value', value: PID-3.1}
      - {target: 'name[0].family', value: PID-5.1}
      - target: _gender.extension[]
        rules:
          - {target: url, const: `+fhirtest.DataAbsentReasonURL+`}
          - {target: valueCode, const: unknown}
`, nil)
	_, errs := conformance(m, Input{Msg: msg(t, "MSH|^~\\&|A|B|C|D|20240101||VXU^V04|1|P|2.5.1\nPID|1||X1||Doe^Jane")})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "without a warning naming Patient.gender") {
		t.Errorf("want one error about Patient.gender, got %v", errs)
	}
}

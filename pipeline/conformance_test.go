package pipeline

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// exportConformant checks what an export emitted after merging and
// reduction: every Patient and Immunization is FHIR R4 (with the schema)
// and US Core, an element sent absent (data-absent-reason) only when the
// export's OperationOutcomes warn about that element. The mapping package
// ties each warning to its record; here the merge is what is checked.
func exportConformant(t *testing.T, s *memSink) {
	t.Helper()
	var warned []string
	for _, oo := range s.issues {
		for _, v := range list(oo, "issue") {
			is, _ := v.(*fhirout.Object)
			if str(is, "severity") != "warning" {
				continue
			}
			for _, e := range list(is, "expression") {
				if es, ok := e.(string); ok {
					warned = append(warned, es)
				}
			}
		}
	}
	failed := 0
	for _, r := range s.res {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := fhirtest.Conformant(b, warned); err != nil {
			if failed++; failed <= 10 {
				t.Error(err)
			}
		}
	}
	if len(s.res) == 0 {
		t.Fatal("nothing exported")
	}
}

func TestExportConformanceSynth(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 16, People: 60})
	var s memSink
	if err := p.Export(context.Background(), Query{}, &s); err != nil {
		t.Fatal(err)
	}
	exportConformant(t, &s)
}

func TestExportConformanceCorpus(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "v2")
	p, err := openV2(openOptions{DataDir: t.TempDir(), Paths: []string{dir}, Mapping: mapping.Default()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var s memSink
	if err := p.Export(context.Background(), Query{}, &s); err != nil {
		t.Fatal(err)
	}
	exportConformant(t, &s)
}

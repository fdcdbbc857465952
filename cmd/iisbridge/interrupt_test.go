package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"iisbridge/fhirout"
)

// An interrupted convert leaves no partial NDJSON that could pass for a
// result, and prints no summary.
func TestConvertInterrupted(t *testing.T) {
	for _, mode := range [][]string{{"--no-reduce"}, {}} {
		s := watchSignals()
		s.cancel() // as after Ctrl-C
		dir := t.TempDir()
		code, out, errs := runCmd(t, convCmd, append(mode, "--out", dir, "testdata/archive.hl7")...)
		s.stop()
		if code != 1 || !strings.Contains(errs, "interrupted; removed") || strings.Contains(out, "wrote") || strings.Contains(out, "reduced") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", mode, code, out, errs)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*.ndjson")); len(m) > 0 {
			t.Errorf("%v: partial outputs left: %v", mode, m)
		}
	}
}

func TestDiscardPartialRemovesWrittenFiles(t *testing.T) {
	dir := t.TempDir()
	dw, err := fhirout.NewDirWriter(dir, fhirout.RotateOptions{MaxResources: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		p := fhirout.NewResource("Patient")
		p.Set("id", id)
		if err := dw.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	var errs bytes.Buffer
	discardPartial(dw, nil, &errs)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 || !strings.Contains(errs.String(), "removed 3 partial output file(s)") {
		t.Errorf("left %v; %q", ents, errs.String())
	}
	var out bytes.Buffer
	errs.Reset()
	discardPartial(nil, fhirout.NewStreamWriter(&out), &errs)
	if !strings.Contains(errs.String(), "INCOMPLETE") {
		t.Errorf("stdout stream not marked incomplete: %q", errs.String())
	}
}

package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestMappingPreviewTablesWideTraceOnly(t *testing.T) {
	code, out, errs := runCmd(t, previewCmd, "../../mapping/testdata/vxu_full.hl7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// Table lookups in the source column: a direct table() call and a
	// variable ($cvx) defined with table() calls.
	for _, re := range []string{
		`(?m)^Patient\.extension\[0\]\.extension\[0\]\.valueCoding\.code +2106-3 +PID-10\[1\]\.1 → race → 2106-3 +defaults/default\.yaml:\d+$`,
		`(?m)^Immunization\.vaccineCode\.coding\[0\]\.code +08 +ORDER\[1\] RXA-5 → cvx\|cpt_cvx\|ndc_cvx → 08 +defaults/default\.yaml:\d+$`,
		`(?m)^Patient\.name\[0\]\.family +Quillfeather +PID-5\[1\]\.1\.1 +defaults`, // no table: source only
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("preview lacks %s", re)
		}
	}
	long := "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
	if strings.Contains(out, long+" ") {
		t.Error("without --wide long values are cut")
	}
	_, wide, _ := runCmd(t, previewCmd, "--wide", "../../mapping/testdata/vxu_full.hl7")
	if !strings.Contains(wide, long+" ") {
		t.Error("--wide cuts values")
	}
	_, tr, _ := runCmd(t, previewCmd, "--trace-only", "../../mapping/testdata/vxu_full.hl7")
	if strings.Contains(tr, `"resourceType"`) || strings.Contains(tr, "--- trace") {
		t.Errorf("--trace-only prints JSON or the table:\n%s", tr)
	}
	for _, re := range []string{
		`(?m)^=== Patient/[0-9a-f]{32}$`,
		`(?m)^Patient\.name\[0\]\.family = Quillfeather  <- PID-5\[1\]\.1\.1  defaults/default\.yaml:\d+$`,
		`(?m)^Immunization\.vaccineCode\.coding\[0\]\.display = Hep B, adolescent or pediatric  <- ORDER\[1\] RXA-5 → cvx  defaults/default\.yaml:\d+$`,
		`(?m)^=== Issues \(1\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(tr) {
			t.Errorf("--trace-only lacks %s:\n%s", re, tr)
		}
	}
}

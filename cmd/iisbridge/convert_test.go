package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
)

func runCmd(t *testing.T, fn func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := fn(args, &out, &errb)
	return code, out.String(), errb.String()
}

func checkCmd(a []string, o, e *bytes.Buffer) int   { return mappingCheck(a, o, e) }
func previewCmd(a []string, o, e *bytes.Buffer) int { return mappingPreview(a, o, e) }
func convCmd(a []string, o, e *bytes.Buffer) int    { return convertCmd(a, o, e) }

func TestMappingCheck(t *testing.T) {
	code, out, _ := runCmd(t, checkCmd, "../../mapping/defaults/default.yaml")
	if code != 0 || !regexp.MustCompile(`^ok: 3 resources, \d+ rules\n$`).MatchString(out) {
		t.Errorf("default: exit %d, %q", code, out)
	}
	code, out, errs := runCmd(t, checkCmd, "../../mapping/testdata/broken/funcs.yaml")
	if code != 1 {
		t.Errorf("broken: exit %d", code)
	}
	for _, w := range []string{
		"../../mapping/testdata/broken/funcs.yaml:14:41: expression \"frobnicate(PID-5)\": unknown function frobnicate",
		"../../mapping/testdata/broken/tables/sex.csv:4:20: invalid CSV",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("check output lacks %q:\n%s", w, out)
		}
	}
	if errs != "13 problem(s)\n" {
		t.Errorf("stderr %q", errs)
	}
	if code, _, _ := runCmd(t, checkCmd); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}

func TestMappingPreview(t *testing.T) {
	code, out, errs := runCmd(t, previewCmd, "../../mapping/testdata/vxu_full.hl7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, re := range []string{
		`(?m)^Message VXU\^V04 at \.\./\.\./mapping/testdata/vxu_full\.hl7:1 `,
		`(?m)^=== Patient/[0-9a-f]{32}$`,
		`"family": "Quillfeather"`,
		`(?m)^Patient\.name\[0\]\.family +Quillfeather +PID-5\[1\]\.1\.1 +defaults/default\.yaml:\d+$`,
		`(?m)^Immunization\.occurrenceDateTime +2024-03-10T10:15:00-05:00 +ORDER\[1\] RXA-3 +defaults/default\.yaml:\d+$`,
		`(?m)^=== Issues \(1\)$`,
		`(?m)^warning incomplete +ORC-3 has no usable dose id`,
		`(?m)^ +element Immunization; source ORDER\[2\] ORC-3\.1; rule defaults/default\.yaml:\d+$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("preview lacks %s", re)
		}
	}
	// The second message of the archive is a query: nothing to map.
	code, out, _ = runCmd(t, previewCmd, "--index", "2", "testdata/archive.hl7")
	if code != 0 || !strings.Contains(out, "no resources: the mapping does not cover QBP^Q11") {
		t.Errorf("QBP preview: exit %d\n%s", code, out)
	}
	// A rejected resource is shown with what was built before rejection.
	_, out, _ = runCmd(t, previewCmd, "--index", "3", "testdata/archive.hl7")
	if !regexp.MustCompile(`(?m)^=== Immunization/[0-9a-f]+ \(rejected\): not emitted$`).MatchString(out) {
		t.Errorf("rejected resource not shown:\n%s", out)
	}
	// A custom mapping.
	dir := t.TempDir()
	yml := filepath.Join(dir, "m.yaml")
	os.WriteFile(yml, []byte("resources:\n  - resource: Patient\n    rules:\n      - {target: gender, const: unknown}\n"), 0o644)
	_, out, _ = runCmd(t, previewCmd, "--mapping", yml, "../../mapping/testdata/vxu_full.hl7")
	if !strings.Contains(out, `"gender": "unknown"`) || strings.Contains(out, "Immunization") {
		t.Errorf("custom mapping preview:\n%s", out)
	}
	if code, _, errs := runCmd(t, previewCmd, "--index", "9", "testdata/archive.hl7"); code != 1 || !strings.Contains(errs, "holds 6 record(s), not 9") {
		t.Errorf("index out of range: %d %q", code, errs)
	}
}

// readNDJSON returns the resource types of each line, validating each
// against the FHIR schema when it is configured.
func readNDJSON(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var types []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct{ ResourceType string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := fhirtest.Check(sc.Bytes()); err != nil && !errors.Is(err, fhirtest.ErrNoSchema) {
			t.Errorf("%s: %v", path, err)
		}
		types = append(types, r.ResourceType)
	}
	return types
}

func TestConvert(t *testing.T) {
	dir := t.TempDir()
	code, summary, errs := runCmd(t, convCmd, "--no-reduce", "--out", dir, "testdata/archive.hl7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	counts := map[string]int{}
	for _, name := range []string{"Patient", "Immunization", "OperationOutcome"} {
		types := readNDJSON(t, filepath.Join(dir, name+".ndjson"))
		for _, ty := range types {
			if ty != name {
				t.Errorf("%s.ndjson holds a %s", name, ty)
			}
		}
		counts[name] = len(types)
	}
	if counts["Patient"] != 3 || counts["Immunization"] != 8 || counts["OperationOutcome"] != 3 {
		t.Errorf("counts %v", counts)
	}
	// In = out: 5 messages = 3 converted + 2 skipped; 1 broken stretch.
	for _, w := range []string{
		"read 5 message(s) from 1 input(s)",
		"  converted: 3\n",
		"  skipped: 2, no mapping for ACK^V04: 1, no mapping for QBP^Q11: 1\n",
		"broken input (not messages): 1\n",
		"resources: Immunization 8 OperationOutcome 3 Patient 3\n",
		"issues: 7 warning(s), 4 error(s)\n", // the NDC-only dose gets its CVX from the crosswalk: no warning
		"wrote " + filepath.Join(dir, "Patient.ndjson") + " (3 lines, ",
		// After the summary: records per warning kind.
		"records per warning kind:\n",
		"        1  RXA-9 is not an NIP001 code 00-08; primarySource carries data-absent-reason\n",
		"records per error kind:\n",
	} {
		if !strings.Contains(summary, w) { // the result: on stdout
			t.Errorf("summary lacks %q:\n%s", w, summary)
		}
	}
	if strings.Contains(errs, "\r") {
		t.Error("progress drawn on a non-terminal")
	}
	// The broken stretch is in OperationOutcome.ndjson with its place.
	oo, _ := os.ReadFile(filepath.Join(dir, "OperationOutcome.ndjson"))
	if !strings.Contains(string(oo), "archive.hl7:38 offset 3197 record 5: not a message") {
		t.Errorf("broken input not reported:\n%s", oo)
	}
}

func TestConvertStdoutAndRotation(t *testing.T) {
	code, out, errs := runCmd(t, convCmd, "--no-reduce", "--out", "-", "../../mapping/testdata/vxu_full.hl7", "../../mapping/testdata/rsp_z42.hl7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 { // 2 Patients, 4 Immunizations, 1 OperationOutcome
		t.Errorf("%d NDJSON lines on stdout:\n%s", len(lines), out)
	}
	dir := t.TempDir()
	if code, _, errs := runCmd(t, convCmd, "--no-reduce", "--out", dir, "--max-resources", "3", "testdata/archive.hl7"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	n := 0
	for _, f := range []string{"Immunization.ndjson", "Immunization.2.ndjson", "Immunization.3.ndjson"} {
		n += len(readNDJSON(t, filepath.Join(dir, f)))
	}
	if n != 8 {
		t.Errorf("rotated Immunization files hold %d, want 8", n)
	}
	if code, _, errs := runCmd(t, convCmd, "--mapping", "../../mapping/testdata/broken/paths.yaml", "testdata/archive.hl7"); code != 1 || !strings.Contains(errs, "unknown v2 segment \"PIX\"") {
		t.Errorf("broken mapping: exit %d %q", code, errs)
	}
	if code, _, _ := runCmd(t, convCmd); code != 2 {
		t.Errorf("no input: exit %d", code)
	}
}

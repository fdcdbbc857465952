package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func diffCmd(a []string, o, e *bytes.Buffer) int { return mappingDiff(a, o, e) }

// draftMapping writes the default mapping with one edit into a folder.
func draftMapping(t *testing.T, old, new string) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, errs := runCmd(t, initCmd, "--builtin-tables", dir); code != 0 {
		t.Fatal(errs)
	}
	p := filepath.Join(dir, "default.yaml")
	src, _ := os.ReadFile(p)
	if !bytes.Contains(src, []byte(old)) {
		t.Fatalf("default mapping lacks %q", old)
	}
	os.WriteFile(p, bytes.Replace(src, []byte(old), []byte(new), 1), 0o644)
	return p
}

func TestMappingDiff(t *testing.T) {
	draft := draftMapping(t, `{target: display, value: 'table("cvx", $cvx, "display")'}`, `{target: display, const: Changed}`)
	code, out, errs := runCmd(t, diffCmd, "--mapping", draft, "--sample", "50", "../../mapping/testdata")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{
		"base default, draft " + draft,
		"elements (resources affected)",
		"  changed  Immunization.vaccineCode.coding.display  ",
		`"Hep B, adolescent or pediatric" → "Changed"`,
		"e.g. Immunization/",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("diff output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "\nresources\n") || strings.Contains(out, "\nissues") {
		t.Errorf("only elements change:\n%s", out)
	}
	// JSON, and the same sample for the same seed.
	_, j1, _ := runCmd(t, diffCmd, "--json", "--mapping", draft, "--sample", "3", "--seed", "5", "../../mapping/testdata")
	_, j2, _ := runCmd(t, diffCmd, "--json", "--mapping", draft, "--sample", "3", "--seed", "5", "../../mapping/testdata")
	var rep struct {
		Messages int
		Read     int
		Elements []struct{ Element, Kind string }
	}
	if err := json.Unmarshal([]byte(j1), &rep); err != nil || j1 != j2 {
		t.Fatalf("json: %v\n%s\n%s", err, j1, j2)
	}
	if rep.Messages != 3 || rep.Read < 5 {
		t.Errorf("json report: %+v", rep)
	}
	// Same mapping: nothing.
	_, out, _ = runCmd(t, diffCmd, "--base", draft, "--mapping", draft, "../../mapping/testdata")
	if !strings.Contains(out, "no difference") {
		t.Errorf("same mapping:\n%s", out)
	}
	// Usage errors and an unusable draft.
	if code, _, _ := runCmd(t, diffCmd, "../../mapping/testdata"); code != 2 {
		t.Errorf("no --mapping: exit %d", code)
	}
	if code, _, errs := runCmd(t, diffCmd, "--mapping", "../../mapping/testdata/broken/funcs.yaml", "../../mapping/testdata"); code != 1 || !strings.Contains(errs, "not usable") {
		t.Errorf("broken draft: exit %d %s", code, errs)
	}
}

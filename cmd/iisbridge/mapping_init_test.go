package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func initCmd(a []string, o, e *bytes.Buffer) int { return mappingInit(a, o, e) }

func TestMappingInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jurisdiction")
	code, out, errs := runCmd(t, initCmd, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, f := range []string{"default.yaml", "tables/cvx.csv", "tables/mvx.csv"} {
		if !strings.Contains(out, filepath.Join(dir, f)) {
			t.Errorf("output does not name %s:\n%s", f, out)
		}
	}
	if code, out, _ := runCmd(t, checkCmd, filepath.Join(dir, "default.yaml")); code != 0 {
		t.Errorf("the written mapping does not check: %s", out)
	}
	// Never over an existing mapping.
	if code, _, errs := runCmd(t, initCmd, dir); code != 1 || !strings.Contains(errs, "exists already") {
		t.Errorf("second init: exit %d, %s", code, errs)
	}
	// With built-in tables: the mapping only, naming builtin:cvx.
	dir2 := filepath.Join(t.TempDir(), "linked")
	if code, _, errs := runCmd(t, initCmd, "--builtin-tables", dir2); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir2, "tables")); err == nil {
		t.Error("--builtin-tables copied the tables")
	}
	if code, out, _ := runCmd(t, checkCmd, filepath.Join(dir2, "default.yaml")); code != 0 {
		t.Errorf("the builtin-table mapping does not check: %s", out)
	}
}

func TestMappingCheckQuotesTheLine(t *testing.T) {
	_, out, _ := runCmd(t, checkCmd, "../../mapping/testdata/broken/funcs.yaml")
	want := "funcs.yaml:7:11: table missing: cannot read table file ../../mapping/testdata/broken/tables/nope.csv: no such file or directory (table file paths are relative to the folder of the mapping file;"
	if !strings.Contains(out, want) {
		t.Errorf("missing table not pointed at its file: line:\n%s", out)
	}
	if !strings.Contains(out, "    7 |     file: tables/nope.csv\n      |           ^\n") {
		t.Errorf("line and caret missing:\n%s", out)
	}
}

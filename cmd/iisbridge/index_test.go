package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIndexCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ident := filepath.Join(dir, "identity.yaml")
	os.WriteFile(ident, []byte("rules: [iis, mrn]\nmrn_types: [MR]\n"), 0o644)
	var out strings.Builder
	if rc := runIndex([]string{"--data", data, "--identity", ident, "testdata/archive.hl7"}, &out); rc != 0 {
		t.Fatalf("rc %d: %s", rc, out.String())
	}
	if !strings.Contains(out.String(), "1 new") || !strings.Contains(out.String(), "1 errors") {
		t.Fatalf("first run: %s", out.String())
	}
	out.Reset()
	if rc := runIndex([]string{"--data", data, "--identity", ident, "testdata/archive.hl7"}, &out); rc != 0 ||
		!strings.Contains(out.String(), "indexed 0 records") || !strings.Contains(out.String(), "1 unchanged") {
		t.Fatalf("second run rc %d: %s", rc, out.String())
	}
	out.Reset()
	for _, bad := range []string{"rules: [bogus\n", "rules: [iis, soundex]\n", "rulez: [iis]\n"} {
		os.WriteFile(ident, []byte(bad), 0o644)
		if rc := runIndex([]string{"--data", data, "--identity", ident, "testdata/archive.hl7"}, &out); rc != 1 {
			t.Fatalf("bad identity file %q: rc %d", bad, rc)
		}
	}
	if rc := runIndex([]string{"--data", data}, &out); rc != 2 {
		t.Fatalf("no paths: rc %d", rc)
	}
}

// A mistyped path is an error before anything changes: the index keeps
// its files (Update drops files no longer under the paths given).
func TestIndexMissingPathChangesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out strings.Builder
	if rc := runIndex([]string{"--data", data, "testdata/archive.hl7"}, &out); rc != 0 {
		t.Fatalf("rc %d: %s", rc, out.String())
	}
	out.Reset()
	if rc := runIndex([]string{"--data", data, "testdata/archive.hl7", "testdata/no-such.hl7"}, &out); rc != 1 ||
		!strings.Contains(out.String(), "no-such.hl7: no such file or directory (nothing indexed, nothing dropped)") {
		t.Fatalf("missing path: rc %d: %s", rc, out.String())
	}
	out.Reset()
	if rc := runIndex([]string{"--data", data, "testdata/archive.hl7"}, &out); rc != 0 || !strings.Contains(out.String(), "1 unchanged") {
		t.Fatalf("after: rc %d: %s", rc, out.String())
	}
}

// TestIndexGroupsSummary: the summary ends with the learned Groups under
// the --groups policy and lists the senders outside its organizations
// table with their VXU/QBP counts. NORTHCLINIC sends MSH-4 with and
// without its OID: two organizations without a table, one with it.
func TestIndexGroupsSummary(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var out strings.Builder
	if rc := runIndex([]string{"--data", data, "testdata/archive.hl7"}, &out); rc != 0 {
		t.Fatalf("rc %d: %s", rc, out.String())
	}
	if !strings.Contains(out.String(), "groups: 3 organizations") || strings.Contains(out.String(), "unknown senders") {
		t.Fatalf("without a table: %s", out.String())
	}
	groups := filepath.Join(dir, "groups.yaml")
	os.WriteFile(groups, []byte("organizations:\n  - key: NORTH\n    senders: [NORTHCLINIC]\n"), 0o644)
	out.Reset()
	if rc := runIndex([]string{"--data", data, "--groups", groups, "testdata/archive.hl7"}, &out); rc != 0 {
		t.Fatalf("rc %d: %s", rc, out.String())
	}
	for _, want := range []string{"groups: 1 organizations", "unknown senders (outside the organizations table, no Group): 1, 1 VXU/QBP records", "  WESTCLINIC: 1 records"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	os.WriteFile(groups, []byte("organizations:\n  - key: NORTH\n"), 0o644)
	out.Reset()
	if rc := runIndex([]string{"--data", data, "--groups", groups, "testdata/archive.hl7"}, &out); rc != 1 || !strings.Contains(out.String(), "groups.yaml:2:") {
		t.Errorf("bad groups file: rc %d: %s", rc, out.String())
	}
}

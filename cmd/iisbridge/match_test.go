package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/match"
)

// TestMatchCommand runs the whole chain a user runs: gen --roster, convert,
// match with the truth. Every roster row must come back once, in order,
// and the certain matches must be right.
func TestMatchCommand(t *testing.T) {
	dir := t.TempDir()
	world := filepath.Join(dir, "w")
	if code := runGen([]string{"--seed", "3", "--people", "600", "--framing", "msh", "--roster", "200", "--out", world}); code != 0 {
		t.Fatalf("gen: exit %d", code)
	}
	fhir := filepath.Join(dir, "fhir")
	if code, _, errs := runCmd(t, convCmd, "--out", fhir, world); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errs)
	}
	var out, errb bytes.Buffer
	code := matchCmd([]string{"--roster", world + ".roster.csv", "--patients", filepath.Join(fhir, "Patient.ndjson"),
		"--truth", world + ".roster.truth.csv", "--world", world + ".truth.json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("match: exit %d: %s", code, errb.String())
	}
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		n++
		var r match.Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if want := "R" + itoa(n); r.Input != want {
			t.Fatalf("line %d is row %q, want %q (roster order)", n, r.Input, want)
		}
		if r.Outcome == "" {
			t.Errorf("row %s: no outcome", r.Input)
		}
	}
	if n != 200 {
		t.Errorf("%d results for 200 rows", n)
	}
	rep := errb.String()
	if !strings.Contains(rep, "certain matches: precision 1.0000") {
		t.Errorf("report:\n%s\nwant precision 1 on this roster", rep)
	}
	if strings.Contains(rep, "not found exactly once") {
		t.Errorf("truth persons not mapped to Patients:\n%s", rep)
	}

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("given,family,shoe\nA,B,9\n"), 0o644)
	errb.Reset()
	if code := matchCmd([]string{"--roster", bad, "--patients", filepath.Join(fhir, "Patient.ndjson")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), `bad.csv:1:3: unknown column "shoe"`) {
		t.Errorf("bad roster: exit %d, %q", code, errb.String())
	}
	if code := matchCmd([]string{"--roster", bad}, &out, &errb); code != 2 {
		t.Errorf("no --patients: exit %d, want 2", code)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

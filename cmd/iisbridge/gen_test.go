package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
	"github.com/iisbridge/iisbridge/sources/synth"
)

func TestGenCommand(t *testing.T) {
	dir := t.TempDir()
	if code := runGen([]string{"--seed", "5", "--people", "40", "--framing", "msh,mllp", "--out", dir}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, name := range []string{"msh-01.hl7", "mllp-01.hl7"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	// The truth goes beside the archive folder, which holds archives only
	// (it is what gets indexed).
	if _, err := os.Stat(filepath.Join(dir, "truth.json")); !os.IsNotExist(err) {
		t.Errorf("truth.json inside the archive folder (%v)", err)
	}
	if _, err := synth.ReadTruth(dir + ".truth.json"); err != nil {
		t.Errorf("truth beside the archive: %v", err)
	}
	if code := runGen([]string{"--framing", "zip", "--out", t.TempDir()}); code != 1 {
		t.Errorf("unknown framing: exit %d, want 1", code)
	}
	if code := runGen([]string{"--bogus"}); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}

// gen --sql writes the same world as the archive generator: the truth is
// byte for byte the one a plain gen with the same flags writes, and the
// database holds its persons (and merged duplicates besides).
func TestGenSQL(t *testing.T) {
	tmp := t.TempDir()
	db, truth := filepath.Join(tmp, "iis.db"), filepath.Join(tmp, "sql.truth.json")
	if code := runGen([]string{"--seed", "5", "--people", "40", "--sql", db, "--truth", truth}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat("gen-out"); !os.IsNotExist(err) {
		t.Errorf("gen --sql without --out left an archive folder (%v)", err)
	}
	plain := filepath.Join(tmp, "plain")
	if code := runGen([]string{"--seed", "5", "--people", "40", "--out", plain}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	a, _ := os.ReadFile(truth)
	b, _ := os.ReadFile(plain + ".truth.json")
	if len(a) == 0 || string(a) != string(b) {
		t.Fatalf("gen --sql truth (%d bytes) differs from gen's (%d bytes)", len(a), len(b))
	}
	tr, err := synth.ReadTruth(truth)
	if err != nil {
		t.Fatal(err)
	}
	merged := 0
	for i := range tr.Persons {
		if sqlsrc.MergedAway(&tr.Persons[i]) {
			merged++
		}
	}
	h, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var n, doses int
	h.QueryRow("SELECT COUNT(*) FROM patient_master").Scan(&n)
	h.QueryRow("SELECT COUNT(*) FROM vaccination_master").Scan(&doses)
	if n != len(tr.Persons)+merged || doses != tr.Counts.Doses {
		t.Errorf("database: %d persons, %d doses; truth %d+%d merged, %d", n, doses, len(tr.Persons), merged, tr.Counts.Doses)
	}
	// An existing schema is not written over.
	if code := runGen([]string{"--seed", "5", "--people", "40", "--sql", db, "--truth", truth}); code != 1 {
		t.Errorf("second gen --sql into the same database: exit %d, want 1", code)
	}
}

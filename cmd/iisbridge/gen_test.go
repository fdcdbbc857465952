package main

import (
	"os"
	"path/filepath"
	"testing"

	"iisbridge/sources/synth"
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

package main

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// convert --no-reduce maps on every core but writes what one core would,
// in archive order: the generated world in every framing (broken records,
// gzip, Latin-1 and all), converted with one worker and with several,
// gives the same NDJSON stream, byte for byte, and the same summary.
func TestConvertNoReduceSameOnAnyCores(t *testing.T) {
	dir := t.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 11, People: 120})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--no-reduce", "--out", "-"}
	for _, f := range sum.Files {
		args = append(args, filepath.Join(dir, f))
	}
	run := func(procs int) (string, string) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		code, out, errs := runCmd(t, convCmd, args...)
		if code != 0 {
			t.Fatalf("GOMAXPROCS %d: exit %d: %s", procs, code, errs)
		}
		return out, errs
	}
	out1, sum1 := run(1)
	out4, sum4 := run(4)
	if n := strings.Count(out1, "\n"); n < 500 || !strings.Contains(out1, `"OperationOutcome"`) {
		t.Fatalf("%d lines, OperationOutcome present: %v: not the mixed world expected", n, strings.Contains(out1, `"OperationOutcome"`))
	}
	if out1 != out4 {
		l1, l4 := strings.Split(out1, "\n"), strings.Split(out4, "\n")
		for i := range min(len(l1), len(l4)) {
			if l1[i] != l4[i] {
				t.Fatalf("line %d differs:\n1 core:  %.300s\n4 cores: %.300s", i+1, l1[i], l4[i])
			}
		}
		t.Fatalf("%d lines on 1 core, %d on 4", len(l1), len(l4))
	}
	// The summary goes to stderr with --out -; the progress meter is off
	// in tests, so the two must match too.
	if sum1 != sum4 {
		t.Errorf("summaries differ:\n1 core:\n%s\n4 cores:\n%s", sum1, sum4)
	}
}

package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Options.Progress sees the bytes covered grow to the inputs' total size,
// unchanged files counting as covered.
func TestUpdateProgress(t *testing.T) {
	dir := t.TempDir()
	var total int64
	var paths []string
	for f := range 3 {
		var msgs []string
		for i := range 300 {
			msgs = append(msgs, vxu(fmt.Sprintf("C%d-%d", f, i), "CLINICA", "20240101100000", fmt.Sprintf("M%d-%d^^^CLINICA^MR", f, i), "SMITH^JOHN", "20231201", "M", rxa("20240101", "08", "00")))
		}
		p := filepath.Join(dir, fmt.Sprintf("a%d.hl7", f))
		write(t, p, msgs...)
		fi, _ := os.Stat(p)
		total += fi.Size()
		paths = append(paths, p)
	}
	var calls [][2]int64
	x, err := open(filepath.Join(dir, "idx"), Options{BatchSize: 100, Progress: func(done, tot int64) { calls = append(calls, [2]int64{done, tot}) }})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	check := func(run string, minCalls int) {
		t.Helper()
		if len(calls) < minCalls || calls[len(calls)-1] != [2]int64{total, total} {
			t.Fatalf("%s: %d calls, last %v, want >= %d ending at %d of %d", run, len(calls), calls[len(calls)-1:], minCalls, total, total)
		}
		for i := 1; i < len(calls); i++ {
			if calls[i][0] < calls[i-1][0] || calls[i][1] != total {
				t.Fatalf("%s: progress not monotonic: %v then %v", run, calls[i-1], calls[i])
			}
		}
	}
	if _, err := x.Update(context.Background(), paths); err != nil {
		t.Fatal(err)
	}
	check("first update", 6) // within files too, not only at their ends
	calls = nil
	if _, err := x.Update(context.Background(), paths); err != nil {
		t.Fatal(err)
	}
	check("unchanged", 1)
}

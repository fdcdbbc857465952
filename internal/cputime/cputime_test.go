package cputime

import (
	"runtime"
	"testing"
)

// Work done shows in the count (where the platform gives one).
func TestProcessCountsWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no process CPU time on", runtime.GOOS)
	}
	t0 := Process()
	x := 0
	for Process()-t0 < 20e6 { // 20 ms of CPU
		for i := range 1 << 16 {
			x += i
		}
	}
	if x == 0 || Process() <= t0 {
		t.Fatalf("CPU time did not grow: %v -> %v", t0, Process())
	}
}

package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prevPct, prevLim := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	defer func() { debug.SetGCPercent(prevPct); debug.SetMemoryLimit(prevLim) }()

	old := cgroupMemoryMax
	cgroupMemoryMax = "/nonexistent" // this test's limit must not depend on the host's cgroup
	defer func() { cgroupMemoryMax = old }()
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	tuneGC(false)
	if p := debug.SetGCPercent(100); p != gcPercent {
		t.Errorf("GOGC %d, want %d", p, gcPercent)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != memoryLimit {
		t.Errorf("memory limit %d, want %d", l, memoryLimit)
	}
	tuneGC(true)
	if p := debug.SetGCPercent(100); p != gcPercent {
		t.Errorf("offline: GOGC %d, want %d", p, gcPercent)
	}
	if l := debug.SetMemoryLimit(math.MaxInt64); l != offlineMemory {
		t.Errorf("offline: memory limit %d, want %d", l, offlineMemory)
	}

	// The environment wins.
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "1GiB")
	for _, offline := range []bool{false, true} {
		tuneGC(offline)
		if p := debug.SetGCPercent(100); p != 100 {
			t.Errorf("GOGC %d with GOGC set (offline %v), want it left alone", p, offline)
		}
		if l := debug.SetMemoryLimit(math.MaxInt64); l != math.MaxInt64 {
			t.Errorf("memory limit %d with GOMEMLIMIT set (offline %v), want it left alone", l, offline)
		}
	}
}

func TestMemoryLimitFor(t *testing.T) {
	for _, c := range []struct {
		jobs   int
		cgroup int64
		want   int64
	}{
		{2, 0, memoryLimit},
		{0, 0, memoryBase + memoryPerJob},
		{256, 0, memoryBase + 256*memoryPerJob},
		{256, 1 << 30, 3 << 28},   // capped at 3/4 of the container's limit
		{2, 8 << 30, memoryLimit}, // a large container changes nothing
	} {
		if got := memoryLimitFor(c.jobs, c.cgroup); got != c.want {
			t.Errorf("memoryLimitFor(%d, %d) = %d, want %d", c.jobs, c.cgroup, got, c.want)
		}
	}
	if got := offlineLimit(0); got != offlineMemory {
		t.Errorf("offlineLimit(0) = %d, want %d", got, offlineMemory)
	}
	if got := offlineLimit(64 << 20); got != 48<<20 {
		t.Errorf("offlineLimit(64 MiB) = %d, want 3/4 of it", got)
	}
	dir := t.TempDir()
	for content, want := range map[string]int64{"max\n": 0, "1073741824\n": 1 << 30, "junk": 0} {
		p := dir + "/memory.max"
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		old := cgroupMemoryMax
		cgroupMemoryMax = p
		if got := cgroupLimit(); got != want {
			t.Errorf("cgroupLimit(%q) = %d, want %d", content, got, want)
		}
		cgroupMemoryMax = old
	}
}

package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Garbage collector settings for the long streaming commands (serve,
// bench export, convert, index: command.Streams). Their live heap is small and flat (a window of
// persons), but they allocate fast: with Go's default GOGC=100 the
// collector ran every few MB and took about a sixth of an export's CPU.
// GOGC=400 under a soft memory limit trades some RSS for that CPU; the
// limit makes the collector work harder instead of growing past it. GOGC
// and GOMEMLIMIT in the environment win.
const (
	gcPercent = 400
	// The soft limit is a base plus a share per export job that may run
	// at once (jobs.concurrency). An archive export stays below it (200k
	// messages: 113 MB RSS); a 1M-row relational export reaches it, and
	// 160 MiB for two jobs cost it no time against 192 (README figures).
	memoryBase   = 96 << 20
	memoryPerJob = 32 << 20
	// memoryLimit is the limit for the default two job workers and for
	// the commands that run one stream.
	memoryLimit = memoryBase + 2*memoryPerJob
	// offlineMemory is the limit of index and convert, which run no
	// export jobs beside their own work. Indexing 200k messages: 92 MB
	// RSS for 46 collections; 96 MiB took 124 MB for 27, 48 MiB 78 MB for
	// 84 (about 15 % more CPU). Their live heap is 10-27 MB. convert's
	// export phase pays for it: 2.6 CPU-s more collecting for 200k
	// messages than under 96 MiB, which peaks at 124 MB.
	offlineMemory = 64 << 20
)

// cgroupMemoryMax is the cgroup v2 file holding the container's memory
// limit ("max" when there is none).
var cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// tuneGC applies the settings above where the environment sets none.
// An offline command (index, convert: command.Offline) gets
// offlineMemory.
func tuneGC(offline bool) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if offline {
		if os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(offlineLimit(cgroupLimit()))
		}
		return
	}
	setJobMemoryLimit(2)
}

// offlineLimit is the soft limit of an offline command, capped as
// memoryLimitFor caps a server's.
func offlineLimit(cgroup int64) int64 {
	l := int64(offlineMemory)
	if cgroup > 0 {
		l = min(l, cgroup/4*3)
	}
	return l
}

// setJobMemoryLimit sets the soft memory limit for jobs export workers,
// unless GOMEMLIMIT is set.
func setJobMemoryLimit(jobs int) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimitFor(jobs, cgroupLimit()))
	}
}

// memoryLimitFor is the soft limit for jobs concurrent exports; inside a
// cgroup with a hard limit it stays at three quarters of that limit, so
// the collector works harder before the kernel's OOM killer acts.
func memoryLimitFor(jobs int, cgroup int64) int64 {
	l := int64(memoryBase) + int64(max(jobs, 1))*memoryPerJob
	if cgroup > 0 {
		l = min(l, cgroup/4*3)
	}
	return l
}

// cgroupLimit reads the cgroup v2 memory limit; 0 when there is none or
// it cannot be read.
func cgroupLimit() int64 {
	b, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0 // "max"
	}
	return n
}

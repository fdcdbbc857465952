package main

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings for the long streaming commands (serve,
// bench export, convert, index: command.Streams). Their live heap is small and flat (a window of
// persons), but they allocate fast: with Go's default GOGC=100 the
// collector ran every few MB and took about a sixth of an export's CPU.
// GOGC=400 under a soft memory limit trades some of the 256 MB RSS budget
// for that CPU; the limit makes the collector work harder instead of
// growing past it. GOGC and GOMEMLIMIT in the environment win.
const (
	gcPercent   = 400
	memoryLimit = 192 << 20
)

// tuneGC applies the settings above where the environment sets none.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

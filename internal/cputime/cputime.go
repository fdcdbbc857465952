// Package cputime reads the process's CPU time, which benchmarks report
// beside wall time: on a shared machine it moves less with the load.
package cputime

import "time"

// Process is the process's user + system CPU time so far (0 where the
// platform does not say).
func Process() time.Duration { return process() }

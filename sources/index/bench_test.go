package index

import (
	"context"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// BenchmarkIndex indexes a generated archive of 20,000 messages (msh
// framing) into a fresh index per iteration. Figures: msgs/s and MB/s.
//
//	go test -run '^$' -bench BenchmarkIndex -benchtime 3x ./sources/index
func BenchmarkIndex(b *testing.B) {
	dir := b.TempDir()
	sum, err := synth.Generate(dir, synth.Config{Seed: 1, Messages: 20000, Framings: []string{"msh"}})
	if err != nil {
		b.Fatal(err)
	}
	var paths []string
	for _, f := range sum.Files {
		paths = append(paths, filepath.Join(dir, f))
	}
	b.SetBytes(sum.Bytes)
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		x, err := open(filepath.Join(dir, "data"+strconv.Itoa(i)), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := x.Update(context.Background(), paths); err != nil {
			b.Fatal(err)
		}
		x.Close()
	}
	b.ReportMetric(float64(sum.Messages)*float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// On a shared machine wall time also counts other processes' turns;
	// CPU time per message is the figure to compare.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(sum.Messages)/float64(b.N), "cpu-ns/msg")
}

// cpuTime is the process's user + system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

package pipeline

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources/synth"
)

type discard struct{ n int64 }

func (d *discard) Resource(r *fhirout.Object) error {
	d.n += int64(len(r.AppendJSON(nil)))
	return nil
}
func (d *discard) Deleted(string, string, time.Time) error { return nil }
func (d *discard) Issue(*fhirout.Object) error             { return nil }

// BenchmarkExport exports a generated, indexed archive of 20,000 messages
// through re-read → mapping → reduction → JSON encoding into a discarding
// sink. Figures: msgs/s (person messages mapped per second).
//
//	go test -run '^$' -bench BenchmarkExport -benchtime 3x ./pipeline
func BenchmarkExport(b *testing.B) {
	p, _ := genWorld(b, synth.Config{Seed: 1, Messages: 20000, Framings: []string{"msh"}})
	ctx := context.Background()
	var msgs int64
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := p.Export(ctx, Query{}, &discard{}); err != nil {
			b.Fatal(err)
		}
		msgs += p.Stats().Messages
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	// On a shared machine wall time also counts other processes'
	// turns; CPU time per message is the figure to compare.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(msgs), "cpu-ns/msg")
}

// cpuTime is the process's user + system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

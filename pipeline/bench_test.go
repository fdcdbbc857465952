package pipeline

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/internal/cputime"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// discard encodes every resource, into one buffer as the writers do.
type discard struct {
	n   int64
	buf []byte
}

func (d *discard) Resource(r *fhirout.Object) error {
	d.buf = r.AppendJSON(d.buf[:0])
	d.n += int64(len(d.buf))
	return nil
}
func (d *discard) Deleted(string, string, time.Time) error { return nil }
func (d *discard) Issue(*fhirout.Object) error             { return nil }

// ReleasesObjects: like the server's sink, discard keeps nothing of what
// it encoded, so persons are made in recycled memory as they are there.
func (d *discard) ReleasesObjects() {}

// BenchmarkExport exports a generated, indexed archive of 20,000 messages
// through re-read → mapping → reduction → JSON encoding into a discarding
// sink. Figures: msgs/s (person messages mapped per second).
//
//	go test -run '^$' -bench BenchmarkExport -benchtime 3x ./pipeline
//
// IISBRIDGE_EXPORT_BENCH_MESSAGES sets another archive size: a small one
// for valgrind --tool=callgrind, whose instruction counts of a 1x and a
// 2x run differ by one export whatever the machine's load.
func BenchmarkExport(b *testing.B) {
	n := 20000
	if s := os.Getenv("IISBRIDGE_EXPORT_BENCH_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("IISBRIDGE_EXPORT_BENCH_MESSAGES=%q: not a positive number", s)
		}
	}
	p, _ := genWorld(b, synth.Config{Seed: 1, Messages: n, Framings: []string{"msh"}})
	ctx := context.Background()
	var msgs int64
	b.ReportAllocs()
	b.ResetTimer() // B/op and allocs/op are the exports'
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		if err := p.Export(ctx, Query{}, &discard{}); err != nil {
			b.Fatal(err)
		}
		msgs += p.Stats().Messages
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	// On a shared machine wall time also counts other processes'
	// turns; CPU time per message is the figure to compare.
	b.ReportMetric(float64(cputime.Process()-cpu0)/float64(msgs), "cpu-ns/msg")
}

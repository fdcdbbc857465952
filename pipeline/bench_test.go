package pipeline

import (
	"context"
	"testing"
	"time"

	"iisbridge/fhirout"
	"iisbridge/sources/synth"
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
//
// Sub-benchmarks: memo (the default: each distinct ORDER group of a person
// mapped once) and full (every ORDER group of every message mapped), on
// the same archive.
func BenchmarkExport(b *testing.B) {
	p, _ := genWorld(b, synth.Config{Seed: 1, Messages: 20000, Framings: []string{"msh"}})
	ctx := context.Background()
	for _, full := range []bool{false, true} {
		name := "memo"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			p.fullMap = full
			var msgs, mapped int64
			for i := 0; i < b.N; i++ {
				if err := p.Export(ctx, Query{}, &discard{}); err != nil {
					b.Fatal(err)
				}
				msgs += p.Stats().Messages
				mapped += p.Stats().OrdersMapped
			}
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(mapped)/float64(b.N), "orders-mapped/op")
		})
	}
	p.fullMap = false
}

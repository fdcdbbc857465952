package server

import (
	"context"
	"strconv"
	"testing"

	"iisbridge/fhirout"
)

// BenchmarkSink measures the server's per-resource cost (type check,
// _typeFilter, dedup, NDJSON write with rotation) without the pipeline.
func BenchmarkSink(b *testing.B) {
	dir := b.TempDir()
	out, err := fhirout.NewDirWriter(dir, fhirout.RotateOptions{MaxResources: 100000})
	if err != nil {
		b.Fatal(err)
	}
	typ, fq, _, err := parseTypeFilter("Immunization?status=completed,not-done", func(string) bool { return true })
	if err != nil {
		b.Fatal(err)
	}
	k := &jobSink{ctx: context.Background(), job: &liveJob{}, out: out, types: []string{"Patient", "Immunization"},
		filters: typeFilters{typ: {fq}}, elements: &elementSpec{}, seen: newRecentIDs(recentWindow)}
	base := fakeImms[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		im := base
		im.id = "i" + strconv.Itoa(i)
		if err := k.Resource(im.resource()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if _, err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

package server

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout"
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

// BenchmarkSinkAtLimits is BenchmarkSink with the largest _typeFilter and
// _elements a kick-off may carry: the worst per-resource cost a client can
// ask for.
func BenchmarkSinkAtLimits(b *testing.B) {
	out, err := fhirout.NewDirWriter(b.TempDir(), fhirout.RotateOptions{MaxResources: 100000})
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{exporter: &fakeExporter{}}
	codes := make([]string, maxFilterValues-1)
	for i := range codes {
		codes[i] = strconv.Itoa(900 + i)
	}
	elems := make([]string, maxElements)
	for i := range elems {
		elems[i] = "Immunization.e" + strconv.Itoa(i)
	}
	elems[0] = "lotNumber"
	spec, rerr := s.buildSpec([]kv{
		{name: "_typeFilter", value: "Immunization?status=completed&vaccine-code=" + strings.Join(codes[1:], ",") + ",08"},
		{name: "_elements", value: strings.Join(elems, ",")},
	}, levelPatient, false, false, &Principal{ClientID: "c"})
	if rerr != nil {
		b.Fatal(rerr)
	}
	k := &jobSink{ctx: context.Background(), job: &liveJob{}, out: out, types: spec.query.Types,
		filters: spec.filters, elements: &spec.elements, seen: newRecentIDs(recentWindow)}
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
	if k.job.written.Load() != int64(b.N) {
		b.Fatalf("%d of %d written", k.job.written.Load(), b.N)
	}
	if _, err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkKickoffAtLimits validates a kick-off with every list at its
// limit (10,000 patient references among them).
func BenchmarkKickoffAtLimits(b *testing.B) {
	s := &Server{exporter: &fakeExporter{}}
	var params []kv
	for i := range maxPatientRefs {
		params = append(params, kv{name: "patient", value: "Patient/p" + strconv.Itoa(i), ref: true})
	}
	params = append(params, kv{name: "_type", value: strings.TrimSuffix(strings.Repeat("Patient,", maxTypes), ",")},
		kv{name: "_elements", value: strings.TrimSuffix(strings.Repeat("identifier,", maxElements), ",")},
		kv{name: "_typeFilter", value: "Patient?gender=" + strings.TrimSuffix(strings.Repeat("female,", maxFilterValues), ",")})
	b.ReportAllocs()
	for range b.N {
		if _, rerr := s.buildSpec(params, levelPatient, false, true, &Principal{ClientID: "c"}); rerr != nil {
			b.Fatal(rerr)
		}
	}
}

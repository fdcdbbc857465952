package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// encodeSink encodes what it is given at once, in order (a ReleasingSink
// when release is set); with keep it also holds on to the objects, to
// encode them again at the end.
type encodeSink struct {
	release bool
	lines   []string
	kept    []*fhirout.Object
}

func (s *encodeSink) add(kind string, o *fhirout.Object) {
	s.lines = append(s.lines, kind+string(o.AppendJSON(nil)))
	s.kept = append(s.kept, o)
}
func (s *encodeSink) Resource(r *fhirout.Object) error { s.add("r ", r); return nil }
func (s *encodeSink) Issue(oo *fhirout.Object) error   { s.add("i ", oo); return nil }
func (s *encodeSink) Deleted(t, id string, at time.Time) error {
	s.lines = append(s.lines, "d "+t+"/"+id+" "+at.String())
	s.kept = append(s.kept, nil)
	return nil
}

// again is the stream encoded from the objects kept.
func (s *encodeSink) again() []string {
	out := slices.Clone(s.lines)
	for i, o := range s.kept {
		if o != nil {
			out[i] = out[i][:2] + string(o.AppendJSON(nil))
		}
	}
	return out
}

type releasingEncodeSink struct{ *encodeSink }

func (releasingEncodeSink) ReleasesObjects() {}

// exportBoth exports q into a sink that keeps the objects (each person's
// own memory, encoded at the end) and into one that releases them
// (memory reused person after person, encoded at once): the streams must
// be equal byte for byte, in order. It returns the releasing sink.
func exportBoth(t *testing.T, p *Pipeline, q Query) *encodeSink {
	t.Helper()
	keep := &encodeSink{}
	if err := p.Export(context.Background(), q, keep); err != nil {
		t.Fatal(err)
	}
	// Encoded at the end: nothing the export made was overwritten.
	if got := keep.again(); !slices.Equal(got, keep.lines) {
		t.Fatal("objects sent to a keeping sink changed after they were sent")
	}
	rel := &encodeSink{release: true}
	if err := p.Export(context.Background(), q, releasingEncodeSink{rel}); err != nil {
		t.Fatal(err)
	}
	if len(rel.lines) != len(keep.lines) {
		t.Fatalf("releasing sink got %d items, keeping sink %d", len(rel.lines), len(keep.lines))
	}
	for i := range keep.lines {
		if rel.lines[i] != keep.lines[i] {
			t.Fatalf("item %d differs with a releasing sink:\n%.300s\nkeeping:\n%.300s", i, rel.lines[i], keep.lines[i])
		}
	}
	return rel
}

// An export into a releasing sink is the export into one that keeps the
// objects, byte for byte; and it does reuse the memory of persons sent
// (objects held past their call change), so the equality above is about
// reused memory.
func TestReleasingSinkSameExportSynth(t *testing.T) {
	p, _ := genWorld(t, synth.Config{Seed: 7, Messages: 1000, Framings: []string{"msh", "mllp"}})
	for _, workers := range []int{1, 3} {
		p.workers = workers
		rel := exportBoth(t, p, Query{Provenance: true})
		if slices.Equal(rel.again(), rel.lines) {
			t.Errorf("workers %d: no memory was reused for a releasing sink", workers)
		}
		exportBoth(t, p, Query{Since: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)})
	}
}

func TestReleasingSinkSameExportCorpus(t *testing.T) {
	exportBoth(t, openCorpus(t), Query{Provenance: true})
}

// A Composite passes the capability on only when its sink has it.
func TestCompositeReleasesOnlyWhenSinkDoes(t *testing.T) {
	var got []bool
	part := &sinkProbe{got: &got}
	c := NewComposite(part)
	if err := c.Export(context.Background(), Query{}, &memSink{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Export(context.Background(), Query{}, releasingEncodeSink{&encodeSink{}}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []bool{false, true}) {
		t.Errorf("composite part sinks release: %v, want [false true]", got)
	}
}

type sinkProbe struct{ got *[]bool }

func (p *sinkProbe) ResourceTypes() []string { return []string{"Patient"} }
func (p *sinkProbe) Export(ctx context.Context, q Query, sink Sink) error {
	_, ok := sink.(ReleasingSink)
	*p.got = append(*p.got, ok)
	return nil
}

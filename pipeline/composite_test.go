package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// partExporter is one source of a Composite: it holds some Patient ids,
// reports a snapshot time when set, progress and a loss.
type partExporter struct {
	types []string
	ids   []string
	at    time.Time
	lost  int64
}

func (p *partExporter) ResourceTypes() []string { return p.types }

func (p *partExporter) Export(ctx context.Context, q Query, sink Sink) error {
	if ss, ok := sink.(SnapshotSink); ok && !p.at.IsZero() {
		ss.Snapshot(p.at)
	}
	n := int64(0)
	for _, id := range p.ids {
		if q.PatientIDs != nil && !slices.Contains(q.PatientIDs, id) {
			continue
		}
		o := fhirout.NewResource("Patient")
		o.Set("id", id)
		if err := sink.Resource(o); err != nil {
			return err
		}
		n++
		sink.(ProgressSink).Progress(n, int64(len(p.ids)))
	}
	if p.lost > 0 {
		return sink.(LossSink).Lost(Loss{Records: p.lost, ByReason: map[string]int64{UnreadableGone: p.lost}})
	}
	return nil
}

func (p *partExporter) MissingPatients(ctx context.Context, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		if !slices.Contains(p.ids, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

type fullSink struct {
	memSink
	at       time.Time
	progress [][2]int64
	loss     Loss
}

func (s *fullSink) Snapshot(at time.Time) { s.at = at }
func (s *fullSink) Progress(done, total int64) {
	s.progress = append(s.progress, [2]int64{done, total})
}
func (s *fullSink) Lost(l Loss) error { s.loss = l; return nil }

func TestComposite(t *testing.T) {
	early := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &partExporter{types: []string{"Patient", "Immunization"}, ids: []string{"a1", "a2"}, lost: 2}
	b := &partExporter{types: []string{"Patient", "Provenance"}, ids: []string{"b1"}, at: early, lost: 1}
	c := NewComposite(a, b)
	if got := c.ResourceTypes(); !slices.Equal(got, []string{"Patient", "Immunization", "Provenance"}) {
		t.Errorf("types %v", got)
	}
	asOf := early.Add(time.Hour)
	var s fullSink
	if err := c.Export(context.Background(), Query{AsOf: asOf}, &s); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range s.res {
		ids = append(ids, r.ID())
	}
	if !slices.Equal(ids, []string{"a1", "a2", "b1"}) {
		t.Errorf("exported %v", ids)
	}
	if !s.at.Equal(early) {
		t.Errorf("snapshot %v, want the earliest part's %v", s.at, early)
	}
	if last := s.progress[len(s.progress)-1]; last != [2]int64{3, 3} {
		t.Errorf("progress %v, want 3 of 3 at the end", s.progress)
	}
	if s.loss.Records != 3 || s.loss.ByReason[UnreadableGone] != 3 {
		t.Errorf("loss %+v, want the parts' summed", s.loss)
	}
	// Patient ids go to the part holding them; unknown ids are missing.
	var one fullSink
	if err := c.Export(context.Background(), Query{PatientIDs: []string{"b1"}}, &one); err != nil || len(one.res) != 1 || one.res[0].ID() != "b1" {
		t.Errorf("patient b1: %v, %d resources", err, len(one.res))
	}
	missing, err := c.MissingPatients(context.Background(), []string{"a2", "zz", "b1"})
	if err != nil || !slices.Equal(missing, []string{"zz"}) {
		t.Errorf("missing %v, %v", missing, err)
	}
	// A part reporting no snapshot read as of AsOf: the earliest wins.
	b.at = asOf.Add(time.Hour)
	var late fullSink
	c.Export(context.Background(), Query{AsOf: asOf}, &late)
	if !late.at.Equal(asOf) {
		t.Errorf("snapshot %v, want AsOf %v (the part without one)", late.at, asOf)
	}
}

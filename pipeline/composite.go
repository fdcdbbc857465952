package pipeline

import (
	"context"
	"slices"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// Composite is one Exporter over several sources (the config's sources:
// archives and databases): the union of their types; an export runs each
// source in turn into the same sink. Patient ids are source-scoped, so a
// Patient- or Group-level export hands every source the ids asked for and
// each exports those it holds. Optional capabilities (Groups, the
// `patient` check, ingest counts) are the parts' combined.
type Composite struct {
	parts []Exporter
}

var (
	_ Exporter         = (*Composite)(nil)
	_ MembershipSource = (*Composite)(nil)
)

// NewComposite exports parts in order.
func NewComposite(parts ...Exporter) *Composite { return &Composite{parts: parts} }

// Parts are the exporters, in order.
func (c *Composite) Parts() []Exporter { return c.parts }

// ResourceTypes is the union of the parts' types, in first-seen order.
func (c *Composite) ResourceTypes() []string {
	var out []string
	for _, p := range c.parts {
		for _, t := range p.ResourceTypes() {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// Export runs each part in turn. The snapshot time it reports (the
// manifest's transactionTime) is the earliest of the parts': a part that
// reports none read as of q.AsOf. Progress is summed over the parts.
func (c *Composite) Export(ctx context.Context, q Query, sink Sink) error {
	cs := &compositeSink{Sink: sink}
	if ps, ok := sink.(ProgressSink); ok {
		cs.prog = ps
	}
	var part Sink = cs
	if _, ok := sink.(ReleasingSink); ok {
		part = releasingSink{cs}
	}
	var snap time.Time
	reported := false
	for _, p := range c.parts {
		cs.part, cs.partTotal, cs.snap = 0, 0, time.Time{}
		if err := p.Export(ctx, q, part); err != nil {
			return err
		}
		cs.doneBefore += cs.part
		cs.totalBefore += max(cs.partTotal, cs.part)
		at := cs.snap
		if at.IsZero() {
			at = q.AsOf
		} else {
			reported = true
		}
		if !at.IsZero() && (snap.IsZero() || at.Before(snap)) {
			snap = at
		}
	}
	if ss, ok := sink.(SnapshotSink); ok && reported && !snap.IsZero() {
		ss.Snapshot(snap)
	}
	if ls, ok := sink.(LossSink); ok && cs.loss.Records > 0 {
		return ls.Lost(cs.loss)
	}
	return nil
}

// compositeSink passes a part's stream on, summing progress, keeping the
// part's snapshot time and gathering the parts' losses into one.
type compositeSink struct {
	Sink
	prog                    ProgressSink
	part, partTotal         int64
	doneBefore, totalBefore int64
	snap                    time.Time
	loss                    Loss
}

func (s *compositeSink) Resource(r *fhirout.Object) error { return s.Sink.Resource(r) }

// releasingSink is a compositeSink over a ReleasingSink: it keeps nothing
// itself either.
type releasingSink struct{ *compositeSink }

func (releasingSink) ReleasesObjects() {}

func (s *compositeSink) Progress(done, total int64) {
	s.part, s.partTotal = done, total
	if s.prog != nil {
		t := int64(0)
		if total > 0 {
			t = s.totalBefore + total
		}
		s.prog.Progress(s.doneBefore+done, t)
	}
}

func (s *compositeSink) Snapshot(at time.Time) { s.snap = at }

func (s *compositeSink) Lost(l Loss) error {
	s.loss.Records += l.Records
	for k, n := range l.ByReason {
		if s.loss.ByReason == nil {
			s.loss.ByReason = map[string]int64{}
		}
		s.loss.ByReason[k] += n
	}
	return nil
}

// Memberships lists the Groups' links of every part that has them.
func (c *Composite) Memberships(ctx context.Context, fn func(Membership) error) error {
	for _, p := range c.parts {
		if ms, ok := p.(MembershipSource); ok {
			if err := ms.Memberships(ctx, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// Senders lists the senders of every part that counts them
// (SenderSource).
func (c *Composite) Senders(ctx context.Context, fn func(Sender) error) error {
	for _, p := range c.parts {
		if ss, ok := p.(SenderSource); ok {
			if err := ss.Senders(ctx, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// MissingPatients returns the ids no part holds (server.PatientChecker).
// A part without the check is asked nothing: its ids are taken as
// present.
func (c *Composite) MissingPatients(ctx context.Context, ids []string) ([]string, error) {
	missing := ids
	for _, p := range c.parts {
		pc, ok := p.(interface {
			MissingPatients(context.Context, []string) ([]string, error)
		})
		if !ok {
			return nil, nil
		}
		var err error
		if missing, err = pc.MissingPatients(ctx, missing); err != nil || len(missing) == 0 {
			return missing, err
		}
	}
	return missing, nil
}

// IngestCounts sums the parts' (server.IngestCounter).
func (c *Composite) IngestCounts() map[string]int64 {
	var out map[string]int64
	for _, p := range c.parts {
		if ic, ok := p.(interface{ IngestCounts() map[string]int64 }); ok {
			if out == nil {
				out = map[string]int64{}
			}
			for k, n := range ic.IngestCounts() {
				out[k] += n
			}
		}
	}
	return out
}

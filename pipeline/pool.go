package pipeline

import (
	"context"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/ordered"
)

// persons exports every person through the ordered worker window: the
// work items (e.each) are read, mapped and reduced by workers into a
// buffer each, which this goroutine replays to the sink in order; at
// most a window of persons is in flight, so memory stays flat. The first
// error (a person's, the sink's, or the listing's) stops the export.
func (e *export) persons() error {
	type result struct {
		buf *buffer
		st  Stats
		err error
	}
	scratch := make([]scratch, max(e.workers, 1))
	// Buffers go round: the emitter hands each back once replayed.
	free := make(chan *buffer, 4*e.workers+2)
	// With a releasing sink, a person's resources are made in a Memory
	// that goes round like the buffers: the emitter hands it back once
	// the person is replayed, when the sink is done with them.
	var mems chan *mapping.Memory
	if _, ok := e.sink.(ReleasingSink); ok {
		mems = make(chan *mapping.Memory, cap(free))
	}
	return ordered.Run(e.ctx, e.workers,
		e.each,
		func(ctx context.Context, worker int, w *work) result {
			pe := *e
			pe.ctx = ctx
			pe.scr = &scratch[worker]
			var buf *buffer
			select {
			case buf = <-free:
			default:
				buf = &buffer{}
			}
			pe.sink, pe.st = buf, &Stats{}
			if mems != nil {
				select {
				case buf.mem = <-mems:
				default:
					buf.mem = &mapping.Memory{}
				}
				pe.applier().Batch(buf.mem)
			}
			err := pe.person(w)
			if buf.mem != nil {
				pe.scr.applier.Batch(nil) // the person's resources stay in buf.mem
			}
			return result{buf, *pe.st, err}
		},
		func(r result) error {
			if r.err != nil {
				return r.err
			}
			e.st.add(r.st)
			if err := r.buf.replay(e.sink); err != nil {
				return err
			}
			if r.buf.mem != nil {
				select {
				case mems <- r.buf.mem:
				default:
				}
			}
			r.buf.reset()
			select {
			case free <- r.buf:
			default:
			}
			e.tick()
			return nil
		})
}

// scratch is one worker's memory, reused person after person: nothing in
// it outlives the person it was used for.
type scratch struct {
	// parser parses each re-read message; the mapping copies what it
	// keeps, so a message is dead once mapped.
	parser hl7v2.Parser
	// reread holds each re-read message's bytes (see parser).
	reread []byte
	// applier maps the worker's records with memory of its own (memo
	// frames, scopes), kept person after person instead of taken from
	// the mapping's pool, which the collector empties.
	applier *mapping.Applier
	doses   doseScratch // the dose reducer's (reduceDoses)
	// recalled: the person's resources of the recalled type (recall.go)
	recalled recalled
	out      mapped // the person's records by type (mappedOut)
	// the last meta.lastUpdated formatted: a person's resources mostly
	// share the time of their latest message
	at    time.Time
	atVal any // its string, boxed once for Object.Set
}

// apply maps one record with the export's mapping: through the worker's
// Applier inside a worker. Its output stays valid after later records
// (no ReuseOutput): a person's records live until the person is emitted
// (in the person's Memory, with a releasing sink).
func (e *export) apply(in mapping.Input) mapping.Output {
	if e.scr == nil {
		return e.m.Apply(in, false)
	}
	return e.applier().Apply(in, false)
}

// applier is the worker's Applier.
func (e *export) applier() *mapping.Applier {
	if e.scr.applier == nil {
		e.scr.applier = e.m.NewApplier()
	}
	return e.scr.applier
}

// instant is fhirout.FormatInstant(t) as an element value, remembered
// per worker.
func (e *export) instant(t time.Time) any {
	s := e.scr
	if s == nil {
		return fhirout.FormatInstant(t)
	}
	if s.atVal == nil || !t.Equal(s.at) { // the same instant prints alike (UTC)
		s.at, s.atVal = t, fhirout.FormatInstant(t)
	}
	return s.atVal
}

// buffer records what one person's export sends, for in-order replay.
type buffer struct {
	items []bufItem
	mem   *mapping.Memory // what the items are made in (a releasing sink), or nil
}

type bufItem struct {
	kind    byte // r resource, d deleted, i issue
	obj     *fhirout.Object
	typ, id string
	at      time.Time
}

func (b *buffer) Resource(r *fhirout.Object) error {
	b.items = append(b.items, bufItem{kind: 'r', obj: r})
	return nil
}
func (b *buffer) Deleted(t, id string, at time.Time) error {
	b.items = append(b.items, bufItem{kind: 'd', typ: t, id: id, at: at})
	return nil
}
func (b *buffer) Issue(oo *fhirout.Object) error {
	b.items = append(b.items, bufItem{kind: 'i', obj: oo})
	return nil
}

// reset empties b for another person, keeping its room unless a huge
// person grew it.
func (b *buffer) reset() {
	clear(b.items) // no resource of the last person stays reachable
	b.items = b.items[:0]
	if cap(b.items) > 4096 {
		b.items = nil
	}
	b.mem = nil
}

func (b *buffer) replay(s Sink) error {
	for _, it := range b.items {
		var err error
		switch it.kind {
		case 'r':
			err = s.Resource(it.obj)
		case 'd':
			err = s.Deleted(it.typ, it.id, it.at)
		default:
			err = s.Issue(it.obj)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Stats) add(o Stats) {
	s.Persons += o.Persons
	s.Messages += o.Messages
	s.ReadErrors += o.ReadErrors
	s.Patients += o.Patients
	s.Immunizations += o.Immunizations
	s.Provenances += o.Provenances
	s.Deleted += o.Deleted
	s.UnseenDeletes += o.UnseenDeletes
	s.DoseRecords += o.DoseRecords
	s.Others += o.Others
	s.Issues += o.Issues
	s.Problems += o.Problems
	s.Unchanged += o.Unchanged
	s.Recalled += o.Recalled
	s.Gone += o.Gone
	for k, n := range o.Lost {
		if s.Lost == nil {
			s.Lost = map[string]int64{}
		}
		s.Lost[k] += n
	}
}

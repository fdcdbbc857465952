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
// work items (e.each), in batches of a few persons, are read, mapped and
// reduced by workers into a buffer each, replayed to the sink in order;
// at most a window of batches is in flight, so memory stays flat. The
// first error (a person's, the sink's, or the listing's) stops the
// export after the persons before it.
func (e *export) persons() error {
	type result struct {
		buf *buffer
		st  Stats
		err error
	}
	scratch := make([]scratch, max(e.workers, 1))
	// Buffers go round: the emitter hands each back once replayed.
	free := make(chan *buffer, ordered.Window*e.workers+2)
	// With a releasing sink, a batch's resources are made in a Memory
	// that goes round like the buffers: the emitter hands it back once
	// the batch is replayed, when the sink is done with them.
	var mems chan *mapping.Memory
	if _, ok := e.sink.(ReleasingSink); ok {
		mems = make(chan *mapping.Memory, cap(free))
	}
	return ordered.Run(e.ctx, e.workers,
		e.batches,
		func(ctx context.Context, worker int, batch []*work) result {
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
			var err error
			for _, w := range batch {
				if err = pe.person(w); err != nil {
					break
				}
				buf.ends = append(buf.ends, len(buf.items))
			}
			if buf.mem != nil {
				pe.scr.applier.Batch(nil) // the batch's resources stay in buf.mem
			}
			return result{buf, *pe.st, err}
		},
		func(r result) error {
			// Person by person: a cancelled export stops after the
			// person being sent, as a failed one after the last person
			// its worker finished.
			from := 0
			for _, end := range r.buf.ends {
				if err := e.ctx.Err(); err != nil {
					return err
				}
				if err := r.buf.replay(e.sink, from, end); err != nil {
					return err
				}
				from = end
				e.tick()
			}
			if r.err != nil {
				return r.err
			}
			e.st.add(r.st)
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
			return nil
		})
}

// A batch is a few persons handed to one worker at once. A person is
// short work (about 80 µs a person in a 200k convert), and handing each
// over by itself left one of two workers waiting for its next person a
// quarter of the export (a trace of the run), each hand-over a wake-up.
// Larger batches cost more CPU than they save: their resources are cold
// when the emitter writes them.
const (
	batchPersons  = 4
	batchMessages = 16
)

// batches lists e.each's work items in batches, in order: a batch ends
// at batchPersons persons or once it holds batchMessages messages.
func (e *export) batches(submit func([]*work) error) error {
	var b []*work
	msgs := 0
	err := e.each(func(w *work) error {
		b = append(b, w)
		msgs += len(w.msgs)
		if len(b) < batchPersons && msgs < batchMessages {
			return nil
		}
		err := submit(b)
		b, msgs = nil, 0
		return err
	})
	if err == nil && len(b) > 0 {
		err = submit(b)
	}
	return err
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

// buffer records what one batch of persons sends, for in-order replay.
type buffer struct {
	items []bufItem
	ends  []int           // where each person's items end
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

// reset empties b for another batch, keeping its room unless a huge
// person grew it.
func (b *buffer) reset() {
	clear(b.items) // no resource of the last batch stays reachable
	b.items, b.ends = b.items[:0], b.ends[:0]
	if cap(b.items) > 4096 {
		b.items = nil
	}
	b.mem = nil
}

// replay sends items [from, end) to s.
func (b *buffer) replay(s Sink, from, end int) error {
	for _, it := range b.items[from:end] {
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

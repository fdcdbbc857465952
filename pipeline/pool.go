package pipeline

import (
	"context"
	"sync"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// persons exports every person. With several CPUs, persons are read,
// mapped and reduced by workers and emitted in order by this goroutine;
// at most a window of persons is in flight, so memory stays flat.
func (e *export) persons() error {
	workers := e.workers
	if workers <= 1 {
		return e.each(func(w *work) error {
			if err := e.person(w); err != nil {
				return err
			}
			e.tick()
			return nil
		})
	}
	type job struct {
		seq int
		w   *work
	}
	type result struct {
		seq int
		buf *buffer
		st  Stats
		err error
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	window := 4 * workers
	jobs := make(chan job)
	results := make(chan result, window)
	sem := make(chan struct{}, window)
	var prodErr error
	go func() {
		defer close(jobs)
		seq := 0
		prodErr = e.each(func(w *work) error {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{seq, w}:
			case <-ctx.Done():
				return ctx.Err()
			}
			seq++
			return nil
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				pe := *e
				pe.ctx = ctx
				buf := &buffer{}
				pe.sink, pe.st = buf, &Stats{}
				err := pe.person(j.w)
				results <- result{j.seq, buf, *pe.st, err}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	pending := map[int]result{}
	next := 0
	var err error
	for r := range results {
		pending[r.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-sem
			if err == nil {
				err = r.err
			}
			if err == nil {
				e.st.add(r.st)
				err = r.buf.replay(e.sink)
				e.tick()
			}
			if err != nil {
				cancel()
			}
		}
	}
	if err == nil && prodErr != nil {
		err = prodErr
	}
	return err
}

// buffer records what one person's export sends, for in-order replay.
type buffer struct{ items []bufItem }

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
	s.Gone += o.Gone
	for k, n := range o.Lost {
		if s.Lost == nil {
			s.Lost = map[string]int64{}
		}
		s.Lost[k] += n
	}
}

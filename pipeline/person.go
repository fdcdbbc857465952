package pipeline

import (
	"fmt"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/index"
)

// record is one resource as one message's mapping gave it.
type record struct {
	obj *fhirout.Object
	msg *origin
	ord int // place in the person's output: message, then resource
}

// mapped is what one person's messages became, by resource type.
type mapped map[string][]record

// person exports one person, in phases: load (re-read each message), map,
// reduce per resource type, deletions, emit. The issues of a message go
// out as it is mapped.
func (e *export) person(w *work) error {
	if err := e.ctx.Err(); err != nil {
		return err
	}
	switch {
	case w.loose != nil:
		return e.looseProblems(w.loose)
	case w.rec != nil:
		return e.rowsPerson(w) // relational.go
	}
	if len(w.msgs) == 0 {
		return nil
	}
	e.st.Persons++
	if !e.changed(w.msgs) {
		e.st.Unchanged++
		return nil
	}
	out := e.mappedOut()
	rec := e.recallFrom(w)
	for i := range w.msgs {
		if err := e.loadAndMap(w, i, out, rec); err != nil {
			return err
		}
	}
	return e.reduce(w, out)
}

// mappedOut is an empty mapped for one person: the worker's, whose
// slices the last person's reduction is done with.
func (e *export) mappedOut() mapped {
	if e.scr == nil {
		return mapped{}
	}
	if e.scr.out == nil {
		e.scr.out = mapped{}
	}
	for t, recs := range e.scr.out {
		clear(recs)
		if cap(recs) > 4096 {
			recs = nil // an outsized person's room is not kept
		}
		e.scr.out[t] = recs[:0]
	}
	return e.scr.out
}

// reduce runs the reducers of the mapping's types over what a person's
// records became.
func (e *export) reduce(w *work, out mapped) error {
	for _, r := range e.reducers {
		if err := r.reduce(e, w, out[r.typ]); err != nil {
			return err
		}
	}
	return nil
}

// changed says whether a _since export has anything of these messages to
// send: something indexed after Since.
func (e *export) changed(msgs []index.Message) bool {
	if e.q.Since.IsZero() {
		return true
	}
	var maxAt time.Time
	for i := range msgs {
		if msgs[i].IndexedAt.After(maxAt) {
			maxAt = msgs[i].IndexedAt
		}
	}
	return maxAt.After(e.q.Since)
}

// loadAndMap re-reads message i of the person through the source, maps
// it, sends its issues and adds its resources to out. A message that
// cannot be read is left out with an error issue (the export's Loss).
// With rec, a resource of the recalled type made already for the person
// is taken instead of mapped again (recall.go).
func (e *export) loadAndMap(w *work, i int, out mapped, rec *recalled) error {
	m := &w.msgs[i]
	o := fromMessage(m)
	fresh := e.fresh(m.IndexedAt)
	if m.Warnings != "" && fresh {
		if err := e.issue(fhirout.OperationOutcome(e.warning(m, m.Warnings))); err != nil {
			return err
		}
	}
	msg, err := e.load(m)
	if err != nil {
		return e.lost(m, err)
	}
	e.st.Messages++
	var issues []fhirout.Issue
	if fresh {
		for _, w := range msg.Warnings() {
			is := e.warning(m, w)
			is.Code = "structure"
			issues = append(issues, is)
		}
	}
	in := mapping.Input{Msg: msg, Loc: m.Loc, PatientID: w.id, LastUpdated: m.IndexedAt}
	var (
		made *fhirout.Object
		hit  bool
	)
	if rec != nil {
		if made, hit = rec.lookup(e.recall, msg); hit {
			in.Want = e.recall.refuse
			e.st.Recalled++
		}
	}
	res := e.apply(in)
	if rec != nil && !hit {
		rec.keep(e.recall, res)
	}
	if fresh {
		issues = append(issues, res.Issues...)
	}
	if len(issues) > 0 {
		if err := e.issue(fhirout.OperationOutcome(issues...)); err != nil {
			return err
		}
	}
	// A recalled resource takes the place it would have had: the first.
	first := 0
	if made != nil {
		out[e.recall.typ] = append(out[e.recall.typ], record{obj: made, msg: o, ord: i * perMessage})
		first = 1
	}
	for j, r := range res.Resources {
		t := r.ResourceType()
		out[t] = append(out[t], record{obj: r, msg: o, ord: i*perMessage + first + j})
	}
	return nil
}

// load re-reads one message through the source (which checks the bytes
// are the record indexed there) and parses it, with the worker's parser:
// the message is valid until the worker's next load.
func (e *export) load(m *index.Message) (*hl7v2.Message, error) {
	var (
		data []byte
		err  error
	)
	if br, ok := e.rr.(bufferedRereader); ok && e.scr != nil {
		data, err = br.RereadInto(m.Locator(), &e.scr.reread)
	} else {
		data, err = e.rr.Reread(m.Locator())
	}
	if err != nil {
		return nil, err
	}
	var msg *hl7v2.Message
	if e.scr != nil {
		msg, err = e.scr.parser.Parse(data)
	} else {
		msg, err = hl7v2.Parse(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoParse, err)
	}
	return msg, nil
}

// bufferedRereader is a Rereader that can read into the caller's buffer
// (grown as needed): the bytes returned are valid until its next use.
type bufferedRereader interface {
	RereadInto(loc sources.Locator, buf *[]byte) ([]byte, error)
}

// lost counts a message that could not be read and reports it, whatever
// _since says: the export is incomplete now.
func (e *export) lost(m *index.Message, err error) error {
	why, text := unreadable(err)
	e.st.ReadErrors++
	if e.st.Lost == nil {
		e.st.Lost = map[string]int64{}
	}
	e.st.Lost[why]++
	is := fhirout.Issue{Severity: "error", Code: "exception",
		Diagnostics: "indexed message left out of this export: " + text,
		Input:       input(m.Loc.Source, m.Loc.Offset, m.Loc.Line, m.Loc.Index, m.Loc.ControlID, "")}
	return e.issue(fhirout.OperationOutcome(is))
}

func (e *export) warning(m *index.Message, text string) fhirout.Issue {
	return fhirout.Issue{Severity: "warning", Code: "informational", Diagnostics: text,
		Input: input(m.Loc.Source, m.Loc.Offset, m.Loc.Line, m.Loc.Index, m.Loc.ControlID, "")}
}

package pipeline

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
)

// A reducer folds the records of one resource type of one person (oldest
// first) into the resources the export sends, with their deletions.
type reducer interface {
	reduce(e *export, w *work, recs []record) error
}

// reducerFor is the reducer the mapping declares for type t (its
// `reduce:` section; mapping.Reducers names them). ruleIDs says the
// mapping's id rule gives every resource of the type its id (never the
// fallback id, a hash of the record and the resource's place in it).
func reducerFor(red mapping.Reduction, ruleIDs bool) (reducer, error) {
	switch red.By {
	case "merge":
		return patientMerge{typ: red.Type}, nil
	case "doses":
		return doseReducer{typ: red.Type, spec: newDoseSpec(red), ruleIDs: ruleIDs}, nil
	case "newest":
		return newestByID{typ: red.Type, deleted: red.Elements["deleted"]}, nil
	}
	return nil, fmt.Errorf("pipeline: the mapping reduces %s by %q, which the pipeline does not implement", red.Type, red.By)
}

// reducers are the reducers of the mapping's types, in its order.
func reducers(m *mapping.Mapping) ([]typedReducer, error) {
	var out []typedReducer
	for _, t := range m.ResourceTypes() {
		r, err := reducerFor(m.Reduction(t), !m.ReadsOf(t).DefaultID)
		if err != nil {
			return nil, err
		}
		out = append(out, typedReducer{t, r})
	}
	return out, nil
}

type typedReducer struct {
	typ string
	reducer
}

// patientMerge merges every resource of the type (the Patient) of a
// person into one (newest first, MergePatients), with the person's id,
// updated when the latest of them was indexed.
type patientMerge struct{ typ string }

func (pm patientMerge) reduce(e *export, w *work, recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	pats := make([]*fhirout.Object, 0, len(recs))
	msgs := make([]*origin, 0, len(recs))
	var at time.Time
	for _, r := range recs {
		pats = append(pats, r.obj)
		msgs = append(msgs, r.msg)
		if r.msg.at.After(at) {
			at = r.msg.at
		}
	}
	if !e.want(pm.typ) || !e.inWindow(at) {
		return nil
	}
	slices.Reverse(pats)
	pat := MergePatients(onceEach(pats))
	pat.Set("id", w.id)
	pat.Child("meta").Set("lastUpdated", e.instant(at))
	if err := e.emit(pat, msgs, at); err != nil {
		return err
	}
	e.st.Patients++
	return nil
}

// onceEach drops the later occurrences of an object in objs: a recalled
// Patient (recall.go) counts once, where it came newest; merging it again
// where it came before would add nothing.
func onceEach(objs []*fhirout.Object) []*fhirout.Object {
	if len(objs) <= 32 {
		out := objs[:0]
		for _, o := range objs {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
		return out
	}
	seen := make(map[*fhirout.Object]bool, len(objs))
	out := objs[:0]
	for _, o := range objs {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	return out
}

// newestByID keeps, for each id the mapping gave, the resource of the
// newest message (the person's messages are oldest first), updated when
// the latest message giving that id was indexed. Resources are sent in
// id order. When the mapping declares what marks a deleted resource (its
// `deleted:` role, e.g. a soft-deleted row mapped entered-in-error), a
// newest resource so marked is not sent: a _since export lists it under
// deleted.
type newestByID struct {
	typ     string
	deleted *mapping.ElementPath
}

func (n newestByID) reduce(e *export, w *work, recs []record) error {
	if len(recs) == 0 || !e.want(n.typ) {
		return nil
	}
	type entry struct {
		obj  *fhirout.Object
		msgs []*origin
		at   time.Time
	}
	byID := map[string]*entry{}
	for _, r := range recs {
		id := r.obj.ID()
		en := byID[id]
		if en == nil {
			en = &entry{}
			byID[id] = en
		}
		en.obj = r.obj
		if len(en.msgs) == 0 || en.msgs[len(en.msgs)-1] != r.msg {
			en.msgs = append(en.msgs, r.msg)
		}
		if r.msg.at.After(en.at) {
			en.at = r.msg.at
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		en := byID[id]
		if !e.inWindow(en.at) {
			continue
		}
		if n.deleted != nil && n.deleted.Holds(en.obj) {
			if !e.q.Since.IsZero() {
				e.st.Deleted++
				if err := e.sink.Deleted(n.typ, id, en.at); err != nil {
					return err
				}
			}
			continue
		}
		en.obj.Child("meta").Set("lastUpdated", e.instant(en.at))
		if err := e.emit(en.obj, en.msgs, en.at); err != nil {
			return err
		}
		e.st.Others++
	}
	return nil
}

// doseReducer reduces a person's Immunization records to one dose per
// vaccine and day in its latest state (reduceDoses), with the deletions
// a _since export lists.
//
// A dose's id is the id the mapping gave its id record (dose.idRecord),
// when the mapping's id rule gives every resource of the type one
// (ruleIDs); else, and for a dose whose id another dose of the person
// took, a hash of the Patient id, vaccine and day (fallbackDoseID).
type doseReducer struct {
	typ     string
	spec    doseSpec
	ruleIDs bool
}

// fallbackDoseID is a dose's id when the mapping's cannot be used.
func fallbackDoseID(pid, key string) string { return hashID(pid + "|" + key) }

// ids gives each of a person's doses its id (see doseReducer), with
// mapped(r) the id the mapping gives record r under Patient id pid.
// ok false: mapped could not tell (the record could not be mapped
// again); that dose gets "", and its id is unknown.
func (dr doseReducer) ids(doses []*dose, pid string, mapped func(*doseRec) (string, bool)) []string {
	out := make([]string, len(doses))
	if !dr.ruleIDs {
		for i, d := range doses {
			out[i] = fallbackDoseID(pid, d.key)
		}
		return out
	}
	// The ids taken are out[:i]'s (none is ""): a few doses are scanned.
	var taken map[string]bool
	if len(doses) > scanMax {
		taken = make(map[string]bool, len(doses))
	}
	for i, d := range doses {
		id, ok := mapped(d.idRecord())
		if !ok {
			continue
		}
		if id == "" || taken[id] || taken == nil && slices.Contains(out[:i], id) {
			// A rule giving two doses one id (an order id reused across
			// vaccines, a rule without the day): the later dose, in key
			// order, is told apart by its vaccine and day.
			id = fallbackDoseID(pid, d.key)
		}
		if taken != nil {
			taken[id] = true
		}
		out[i] = id
	}
	return out
}

func (dr doseReducer) reduce(e *export, w *work, in []record) error {
	pid := w.id
	scr := &doseScratch{}
	if e.scr != nil {
		scr = &e.scr.doses
	}
	recs := scr.records(len(in))
	for i, r := range in {
		dr.spec.read(r.obj).fillRec(recs[i], r.obj, r.msg, r.ord, r.msg.rsp())
	}
	e.st.DoseRecords += int64(len(recs))
	doses, unseen := scr.reduce(recs)
	for _, u := range unseen {
		e.st.UnseenDeletes++
		m := u.rec.msg
		if !e.fresh(m.at) {
			continue
		}
		is := fhirout.Issue{Severity: "warning", Code: "not-found",
			Diagnostics: "RXA-21 D deletes a dose this sender never reported (no earlier order with the same sending facility and ORC-3); nothing deleted",
			Expression:  []string{"Immunization.status"},
			Input:       m.input("RXA-21")}
		if err := e.issue(fhirout.OperationOutcome(is)); err != nil {
			return err
		}
	}
	if !e.want(dr.typ) {
		return nil
	}
	// Persons merged into this one took their Immunization ids with them
	// (the default mapping's ids hash the Patient id): a _since export
	// lists those as deleted, and the doses count as updated at the merge.
	for _, mg := range w.merged {
		for _, d := range doses {
			if mg.At.After(d.lastUpdated) {
				d.lastUpdated = mg.At
			}
		}
	}
	ids := dr.ids(doses, pid, func(r *doseRec) (string, bool) { return r.obj.ID(), true })
	former, gone, err := e.formerDeleted(dr, w, recs)
	if err != nil {
		return err
	}
	// An id is listed once, and never one a live dose keeps (a rule
	// without the Patient id gives a former Patient's dose the same id):
	// only former Patients' doses are told apart by it.
	var listed map[string]bool
	if len(gone) > 0 {
		listed = make(map[string]bool, len(doses)+len(gone))
		for i, d := range doses {
			listed[ids[i]] = !d.deleted
		}
	}
	for i, d := range doses {
		id := ids[i]
		if d.deleted {
			if !e.q.Since.IsZero() && e.inWindow(d.deletedAt) && !onlyFormer(d, former) {
				e.st.Deleted++
				if listed != nil {
					listed[id] = true
				}
				if err := e.sink.Deleted(dr.typ, id, d.deletedAt); err != nil {
					return err
				}
			}
			continue
		}
		if !e.inWindow(d.lastUpdated) {
			continue
		}
		imm := d.obj
		imm.Set("id", id)
		imm.Child("meta").Set("lastUpdated", e.instant(d.lastUpdated))
		var ms []*origin // the Provenance's, only asked for with it
		if e.want("Provenance") {
			for _, r := range d.records {
				if len(ms) == 0 || ms[len(ms)-1] != r.msg {
					ms = append(ms, r.msg)
				}
			}
		}
		if err := e.emit(imm, ms, d.lastUpdated); err != nil {
			return err
		}
		e.st.Immunizations++
	}
	for _, g := range gone {
		if listed[g.id] {
			continue
		}
		listed[g.id] = true
		e.st.Deleted++
		if err := e.sink.Deleted(dr.typ, g.id, g.at); err != nil {
			return err
		}
	}
	return nil
}

package pipeline

import (
	"fmt"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
)

// formerDeleted lists, in a _since export, the doses of the Patients
// merged into w's person (gone at their At) as deleted: exactly the
// doses each of them had, which are the doses reduced from the messages
// of its component when it was last current (index
// Snapshot.FormerMessages), among this person's records, under the ids
// the former Patient's exports gave them (their records mapped again
// with the former Patient id, formerIDs). A dose live then is deleted at
// the merge; one already deleted then keeps its own time (the former
// Patient's export would have listed it then). Nothing is kept per
// Patient id: the former doses are worked out again from the person's
// records, which the export holds anyway. It returns the arrival numbers
// of the former Patients' messages (see onlyFormer) and the deletions,
// which the caller sends.
func (e *export) formerDeleted(dr doseReducer, w *work, recs []*doseRec) (map[int64]bool, []deletion, error) {
	if e.q.Since.IsZero() {
		return nil, nil, nil
	}
	var ids []string
	var at []time.Time
	for _, mg := range w.merged {
		if mg.At.After(e.q.Since) {
			ids, at = append(ids, mg.ID), append(at, mg.At)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	seqs, err := e.snap.FormerMessages(e.ctx, w.pp, ids)
	if err != nil {
		return nil, nil, err
	}
	var dels []deletion
	all := map[int64]bool{}
	for i, old := range ids {
		if len(seqs[i]) == 0 {
			continue
		}
		in := make(map[int64]bool, len(seqs[i]))
		for _, s := range seqs[i] {
			in[s] = true
			all[s] = true
		}
		var sub []*doseRec
		for _, r := range recs {
			if in[r.msg.seq] {
				sub = append(sub, r)
			}
		}
		doses, _ := reduceDoses(sub)
		var inWindow []*dose
		var when []time.Time
		for _, d := range doses {
			t := at[i]
			if d.deleted {
				t = d.deletedAt
			}
			if e.inWindow(t) {
				inWindow, when = append(inWindow, d), append(when, t)
			}
		}
		if len(inWindow) == 0 {
			continue
		}
		// The ids are told apart among all the former Patient's doses, as
		// its exports did.
		var ferr error
		remap := e.formerIDs(w, dr.typ, old, &ferr)
		byDose := map[*dose]string{}
		for j, id := range dr.ids(doses, old, remap) {
			byDose[doses[j]] = id
		}
		if ferr != nil {
			return nil, nil, ferr
		}
		for j, d := range inWindow {
			if id := byDose[d]; id != "" { // "": not read again (reported lost)
				dels = append(dels, deletion{id, when[j]})
			}
		}
	}
	return all, dels, nil
}

// deletion is a resource id a _since export lists as deleted, and when.
type deletion struct {
	id string
	at time.Time
}

// perMessage spaces the records of one message in a person's output
// order (record.ord: message index × perMessage + resource index).
const perMessage = 100000

// formerIDs returns the ids the mapping gives w's records of type typ
// under Patient id pid (a merged-away Patient's): each message read and
// mapped again (once; only a _since export after a merge needs this). A
// message that cannot be read again is reported lost (the export is
// incomplete) and its records' ids are unknown (ok false); *errp gets the
// first error that must stop the export.
func (e *export) formerIDs(w *work, typ, pid string, errp *error) func(*doseRec) (string, bool) {
	done := map[int][]*fhirout.Object{}
	return func(r *doseRec) (string, bool) {
		if *errp != nil {
			return "", false
		}
		i, j := r.ord/perMessage, r.ord%perMessage
		res, ok := done[i]
		if !ok {
			if w.rec != nil {
				res = e.apply(mapping.Input{Person: w.rec, Loc: sources.Location{Source: e.rel.name, ControlID: w.rec.Key}, PatientID: pid}).Resources
			} else {
				m := &w.msgs[i]
				msg, err := e.load(m)
				if err != nil {
					*errp = e.lost(m, err)
					done[i] = nil
					return "", false
				}
				res = e.apply(mapping.Input{Msg: msg, Loc: m.Loc, PatientID: pid, LastUpdated: m.IndexedAt}).Resources
			}
			done[i] = res
		}
		if j >= len(res) || res[j].ResourceType() != typ {
			if res != nil {
				*errp = fmt.Errorf("pipeline: mapping a record again under a merged-away Patient id gave other resources (does a rule's condition read $input.patient_id?); %s ids of that Patient are unknown", typ)
			}
			return "", false
		}
		return res[j].ID(), true
	}
}

// onlyFormer says whether every record of a dose came from former
// Patients' messages (before their merge): a dose deleted there never
// existed under the survivor's id, so its deletion is theirs to list.
func onlyFormer(d *dose, former map[int64]bool) bool {
	if len(former) == 0 {
		return false
	}
	for _, r := range d.records {
		if !former[r.msg.seq] {
			return false
		}
	}
	return true
}

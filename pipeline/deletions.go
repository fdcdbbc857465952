package pipeline

import (
	"time"

	"github.com/iisbridge/iisbridge/sources/index"
)

// formerDeleted lists, in a _since export, the Immunizations of the
// Patients merged into pp (gone at their At) as deleted: exactly the
// doses each of them had, which are the doses reduced from the messages
// of its component when it was last current (index
// Snapshot.FormerMessages), among this person's records. A dose live then
// is deleted at the merge; one already deleted then keeps its own time
// (the former Patient's export would have listed it then). Nothing is
// kept per Patient id: the former doses are worked out again from the
// person's records, which the export holds anyway. It returns the
// arrival numbers of the former Patients' messages (see onlyFormer).
func (e *export) formerDeleted(pp index.Person, merged []index.Merged, recs []*doseRec) (map[int64]bool, error) {
	if e.q.Since.IsZero() {
		return nil, nil
	}
	var ids []string
	var at []time.Time
	for _, mg := range merged {
		if mg.At.After(e.q.Since) {
			ids, at = append(ids, mg.ID), append(at, mg.At)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	seqs, err := e.snap.FormerMessages(e.ctx, pp, ids)
	if err != nil {
		return nil, err
	}
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
		for _, d := range doses {
			when := at[i]
			if d.deleted {
				when = d.deletedAt
			}
			if !e.inWindow(when) {
				continue
			}
			e.st.Deleted++
			if err := e.sink.Deleted("Immunization", hashID(old+"|"+d.key), when); err != nil {
				return nil, err
			}
		}
	}
	return all, nil
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

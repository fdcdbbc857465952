package pipeline

import (
	"slices"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
)

// A person's messages often repeat the same patient data (each VXU
// resends PID; 28-30 % of the generated world's Patients repeat one of
// their person's), and the Patient merge folds them into one: a Patient
// equal to one the person already has adds nothing but its message to
// the Provenance. So each distinct Patient of a person is mapped once:
// a later message whose Patient would read the same values (the key of
// what the mapping's Patient rules read, mapping.ReadsExcept) takes the
// one already made, and its mapping is asked for everything else only.
//
// The recall is exact: its key holds every value the resource's rules,
// conditions and lets read but those of the elements the reducer sets
// itself (id, meta.lastUpdated), and a Patient is only recalled from a
// message whose mapping reported nothing (so the recalled message's
// Patient would report nothing either).

// overwriter is a reducer that sets some elements of the resources it
// is given whatever the mapping made of them, and to which a resource
// equal to one it already has adds nothing but its record's origin.
type overwriter interface {
	overwrites() []string
}

func (patientMerge) overwrites() []string { return []string{"id", "meta.lastUpdated"} }

// noRecall turns the recall off: tests compare exports with and without.
var noRecall bool

// recall is the export's recalled type, when the mapping allows one.
type recall struct {
	typ    string
	key    *mapping.MessageKey
	refuse func(typ string, order int) bool // Input.Want of a recalled message
}

// newRecall finds the type to recall: the mapping's first resource
// definition, made once per message (its resource comes first in the
// output), the only one of its type, reduced by an overwriter, and
// reading no input but the Patient id (the same all through a person).
func newRecall(m *mapping.Mapping, reds []typedReducer) *recall {
	if noRecall || m.NumResources() == 0 {
		return nil
	}
	typ := m.ResourceType(0)
	for i := 1; i < m.NumResources(); i++ {
		if m.ResourceType(i) == typ {
			return nil
		}
	}
	i := slices.IndexFunc(reds, func(r typedReducer) bool { return r.typ == typ })
	if i < 0 {
		return nil
	}
	ow, ok := reds[i].reducer.(overwriter)
	if !ok {
		return nil
	}
	d := m.ReadsExcept(0, ow.overwrites()...)
	if d.PerOrder || d.DefaultID || len(d.Columns) > 0 || len(d.Refs) > 0 || len(d.Order) > 0 {
		return nil
	}
	for _, in := range d.Inputs {
		if in != "$input.patient_id" {
			return nil
		}
	}
	return &recall{typ: typ, key: d.MessageKey(), refuse: func(t string, _ int) bool { return t != typ }}
}

// recalled is a worker's recall memory for the person at hand.
type recalled struct {
	made map[string]*fhirout.Object // by key; nil: the message made none
	key  []byte                     // the last message's key
}

// recallFrom starts the recall memory for person w: nil when nothing is
// recalled (no recall, outside a worker, a person of one message).
func (e *export) recallFrom(w *work) *recalled {
	if e.recall == nil || e.scr == nil {
		return nil
	}
	// The last person's resources are let go of even when this one
	// recalls nothing: their Memory is recycled.
	r := &e.scr.recalled
	if len(r.made) > 256 {
		r.made = nil // an outsized person's room is not kept
	}
	clear(r.made)
	if len(w.msgs) < 2 {
		return nil
	}
	return r
}

// lookup keys msg: hit says its resource was made already (obj; nil
// when that message made none).
func (r *recalled) lookup(rc *recall, msg *hl7v2.Message) (obj *fhirout.Object, hit bool) {
	r.key = rc.key.Append(r.key[:0], msg)
	obj, hit = r.made[string(r.key)]
	return obj, hit
}

// keep remembers what the message last looked up made of the recalled
// type, when its mapping reported nothing.
func (r *recalled) keep(rc *recall, res mapping.Output) {
	if len(res.Issues) > 0 {
		return
	}
	var obj *fhirout.Object
	if len(res.Resources) > 0 && res.Resources[0].ResourceType() == rc.typ {
		obj = res.Resources[0]
	}
	if r.made == nil {
		r.made = map[string]*fhirout.Object{}
	}
	r.made[string(r.key)] = obj
}

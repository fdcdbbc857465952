package pipeline

import (
	"bytes"
	"errors"
	"strings"
	"sync"

	"iisbridge/fhirout"
	"iisbridge/hl7v2"
)

// The ORDER memo still maps every distinct dose record once, although
// only the winner of each dose is exported. The reduction keys on few
// values, which the default mapping derives from few fields: the CVX
// (and whether the dose exists at all: no code or a code the CVX table
// rejects drops it) from RXA-5 alone, the day from RXA-3 and the zone of
// MSH-7, the FILL identifier from ORC-3.1 (none when 0, 9999 or PID-3.1)
// and a system from the sender (MSH-4, MSH-3), the status from RXA-21,
// primarySource from RXA-9. What the mapping makes of an RXA-5, an RXA-3
// or a sender is learned from the records it maps; a record whose values
// are all known is keyed without mapping it. Winners are mapped and
// checked against the prediction: a difference stops predictions for the
// pipeline and the person is exported again by mapping.

// errMispredicted says a winner's mapped Immunization disagreed with the
// values the reduction was keyed on.
var errMispredicted = errors.New("pipeline: predicted dose key differs from the mapped Immunization")

// learnedMax bounds each table (distinct RXA-5 values, RXA-3 values,
// senders); past it, records with new values are mapped.
const learnedMax = 50000

// learned holds what the mapping made of single v2 values.
type learned struct {
	mu      sync.RWMutex
	cvx     map[string]string // RXA-5 as sent → doseFields.cvx
	date    map[string]string // RXA-3 as sent, NUL, MSH-7 offset → doseFields.date
	fillSys map[string]string // MSH-4, NUL, MSH-3 as sent → FILL identifier system
}

func newLearned() *learned {
	return &learned{cvx: map[string]string{}, date: map[string]string{}, fillSys: map[string]string{}}
}

// v2Keys are the v2 values one ORDER group's reduction key depends on.
// The raw fields point into the message: keys are built from them only
// to learn, so predicting allocates nothing.
type v2Keys struct {
	rxa5, rxa3, msh4, msh3 []byte // as sent
	tz                     string // MSH-7's zone offset
	fill                   string // ORC-3.1 after the none-values; "" = no id
	deleted, primary       bool
	ok                     bool // RXA-21 and RXA-9 read unambiguously
}

// dateKey and senderKey are the learned tables' keys: RXA-3 NUL zone,
// MSH-4 NUL MSH-3, appended to dst.
func (k *v2Keys) dateKey(dst []byte) []byte {
	return append(append(append(dst, k.rxa3...), 0), k.tz...)
}
func (k *v2Keys) senderKey(dst []byte) []byte {
	return append(append(append(dst, k.msh4...), 0), k.msh3...)
}

// value reads a component the way the mapping does: decoded, trimmed,
// "" for empty or null.
func value(v hl7v2.Value) string {
	if v.IsEmpty() || v.IsNull() {
		return ""
	}
	return strings.TrimSpace(v.String())
}

// msgKeys are the values readV2Keys needs from outside the ORDER group,
// read once per message.
type msgKeys struct {
	msh4, msh3 []byte
	pid3       string // PID-3.1 as the mapping reads it
	tz         string
}

func readMsgKeys(msh, pid hl7v2.Segment, tz string) msgKeys {
	return msgKeys{msh4: msh.Field(4).Raw(), msh3: msh.Field(3).Raw(), pid3: value(pid.Field(3).Rep(1).Component(1)), tz: tz}
}

// trimmed is v decoded into buf and trimmed, as value reads it, without
// a string (nil for empty or null).
func trimmed(buf []byte, v hl7v2.Value) []byte {
	if v.IsEmpty() || v.IsNull() {
		return nil
	}
	return bytes.TrimSpace(v.AppendDecoded(buf[:0]))
}

func readV2Keys(o hl7v2.Order, mk *msgKeys, buf []byte) v2Keys {
	var k v2Keys
	k.rxa5, k.rxa3, k.tz = o.RXA.Field(5).Raw(), o.RXA.Field(3).Raw(), mk.tz
	k.msh4, k.msh3 = mk.msh4, mk.msh3
	spaced := false
	if !o.ORC.IsZero() {
		var f []byte
		if v := o.ORC.Field(3).Rep(1).Component(1); !v.IsEmpty() && !v.IsNull() {
			d := v.AppendDecoded(buf[:0])
			f = bytes.TrimSpace(d)
			spaced = len(f) != len(d)
		}
		if !bytes.EqualFold(f, []byte("0")) && !bytes.EqualFold(f, []byte("9999")) && !strings.EqualFold(string(f), mk.pid3) {
			k.fill = string(f)
		}
	}
	a := trimmed(buf, o.RXA.Field(21).Rep(1).Component(1))
	k.deleted = string(a) == "D"
	aOK := k.deleted || !bytes.EqualFold(a, []byte("D"))
	s := trimmed(buf, o.RXA.Field(9).Rep(1).Component(1))
	k.primary = string(s) == "00"
	// Only exact forms: how the mapping compares other cases is its own.
	// An ORC-3 with spaces around it is left to the mapping too.
	k.ok = !spaced && aOK && (k.primary || !bytes.EqualFold(s, []byte("00")))
	return k
}

// learnedView is one goroutine's read-through copy of learned: once a
// value is known, the goroutine reads its own maps, without the shared
// lock (on which two workers contended). Learned values never change, so
// a copy cannot go stale.
type learnedView struct {
	l                  *learned
	cvx, date, fillSys map[string]string
	scratch            []byte
}

func (l *learned) view() *learnedView {
	return &learnedView{l: l, cvx: map[string]string{}, date: map[string]string{}, fillSys: map[string]string{}}
}

// get looks key up in local, then in the shared table.
func (v *learnedView) get(local map[string]string, shared func(*learned) map[string]string, key []byte) (string, bool) {
	if s, ok := local[string(key)]; ok {
		return s, true
	}
	v.l.mu.RLock()
	s, ok := shared(v.l)[string(key)]
	v.l.mu.RUnlock()
	if ok && len(local) < learnedMax {
		local[string(key)] = s
	}
	return s, ok
}

func sharedCVX(l *learned) map[string]string     { return l.cvx }
func sharedDate(l *learned) map[string]string    { return l.date }
func sharedFillSys(l *learned) map[string]string { return l.fillSys }

// predict gives the doseFields the mapping would give, when every value
// is known.
func (v *learnedView) predict(k v2Keys) (doseFields, bool) {
	if !k.ok {
		return doseFields{}, false
	}
	f := doseFields{deleted: k.deleted, primary: k.primary}
	var ok bool
	if f.cvx, ok = v.get(v.cvx, sharedCVX, k.rxa5); !ok {
		return f, false
	}
	v.scratch = k.dateKey(v.scratch[:0])
	if f.date, ok = v.get(v.date, sharedDate, v.scratch); !ok {
		return f, false
	}
	if k.fill != "" {
		v.scratch = k.senderKey(v.scratch[:0])
		sys, ok := v.get(v.fillSys, sharedFillSys, v.scratch)
		if !ok {
			return f, false
		}
		f.fill = sys + "|" + k.fill
	}
	return f, true
}

// learn records what the mapping made of one record's values; false when
// it contradicts the model (a prediction would have been wrong).
func (l *learned) learn(k v2Keys, f doseFields) bool {
	if !k.ok || f.deleted != k.deleted || f.primary != k.primary {
		return false
	}
	if (f.fill == "") != (k.fill == "") || k.fill != "" && !strings.HasSuffix(f.fill, "|"+k.fill) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	agree := func(m map[string]string, key, v string) bool {
		old, ok := m[key]
		if !ok && len(m) < learnedMax {
			m[key] = v
		}
		return !ok || old == v
	}
	good := agree(l.cvx, string(k.rxa5), f.cvx) && agree(l.date, string(k.dateKey(nil)), f.date)
	if k.fill != "" {
		good = agree(l.fillSys, string(k.senderKey(nil)), strings.TrimSuffix(f.fill, "|"+k.fill)) && good
	}
	return good
}

// checkWinner compares a winner's mapped Immunization with the record it
// was predicted as.
func checkWinner(obj *fhirout.Object, r *doseRec) bool {
	f := readDoseFields(obj)
	return f.cvx == r.cvx && f.date == r.date && f.deleted == r.deleted && f.fill == r.predFill &&
		(r.rank == 0 || f.primary == (r.rank == 2))
}

package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"iisbridge/fhirout"
	"iisbridge/hl7v2"
	"iisbridge/mapping"
	"iisbridge/sources/index"
)

// Every VXU resends the person's whole history as RXA-9 01 rows, so
// mapping every ORDER group of every message is quadratic in a person's
// history. With the default mapping an export instead maps each distinct
// ORDER group of a person once (per sending context), remembers what the
// reduction keys on and the issues it raised, and maps again only the
// groups that win the reduction, for their Immunization.
//
// What the default mapping's Immunization depends on besides the ORDER
// group's own segments: $sender (MSH-4.1, MSH-4.2, MSH-3.1), PID-3.1 (an
// ORC-3 equal to it is no dose id), the zone of MSH-7 (RXA-3 without
// offset), the message type and whether a second PID exists (an RSP with
// candidates maps nothing), $patient (the person, fixed) and
// $input.last_updated (overwritten by the export). orderContext holds
// exactly those; a custom mapping may read anything, so it is mapped in
// full (Pipeline.memoOK).

// memoEntry is what mapping one ORDER group gave. Its issues are
// reported once, with the message the group first appeared in: a resent
// history row repeats no warnings.
type memoEntry struct {
	has       bool // an Immunization was built (not skipped, not rejected)
	f         doseFields
	predicted bool // f was predicted, not mapped (predict.go)
}

// orderContext is the part of a message, outside its ORDER groups, that
// the default Immunization rules read.
func orderContext(msg *hl7v2.Message) string {
	var b strings.Builder
	segs := msg.Segments()
	if msh, ok := segs.Find("MSH", 1); ok {
		for _, n := range []int{3, 4, 9} {
			b.Write(msh.Field(n).Raw())
			b.WriteByte(0)
		}
		ts := msh.Field(7).Rep(1).Component(1).String()
		if len(ts) > 8 {
			if i := strings.IndexAny(ts[8:], "+-"); i >= 0 {
				b.WriteString(ts[8+i:])
			}
		}
		b.WriteByte(0)
	}
	if pid, ok := segs.Find("PID", 1); ok {
		b.Write(pid.Field(3).Raw())
	}
	b.WriteByte(0)
	if _, ok := segs.Find("PID", 2); ok {
		b.WriteByte('2')
	}
	b.WriteByte(0)
	return b.String()
}

// appendOrderKey appends the memo key of one ORDER group in its context:
// looked up from a reused buffer, a key becomes a string only when it is
// new (every message resends the person's history).
func appendOrderKey(dst []byte, ctx string, o hl7v2.Order) []byte {
	dst = append(dst, ctx...)
	for _, s := range o.All {
		dst = append(append(dst, s.Raw()...), '\r')
	}
	return dst
}

// mapMemo maps one message of a person with the memo: its Patient (every
// message: the merge keeps old names and addresses) and the ORDER groups
// not seen before, in one Apply. It returns the Patients, the dose
// records and the issues of what it mapped.
//
// pmemo maps a patientKey to the Patient mapped from it (nil: none);
// pkey is this message's, seen says the Patient returned is remembered.
func (e *export) mapMemo(memo map[string]*memoEntry, pmemo map[string]*fhirout.Object, msg *hl7v2.Message, m *index.Message, i int, pid string, rsp, predict bool) (pats []*fhirout.Object, recs []*doseRec, issues []fhirout.Issue, pkey string, seen bool, err error) {
	mp := e.p.opts.Mapping
	ctx := orderContext(msg)
	orders := msg.Orders()
	keys := make([]string, len(orders))     // of the groups not in the memo
	ents := make([]*memoEntry, len(orders)) // of the groups in the memo
	segs := msg.Segments()
	msh, _ := segs.Find("MSH", 1)
	pidSeg, _ := segs.Find("PID", 1)
	if _, two := segs.Find("PID", 2); two && value(msh.Field(9).Rep(1).Component(1)) != "VXU" {
		predict = false // an RSP with candidates maps nothing
	}
	tz := mshOffset(msh)
	var (
		candidates []int
		vks        map[int]v2Keys
		fresh      map[string]bool
		kb         = make([]byte, 0, 1024)
	)
	for k, o := range orders {
		kb = appendOrderKey(kb[:0], ctx, o)
		if ent := memo[string(kb)]; ent != nil {
			ents[k] = ent
			continue
		}
		keys[k] = string(kb)
		if noDose(o) {
			ents[k] = &memoEntry{}
			memo[keys[k]] = ents[k]
			continue
		}
		if !fresh[keys[k]] {
			if fresh == nil {
				fresh = map[string]bool{}
			}
			fresh[keys[k]] = true
			candidates = append(candidates, k)
		}
	}
	var missed []int
	var mk msgKeys
	if predict && len(candidates) > 0 {
		mk = readMsgKeys(msh, pidSeg, tz)
	}
	for _, k := range candidates {
		if predict {
			vk := readV2Keys(orders[k], &mk, kb)
			if f, ok := e.lv.predict(vk); ok {
				memo[keys[k]] = &memoEntry{has: true, f: f, predicted: true}
				continue
			}
			if vk.ok {
				if vks == nil {
					vks = map[int]v2Keys{}
				}
				vks[k] = vk // mapped below; teaches the model
			}
		}
		missed = append(missed, k)
	}
	// The Patient of a message whose patient segments and context an
	// earlier message of the person had is that message's Patient again.
	pkey = patientKey(msg, len(orders) > 0)
	prev, seen := pmemo[pkey]
	if seen {
		if prev != nil {
			pats = append(pats, prev)
		}
	}
	var imms []*fhirout.Object
	in := mapping.Input{Msg: msg, Loc: m.Loc, PatientID: pid, LastUpdated: m.IndexedAt}
	if !seen || len(missed) > 0 {
		in.Want = func(t string, ord int) bool {
			if t != "Immunization" {
				return !seen
			}
			_, ok := slices.BinarySearch(missed, ord)
			return ok
		}
		out := mp.Apply(in, false)
		e.st.OrdersMapped += int64(len(missed))
		issues = out.Issues
		for _, r := range out.Resources {
			switch r.ResourceType() {
			case "Patient":
				pats = append(pats, r)
			case "Immunization":
				imms = append(imms, r)
			default:
				e.st.OtherResources++
			}
		}
		if !seen {
			pmemo[pkey] = nil
			if len(pats) == 1 {
				pmemo[pkey] = pats[0]
			}
		}
	}
	if predict && len(pats) == 0 && len(missed) < len(candidates) {
		// No Patient: the mapping's own conditions may drop the whole
		// message, so map this one without predictions.
		for _, k := range candidates {
			delete(memo, keys[k])
		}
		if !seen {
			delete(pmemo, pkey)
		}
		return e.mapMemo(memo, pmemo, msg, m, i, pid, rsp, false)
	}
	objs := map[int]*fhirout.Object{}
	if len(imms) == len(missed) {
		for j, k := range missed {
			objs[k] = imms[j]
		}
	} else {
		// Some group gave no Immunization (998, rejected): map them one by
		// one to learn which (the issues were had above).
		for _, k := range missed {
			in.Want = func(t string, ord int) bool { return t == "Immunization" && ord == k }
			for _, r := range mp.Apply(in, false).Resources {
				if r.ResourceType() == "Immunization" {
					objs[k] = r
				}
			}
		}
	}
	for _, k := range missed {
		ent := &memoEntry{}
		if obj := objs[k]; obj != nil {
			ent.has, ent.f = true, readDoseFields(obj)
			if vk, ok := vks[k]; ok && !e.p.learned.learn(vk, ent.f) {
				return nil, nil, nil, "", false, errMispredicted
			}
		}
		memo[keys[k]] = ent
	}
	for k := range orders {
		ent := ents[k]
		if ent == nil {
			ent = memo[keys[k]]
		}
		if !ent.has {
			continue
		}
		r := ent.f.rec(objs[k], m, i*100000+k+1, rsp)
		r.msgIdx, r.order = i, k
		if ent.predicted {
			r.predicted, r.predFill = true, ent.f.fill
		}
		recs = append(recs, r)
	}
	return pats, recs, issues, pkey, seen, nil
}

// mshOffset is the zone offset MSH-7 carries ("" none), as sent.
func mshOffset(msh hl7v2.Segment) string {
	ts := msh.Field(7).Rep(1).Component(1).String()
	if len(ts) > 8 {
		if i := strings.IndexAny(ts[8:], "+-"); i >= 0 {
			return ts[8+i:]
		}
	}
	return ""
}

// remap maps the winning ORDER groups of doses again, for their
// Immunizations (the memo keeps no objects of copies and predicted
// records were never mapped): one Apply per message.
func (e *export) remap(doses []*dose, msgs []*hl7v2.Message, pid string) error {
	// Predicted winners were never mapped: their issues are reported now
	// (a separate Apply from remembered ones, whose issues were).
	type group struct {
		msg  int
		pred bool
	}
	byMsg := map[group][]*dose{}
	var idxs []group
	for _, d := range doses {
		g := group{d.win.msgIdx, d.win.predicted}
		if byMsg[g] == nil {
			idxs = append(idxs, g)
		}
		byMsg[g] = append(byMsg[g], d)
	}
	slices.SortFunc(idxs, func(a, b group) int {
		if a.msg != b.msg {
			return a.msg - b.msg
		}
		if a.pred == b.pred {
			return 0
		}
		if a.pred {
			return 1
		}
		return -1
	})
	for _, g := range idxs {
		ds, i := byMsg[g], g.msg
		slices.SortFunc(ds, func(a, b *dose) int { return a.win.order - b.win.order })
		orders := make([]int, len(ds))
		for j, d := range ds {
			orders[j] = d.win.order
		}
		m := ds[0].win.msg
		in := mapping.Input{Msg: msgs[i], Loc: m.Loc, PatientID: pid, LastUpdated: m.IndexedAt,
			Want: func(t string, ord int) bool {
				_, ok := slices.BinarySearch(orders, ord)
				return t == "Immunization" && ok
			}}
		e.st.OrdersMapped += int64(len(orders))
		var imms []*fhirout.Object
		out := e.p.opts.Mapping.Apply(in, false)
		if g.pred && len(out.Issues) > 0 && e.fresh(m.IndexedAt) {
			if err := e.issue(fhirout.OperationOutcome(out.Issues...)); err != nil {
				return err
			}
		}
		for _, res := range out.Resources {
			if res.ResourceType() == "Immunization" {
				imms = append(imms, res)
			}
		}
		if len(imms) != len(ds) {
			if ds[0].win.predicted || len(ds) > 1 {
				return errMispredicted
			}
			return fmt.Errorf("pipeline: %s: ORDER[%d] gave no Immunization when mapped again", m.Loc.Source, orders[0]+1)
		}
		for j, d := range ds {
			if d.win.predicted && !checkWinner(imms[j], d.win) {
				return errMispredicted
			}
			d.obj = imms[j]
		}
	}
	return nil
}

// noDose says the default mapping makes no Immunization of an ORDER
// group: RXA-5 998 (no vaccine administered) coded as CVX.
func noDose(o hl7v2.Order) bool {
	f := o.RXA.Field(5).Rep(1)
	if strings.TrimSpace(f.Component(1).String()) != "998" {
		return false
	}
	sys := strings.ToUpper(strings.TrimSpace(f.Component(3).String()))
	return sys == "CVX" || sys == "HL70292"
}

// patientKey is what the default Patient rules read: every segment
// outside the ORDER groups but MSH, and of MSH the sender, receiver, type
// and zone (MSH-7's time and MSH-10 only feed the id, which the identity
// layer sets); whether the message has ORDER groups (an RSP without
// doses maps nothing).
func patientKey(msg *hl7v2.Message, orders bool) string {
	var b strings.Builder
	segs := msg.Segments()
	msh, _ := segs.Find("MSH", 1)
	for _, n := range []int{3, 4, 5, 6, 9} {
		b.Write(msh.Field(n).Raw())
		b.WriteByte(0)
	}
	b.WriteString(mshOffset(msh))
	if orders {
		b.WriteString("\x00O")
	}
	for _, s := range segs {
		switch s.Name() {
		case "MSH", "MSA", "QAK", "QPD", "RCP", "ERR":
			continue
		}
		if hl7v2.InOrder(s.Name()) && s.Name()[0] != 'Z' {
			continue
		}
		b.WriteByte('\r')
		b.Write(s.Raw())
	}
	return b.String()
}

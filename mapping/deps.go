package mapping

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// Dependencies is what one resource definition of a mapping reads, worked
// out at Load from its foreach, when, lets, id and rules (conditions,
// cases, where, group_by and the arguments of every function, tables'
// inputs included), the variables they use (transitively: $sender is
// what its let reads; $patient, another resource's id, is named in Refs)
// and the
// mapping's own messages: filter and when. A cache of mapped resources
// keyed by these values (plus the source record's ORDER group, for a
// resource made per group) is exact for this mapping.
//
// v2 paths are "SEG-F" or "SEG-F.C": field F (or its component C) of any
// occurrence and repetition of SEG; a subcomponent counts as its
// component, a whole-field read (PID-5 in foreach: 'PID-5[*]', code_in's
// field) as the field; "MSH-7:zone" is MSH-7's offset (date and datetime
// read timestamps without one in it). "SEG" is whether there is such a segment (has:),
// "SEG[*]" how many (foreach: SEG, and the ORDER segments for a rule that
// loops over every ORDER group). Every v2 value also depends on the
// message's encoding characters (AppendMessageKey keys them).
type Dependencies struct {
	Resource string // FHIR type
	// PerOrder: one instance per ORDER group (foreach: ORDER); Order then
	// lists what it reads in its own group, whose segments (and so its
	// place among the groups) a memo keys as a whole.
	PerOrder bool
	Order    []string // v2 paths read in the resource's own ORDER group
	Message  []string // v2 paths read in the whole message (MSH, PID, PD1, NK1, ...)
	Columns  []string // source: sql columns
	Inputs   []string // $input.* values (Input.PatientID, LastUpdated, Loc)
	// Refs are the as: variables it reads: other resources' ids ($patient),
	// whose own reads are in their Dependencies.
	Refs []string
	// DefaultID: the id rule may give nothing (or fail), and the default
	// id is then a hash of MSH-4, the control id ($input.control_id, else
	// MSH-10) and the count of resources made before this one in the
	// record, which no key of the values above captures; they are not in
	// the lists.
	DefaultID bool
}

// NumResources is the number of resource definitions, the indexes Reads takes.
func (m *Mapping) NumResources() int { return len(m.impl.resources) }

// ResourceType is the FHIR type of resource definition i.
func (m *Mapping) ResourceType(i int) string { return m.impl.resources[i].typ }

// Reads says what resource definition i (in file order) reads. The lists
// are sorted and hold each entry once.
func (m *Mapping) Reads(i int) Dependencies { return m.ReadsExcept(i) }

// ReadsExcept is Reads for a caller that overwrites some elements of the
// resource whatever the mapping gave them, such as a reducer setting id
// and meta.lastUpdated: what only the rules of those elements read (or
// only the id rule, for "id") is left out. elements are paths below the
// resource ("meta.lastUpdated"), without indexes. A rule that can report
// (warn:, reject:, required:) is kept: its issues depend on what it reads.
func (m *Mapping) ReadsExcept(i int, elements ...string) Dependencies {
	impl := m.impl
	r := impl.resources[i]
	d := depWalk{impl: impl, seen: map[int]bool{}, set: map[string]bool{}}
	for _, el := range elements {
		if el == "id" {
			d.noID = true
			continue
		}
		if d.skip == nil {
			d.skip = map[string]bool{}
		}
		d.skip[r.typ+"."+el] = true
	}
	d.out.Resource = r.typ
	d.out.PerOrder = r.foreach != nil && r.foreach.kind == eachOrder
	// What decides whether the record maps at all.
	for range impl.messages[:min(len(impl.messages), 1)] {
		d.add("MSH-9.1", false)
		d.add("MSH-9.2", false)
	}
	d.cond(impl.when, nil)
	d.resource(r)
	d.out.DefaultID = !d.noID && (r.id == nil || !neverEmpty(r.id))
	for _, l := range [][]string{d.out.Order, d.out.Message, d.out.Columns, d.out.Inputs, d.out.Refs} {
		slices.Sort(l)
	}
	return d.out
}

// ReadsOf merges the Dependencies of every resource definition of type typ.
func (m *Mapping) ReadsOf(typ string) Dependencies {
	out := Dependencies{Resource: typ}
	for i, r := range m.impl.resources {
		if r.typ != typ {
			continue
		}
		d := m.Reads(i)
		out.PerOrder = out.PerOrder || d.PerOrder
		out.DefaultID = out.DefaultID || d.DefaultID
		out.Order = mergeSorted(out.Order, d.Order)
		out.Message = mergeSorted(out.Message, d.Message)
		out.Columns = mergeSorted(out.Columns, d.Columns)
		out.Inputs = mergeSorted(out.Inputs, d.Inputs)
		out.Refs = mergeSorted(out.Refs, d.Refs)
	}
	return out
}

func mergeSorted(a, b []string) []string {
	a = append(a, b...)
	slices.Sort(a)
	return slices.Compact(a)
}

type depWalk struct {
	impl *mappingImpl
	seen map[int]bool    // variable slots followed
	set  map[string]bool // "o:"/"m:"/"c:"/"i:" + entry
	out  Dependencies
	// ReadsExcept: the id rule and the rules of these elements are left out.
	noID bool
	skip map[string]bool
}

// depScope is the compile-time place an expression is read in: inside an
// ORDER group or not, and the repetition loop relative paths read.
type depScope struct {
	parent *depScope
	order  bool      // in an ORDER group
	rep    *pathExpr // foreach over repetitions: its field
	seg    string    // foreach over segments: their name
}

func (s *depScope) inOrder() bool { return s != nil && s.order }

func (d *depWalk) add(entry string, order bool) {
	key, list := "m:"+entry, &d.out.Message
	if order {
		key, list = "o:"+entry, &d.out.Order
	}
	if !d.set[key] {
		d.set[key] = true
		*list = append(*list, entry)
	}
}

func (d *depWalk) addTo(prefix string, list *[]string, entry string) {
	if !d.set[prefix+entry] {
		d.set[prefix+entry] = true
		*list = append(*list, entry)
	}
}

// inGroup says whether a segment read in s resolves in the ORDER group.
func inGroup(s *depScope, seg string) bool { return s.inOrder() && hl7v2.InOrder(seg) }

func (d *depWalk) resource(r *resourceDef) {
	s := d.foreach(r.foreach, &depScope{}, loopResource)
	d.cond(r.when, s)
	for _, l := range r.lets {
		d.expr(l.x, s)
	}
	if !d.noID {
		d.expr(r.id, s)
	}
	d.rules(r.rules, s)
}

func (d *depWalk) rules(rs []*rule, s *depScope) {
	for _, r := range rs {
		if d.skip[r.element] && r.tgt != nil && r.issue == "" && !r.required {
			continue
		}
		rs := d.foreach(r.foreach, s, loopRule)
		d.cond(r.when, rs)
		d.expr(r.value, rs)
		for _, c := range r.cases {
			d.cond(c.when, rs)
			d.expr(c.value, rs)
		}
		d.rules(r.children, rs)
	}
}

// How a foreach is used: a resource's own, a rule's, or a has: test.
type loopUse int

const (
	loopResource loopUse = iota
	loopRule
	loopHas
)

// foreach notes what a loop reads and returns the scope of its items.
func (d *depWalk) foreach(fe *foreachDef, s *depScope, use loopUse) *depScope {
	if fe == nil {
		return s
	}
	var in *depScope
	switch fe.kind {
	case eachOrder:
		// A resource per group reads its own group; a rule looping over
		// every group reads them all, and how the message splits.
		in = &depScope{parent: s, order: use == loopResource}
		if use != loopResource {
			for _, seg := range hl7v2.OrderSegments {
				d.add(seg+"[*]", false)
			}
		}
	case eachSeg:
		if use == loopHas {
			d.add(fe.seg, inGroup(s, fe.seg)) // whether there is one
		} else {
			d.add(fe.seg+"[*]", inGroup(s, fe.seg)) // how many
		}
		in = &depScope{parent: s, order: s.inOrder(), seg: fe.seg}
	case eachRep:
		d.expr(fe.path, s)
		in = &depScope{parent: s, order: s.inOrder(), rep: fe.path}
	default: // eachRows (sqlpaths.go)
		d.addTo("c:", &d.out.Columns, fe.seg+"[*]")
		in = &depScope{parent: s, order: s.inOrder()}
	}
	d.expr(fe.groupBy, in)
	d.cond(fe.where, in)
	return in
}

func (d *depWalk) cond(c *cond, s *depScope) {
	if c == nil {
		return
	}
	d.expr(c.x, s)
	for _, sub := range c.subs {
		d.cond(sub, s)
	}
	if c.has != nil {
		d.foreach(c.has, s, loopHas)
	}
}

func (d *depWalk) expr(x expr, s *depScope) {
	switch x := x.(type) {
	case *pathExpr:
		if x.rel {
			rep := s
			for rep != nil && rep.rep == nil {
				rep = rep.parent
			}
			if rep == nil {
				return
			}
			entry := pathEntry(rep.rep.p.Segment, rep.rep.p.Field, x.comp)
			d.add(entry, inGroup(rep.parent, rep.rep.p.Segment))
			return
		}
		d.add(pathEntry(x.p.Segment, x.p.Field, x.p.Component), inGroup(s, x.p.Segment))
	case *colExpr:
		d.addTo("c:", &d.out.Columns, x.name)
	case *varExpr:
		d.variable(x.slot, x.name)
	case *callExpr:
		switch x.fn.Name {
		case "date", "datetime":
			if d.impl.source == "v2" {
				d.add(zoneEntry, false)
			}
		}
		for _, a := range x.args {
			d.expr(a, s)
		}
	}
}

// variable follows a variable to what sets it.
func (d *depWalk) variable(slot int, name string) {
	if slot < len(builtinDocs) {
		d.addTo("i:", &d.out.Inputs, "$"+name)
		return
	}
	if d.seen[slot] {
		return
	}
	d.seen[slot] = true
	for _, l := range d.impl.lets {
		if l.slot == slot {
			d.expr(l.x, nil)
			return
		}
	}
	for _, r := range d.impl.resources {
		if r.asSlot == slot {
			// Another resource's id: what it reads is in its own Reads.
			d.addTo("r:", &d.out.Refs, "$"+name)
			return
		}
		for _, l := range r.lets {
			if l.slot == slot {
				s := d.foreach(r.foreach, &depScope{}, loopResource)
				d.expr(l.x, s)
				return
			}
		}
	}
}

// zoneEntry is the offset of MSH-7, the zone of a timestamp without one.
const zoneEntry = "MSH-7:zone"

func pathEntry(seg string, field, comp int) string {
	e := seg + "-" + strconv.Itoa(field)
	if comp > 0 {
		e += "." + strconv.Itoa(comp)
	}
	return e
}

// AppendMessageKey appends to dst what msg holds at d.Message, with the
// message's encoding characters: two messages with the same key give a
// resource made per ORDER group (d.PerOrder) the same value for the same
// group content and the same d.Inputs, so a memo keyed by it, the group's
// segments and the inputs is exact (unless d.DefaultID). A field named by
// a component path is keyed whole, every occurrence of its segment.
// d.MessageKey().Append is the same, with the paths worked out once.
func (d Dependencies) AppendMessageKey(dst []byte, msg *hl7v2.Message) []byte {
	return d.MessageKey().Append(dst, msg)
}

// MessageKey is AppendMessageKey prepared for many messages.
type MessageKey struct {
	segs []keySeg // the segments d.Message names
	zone bool     // MSH-7's offset
	// lead marks the first letters of their names: most of a message's
	// segments (OBX, ORC) are passed by at one test.
	lead [256]bool
}

// keySeg is what a key holds of the segments of one name.
type keySeg struct {
	name   string
	fields []int // keyed whole, in every occurrence
	// every: each occurrence counts (it has fields, or SEG[*] counts
	// them); else only whether there is one.
	every bool
}

// MessageKey prepares the key of d.Message.
func (d Dependencies) MessageKey() *MessageKey {
	k := &MessageKey{}
	seg := func(name string) *keySeg {
		for i := range k.segs {
			if k.segs[i].name == name {
				return &k.segs[i]
			}
		}
		k.segs = append(k.segs, keySeg{name: name})
		return &k.segs[len(k.segs)-1]
	}
	for _, ent := range d.Message {
		if ent == zoneEntry {
			k.zone = true
			continue
		}
		name, rest, _ := strings.Cut(ent, "-")
		if name != "" {
			k.lead[name[0]] = true
		}
		if n, ok := strings.CutSuffix(name, "[*]"); ok {
			seg(n).every = true
			continue
		}
		ks := seg(name)
		if rest == "" {
			continue // whether there is one
		}
		f, _, _ := strings.Cut(rest, ".")
		field, _ := strconv.Atoi(f)
		if !slices.Contains(ks.fields, field) {
			ks.fields = append(ks.fields, field)
		}
		ks.every = true
	}
	return k
}

// Append appends msg's key to dst. It holds, segment by segment in the
// message's order, the keyed fields of each segment it names (each with
// its length) or the first occurrence of one read only for whether it is
// there: equal keys mean equal values at every path of d.Message, equal
// counts and presence.
func (k *MessageKey) Append(dst []byte, msg *hl7v2.Message) []byte {
	dl := msg.Delimiters()
	dst = append(dst, dl.Field, dl.Component, dl.Repetition, dl.Escape, dl.Subcomponent, dl.Truncation)
	var seen uint64 // the segs a presence-only occurrence was keyed for
	for _, s := range msg.Segments() {
		if name := s.Name(); name == "" || !k.lead[name[0]] {
			continue
		}
		for i := range k.segs {
			ks := &k.segs[i]
			if !s.Is(ks.name) {
				continue
			}
			if !ks.every && i < 64 { // past 64, every occurrence: stricter
				if seen&(1<<i) != 0 {
					break
				}
				seen |= 1 << i
			}
			dst = append(dst, byte(i+1))
			for _, f := range ks.fields {
				raw := s.Field(f).Raw()
				dst = binary.AppendUvarint(dst, uint64(len(raw)))
				dst = append(dst, raw...)
			}
			break
		}
	}
	dst = append(dst, 0)
	if k.zone {
		if msh, ok := msg.Segments().Find("MSH", 1); ok {
			var b [32]byte
			ts, err := hl7v2.ParseTS(strings.TrimSpace(string(msh.Field(7).Rep(1).Component(1).AppendDecoded(b[:0]))))
			if err == nil && ts.HasOffset {
				_, off := ts.Time.Zone()
				dst = binary.AppendVarint(dst, int64(off))
			}
		}
	}
	return dst
}

package mapping

import (
	"slices"
	"strconv"

	"iisbridge/hl7v2"
)

// Dependencies is what one resource definition of a mapping reads, worked
// out at Load from its foreach, when, lets, id and rules (conditions,
// cases, where, group_by and the arguments of every function, tables'
// inputs included), the variables they use (transitively: $sender is
// what its let reads, $patient what the Patient's id reads) and the
// mapping's own messages: filter and when. A cache of mapped resources
// keyed by these values (plus the source record's ORDER group, for a
// resource made per group) is exact for this mapping.
//
// v2 paths are "SEG-F" or "SEG-F.C": field F (or its component C) of any
// occurrence and repetition of SEG; a subcomponent counts as its
// component, a whole-field read (PID-5 in foreach: 'PID-5[*]', code_in's
// field) as the field. A bare segment name ("RXA") means only whether,
// and how many of, such segments there are (has:, foreach: SEG).
type Dependencies struct {
	Resource string // FHIR type
	// PerOrder: one instance per ORDER group (foreach: ORDER); Order then
	// lists what it reads in its own group.
	PerOrder bool
	Order    []string // v2 paths read in the resource's ORDER group
	Message  []string // v2 paths read in the whole message (MSH, PID, PD1, NK1, ...)
	Columns  []string // source: sql columns
	Inputs   []string // $input.* values (Input.PatientID, LastUpdated, Loc)
}

// NumResources is the number of resource definitions, the indexes Reads takes.
func (m *Mapping) NumResources() int { return len(m.impl.resources) }

// ResourceType is the FHIR type of resource definition i.
func (m *Mapping) ResourceType(i int) string { return m.impl.resources[i].typ }

// Reads says what resource definition i (in file order) reads. The lists
// are sorted and hold each entry once.
func (m *Mapping) Reads(i int) Dependencies {
	impl := m.impl
	r := impl.resources[i]
	d := depWalk{impl: impl, seen: map[int]bool{}, set: map[string]bool{}}
	d.out.Resource = r.typ
	d.out.PerOrder = r.foreach != nil && r.foreach.kind == eachOrder
	// What decides whether the record maps at all.
	for range impl.messages[:min(len(impl.messages), 1)] {
		d.add("MSH-9.1", false)
		d.add("MSH-9.2", false)
	}
	d.cond(impl.when, nil)
	d.resource(r)
	for _, l := range [][]string{d.out.Order, d.out.Message, d.out.Columns, d.out.Inputs} {
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
		out.Order = mergeSorted(out.Order, d.Order)
		out.Message = mergeSorted(out.Message, d.Message)
		out.Columns = mergeSorted(out.Columns, d.Columns)
		out.Inputs = mergeSorted(out.Inputs, d.Inputs)
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
	s := d.foreach(r.foreach, nil)
	d.cond(r.when, s)
	for _, l := range r.lets {
		d.expr(l.x, s)
	}
	d.expr(r.id, s)
	if r.id == nil || !neverEmpty(r.id) {
		// The default id: a hash of MSH-4 and the control id (MSH-10).
		d.add("MSH-4", false)
		d.add("MSH-10", false)
		d.addTo("i:", &d.out.Inputs, "$input.control_id")
	}
	d.rules(r.rules, s)
}

func (d *depWalk) rules(rs []*rule, s *depScope) {
	for _, r := range rs {
		rs := d.foreach(r.foreach, s)
		d.cond(r.when, rs)
		d.expr(r.value, rs)
		for _, c := range r.cases {
			d.cond(c.when, rs)
			d.expr(c.value, rs)
		}
		d.rules(r.children, rs)
	}
}

// foreach notes what a loop reads and returns the scope of its items.
func (d *depWalk) foreach(fe *foreachDef, s *depScope) *depScope {
	if fe == nil {
		return s
	}
	var in *depScope
	switch fe.kind {
	case eachOrder:
		in = &depScope{parent: s, order: true}
		for _, seg := range hl7v2.OrderSegments {
			d.add(seg, false) // how the message splits into groups
		}
	case eachSeg:
		d.add(fe.seg, inGroup(s, fe.seg))
		in = &depScope{parent: s, order: s.inOrder(), seg: fe.seg}
	case eachRep:
		d.expr(fe.path, s)
		in = &depScope{parent: s, order: s.inOrder(), rep: fe.path}
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
		d.foreach(c.has, s)
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
			d.add("MSH-7", false) // the zone of a timestamp without offset
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
			// Its id, and whether it is made at all.
			s := d.foreach(r.foreach, nil)
			d.cond(r.when, s)
			for _, l := range r.lets {
				d.expr(l.x, s)
			}
			d.expr(r.id, s)
			if r.id == nil || !neverEmpty(r.id) {
				d.add("MSH-4", false)
				d.add("MSH-10", false)
			}
			return
		}
		for _, l := range r.lets {
			if l.slot == slot {
				s := d.foreach(r.foreach, nil)
				d.expr(l.x, s)
				return
			}
		}
	}
}

func pathEntry(seg string, field, comp int) string {
	e := seg + "-" + strconv.Itoa(field)
	if comp > 0 {
		e += "." + strconv.Itoa(comp)
	}
	return e
}

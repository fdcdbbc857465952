package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
)

type mappingImpl struct {
	file      string
	source    string
	messages  [][2]string
	when      *cond
	tz        *time.Location
	lets      []letDef
	resources []*resourceDef
	nVars     int
	nRules    int
	padded    bool // some target has an index > 0: Prune after building
	consts    map[string]string
	reduce    map[string]Reduction // the reduce: section (reduce.go)
	// A person mapping's declared tables (sqlpaths.go); nil otherwise.
	sqlTables map[string]*sqlTable
	sqlOrder  []string
	nColSlots int          // relational paths, each with a slot in env.colSlots
	nSites    int          // places objects and arrays are made at (numberSites)
	nRecCalls int          // calls remembered for the record (callExpr.rec)
	identity  *identityDef // the identity: section (identity.go)
}

// scope is where paths resolve at run time: the message, an ORDER group,
// one segment / OBX group, or one repetition (relative paths).
//
// The fields every path read looks at come first, in one cache line.
type scope struct {
	// The memo slots of the paths reading this scope, made on the first
	// read (pathExpr.entry); fcls is their class.
	frame    []memoEntry
	fcls     *pathClass
	parent   *scope
	id       int32 // memo key, 1.. per Apply (env.newScope); 0: not remembered
	ownsSegs bool
	hasItem  bool
	segFrame []segSlot // the segments its paths read (env.segment)
	segs     hl7v2.Segments
	item     hl7v2.Value
	lname    string   // label: ORDER, OBX, PID-3 ...; "" at the root
	lidx     int      // label index (1-based), or -1 for a group
	lkey     string   // group key
	kids     []*scope // segment scopes by index, shared by foreach loops
	row      Row      // a relational child row (foreach: CHILD); lname is its table
}

// label names the item for issues and traces: ORDER[2], OBX[3], PID-3[2].
func (s *scope) label() string {
	switch {
	case s.lname == "":
		return ""
	case s.lidx < 0:
		return s.lname + " group " + strconv.Quote(s.lkey)
	}
	return s.lname + "[" + strconv.Itoa(s.lidx) + "]"
}

// env is the state of one Apply call.
type env struct {
	m         *mappingImpl
	msg       *hl7v2.Message
	row       Row    // one-row mappings: the row; person mappings: the person row
	person    Person // person mappings (sqlpaths.go)
	rowLoops  []rowLoop
	colSlots  []colSlot    // by colExpr.slot: its column's position per row layout (sqlpaths.go)
	slotsOf   *mappingImpl // the mapping colSlots are of (pooled envs serve many)
	in        *Input
	vars      []string
	zone      *time.Location
	zoneOff   int  // zone's offset in seconds, when zoneFixed
	zoneFixed bool // zone is a fixed offset (MSH-7's, or UTC)
	orders    []hl7v2.Order
	ordersOK  bool
	out       *Output
	trace     bool

	rule     *rule // current rule, for issues
	scope    *scope
	rejected bool
	quiet    bool           // evaluating an id, let or group key: functions do not warn
	sets     int            // values written, for required blocks
	started  int            // resource instances started, for default ids
	pending  []pendingStart // unbuilt instances not yet counted in started
	inv      Input          // Apply's input (e.in points here)
	outv     Output         // Apply's output (e.out points here)
	// lastTime formatted as a FHIR instant: $input.last_updated
	lastTime    time.Time
	lastInstant string
	refs        []*scope   // chunk for scope.kids
	esc         byte       // the message's escape character (see plain)
	textPlain   plainTable // the message's, for textOf
	nResources  int        // most resources an Apply of this env made
	grouped     []groupItem
	reps        []repLoop // see repScopes
	repItems    []*scope
	groupSets   []groupSet // see groups
	groupScopes []*scope   // chunk for groupSet.scopes
	groupSegs   hl7v2.Segments
	stack       []string
	// recCalls holds the values of calls over the record's variables
	// alone (callExpr.rec), by slot, once recOK (the variables are set).
	recCalls []recCall
	recOK    bool
	scratch  []byte
	nodes    []node
	scopes   []scope
	arena    []byte // string arena of the current Apply (see text)
	// arenaUsed counts the arena bytes of this Apply; arenaSize is the
	// next arena's size, learnt from the last Apply.
	arenaUsed, arenaSize int
	slab                 fhirout.Slab
	frames               []memoEntry  // chunk for scope.frame
	gen                  uint32       // generation of the frames' slots (memoEntry.gen)
	spare                [2]memoEntry // see pathExpr.entry
	nScopes              int32
	frameUse, segUse     int       // frame and segment slots handed out this Apply
	segFrames            []segSlot // chunk for scope.segFrame
	// reuse: the caller is done with an Output when it asks for the next
	// (Applier.ReuseOutput), so the slab, the string arena and the
	// resource list are recycled instead of allocated again.
	reuse     bool
	keepArena bool // the last Output's issues and traces may point into the arena
	// batch: the slab is a Memory's for a batch of records (Batch), so it
	// is not reset between them.
	batch  *Memory
	resBuf []*fhirout.Object
	// Learnt room (room.go).
	rooms    []roomUse
	roomsOf  *mappingImpl
	records  int
	learning bool
	madeLog  []madeAt

	lastTable lastLookup // see tableRef.last
}

// envPool reuses envs (and their memo frames) across Apply calls.
var envPool = sync.Pool{New: func() any { return new(env) }}

// text decodes and trims v into the env's string arena: one allocation
// per record instead of one per value. Arena bytes are never written again
// once handed out (values are appended after them; a full arena is
// replaced, not reused), so the strings stay valid wherever they end up.
func (e *env) text(v hl7v2.Value) string {
	raw := v.Raw()
	if len(raw) > 1024 {
		return strings.TrimSpace(v.String())
	}
	if plain(raw, e.esc) {
		return e.keep(raw) // decoding and trimming would change nothing
	}
	e.reserve(len(raw) + 16)
	start := len(e.arena)
	// Should decoding outgrow the room, append moves the arena to a new
	// array; the strings handed out keep pointing into the old one.
	e.arena = v.AppendDecoded(e.arena)
	e.arenaUsed += len(e.arena) - start
	b := bytes.TrimSpace(e.arena[start:])
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// plain reports whether raw reads as itself: printable ASCII (valid
// UTF-8, nothing Latin-1 to convert) without the escape character, not
// the null "", with no space to trim at either end. Most values are.
func plain(raw []byte, esc byte) bool {
	n := len(raw)
	if n == 0 {
		return true
	}
	if raw[0] == ' ' || raw[n-1] == ' ' || n == 2 && raw[0] == '"' && raw[1] == '"' {
		return false
	}
	if esc == 0 {
		esc = '\\' // unknown: the usual one (refusing a byte is always safe)
	}
	for _, c := range raw {
		if c < 0x20 || c > 0x7e || c == esc {
			return false
		}
	}
	return true
}

// reserve makes room for n more bytes in the arena. A new arena has the
// size the last record needed, so a record costs about one allocation.
func (e *env) reserve(n int) {
	if cap(e.arena)-len(e.arena) < n {
		e.arena = make([]byte, 0, max(e.arenaSize, n, 256))
	}
}

// keep copies b into the arena and returns it as a string.
func (e *env) keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	e.reserve(len(b))
	start := len(e.arena)
	e.arena = append(e.arena, b...)
	e.arenaUsed += len(b)
	return unsafe.String(&e.arena[start], len(b))
}

// textOf is text(v) with empty and null values giving "".
//
// Most values are plain (see plain) and hold no delimiter: such a value is
// neither empty nor null, and reads as itself. That is tested first, in one
// branch-free pass over a table of the message's delimiters (textPlain),
// instead of IsEmpty's, IsNull's and plain's three.
func (e *env) textOf(v hl7v2.Value) string {
	raw := v.Raw()
	if len(raw) == 0 {
		return "" // a third of the values read: fields not sent
	}
	if n := len(raw); e.textPlain.ok && n <= 1024 && raw[0] != ' ' && raw[n-1] != ' ' && raw[0] != '"' {
		// Four bytes a step (a loop's own work is most of a byte's), the
		// last four overlapping the ones before.
		tab := &e.textPlain.tab
		var bad byte
		i := 0
		for ; i+4 <= n; i += 4 {
			b := raw[i : i+4 : i+4]
			bad |= tab[b[0]] | tab[b[1]] | tab[b[2]] | tab[b[3]]
		}
		if i < n {
			if n >= 4 {
				b := raw[n-4 : n : n]
				bad |= tab[b[0]] | tab[b[1]] | tab[b[2]] | tab[b[3]]
			} else {
				for _, c := range raw {
					bad |= tab[c]
				}
			}
		}
		if bad == 0 {
			return e.keep(raw)
		}
		if bad == plainDelim {
			// Plain but for delimiters (a component's subcomponents):
			// text would keep it as it is, unless it is empty ("^^").
			if v.IsEmpty() {
				return ""
			}
			return e.keep(raw)
		}
	}
	if v.IsEmpty() || v.IsNull() {
		return ""
	}
	return e.text(v)
}

// plainTable flags the bytes that keep a value off textOf's fast path:
// those plain refuses (controls, non-ASCII, the escape character) with
// plainRefused, and the delimiters (a value holding one may be empty, as
// "^^" is) with plainDelim.
type plainTable struct {
	d   hl7v2.Delimiters // the table's delimiters
	ok  bool             // tab is built for d
	tab [256]byte
}

// set builds the table for d, unless it already is.
func (t *plainTable) set(d hl7v2.Delimiters) {
	if t.ok && t.d == d {
		return
	}
	t.d, t.ok = d, true
	for c := range t.tab {
		t.tab[c] = 0
		if c < 0x20 || c > 0x7e {
			t.tab[c] = plainRefused
		}
	}
	for _, c := range []byte{d.Field, d.Component, d.Repetition, d.Subcomponent, d.Truncation} {
		t.tab[c] |= plainDelim
	}
	esc := d.Escape
	if esc == 0 {
		esc = '\\' // as plain: refusing a byte is always safe
	}
	t.tab[esc] |= plainRefused
}

// The flags of plainTable.
const (
	plainRefused = 1 << iota
	plainDelim
)

func (m *Mapping) apply(in Input, trace bool) Output {
	if m.impl == nil {
		return Output{}
	}
	e := envPool.Get().(*env)
	out := e.apply(m.impl, in, trace)
	envPool.Put(e)
	return out
}

// Applier applies a mapping with buffers of its own (scopes, memo tables,
// argument stack, slab sizes), reused from record to record: a worker that
// maps many records owns one instead of taking an env from a pool per
// record. It gives what Mapping.Apply gives. Not safe for concurrent use.
type Applier struct {
	m *Mapping
	e env
}

// NewApplier returns an Applier of m.
func (m *Mapping) NewApplier() *Applier { return &Applier{m: m} }

// ReuseOutput makes every Apply recycle the memory of the Output before
// it: the resources an Apply returns (their Objects, slices and strings)
// are valid only until the next Apply. Issues and traces stay valid. For
// a worker that encodes or copies a record's resources before it maps
// the next record: it then allocates next to nothing.
func (a *Applier) ReuseOutput() { a.e.reuse = true }

// Apply converts one record, as Mapping.Apply.
func (a *Applier) Apply(in Input, trace bool) Output {
	if a.m.impl == nil {
		return Output{}
	}
	out := a.e.apply(a.m.impl, in, trace)
	a.m.exclude.apply(&out) // the exclude: list (exclude.go), as Mapping.Apply
	return out
}

func (e *env) apply(impl *mappingImpl, in Input, trace bool) (out Output) {
	// The input and output live in the env while it works (pointers to
	// apply's own would move both to the heap on every call).
	e.inv = in
	e.reset(impl, &e.inv, &e.outv, trace)
	defer func() {
		out = e.outv
		// Apply never panics on bad input: a bug in a rule is reported as
		// one exception issue for the record.
		if r := recover(); r != nil {
			out.Resources = nil
			out.Issues = append(out.Issues, fhirout.Issue{Severity: "error", Code: "exception",
				Diagnostics: fmt.Sprintf("mapping failed on this record: %v", r), Input: e.input("")})
		}
		if e.reuse {
			e.resBuf = out.Resources
			e.keepArena = len(out.Issues) > 0 || len(out.Trace) > 0
		}
		e.inv, e.outv = Input{}, Output{}
		e.msg, e.row, e.in, e.out, e.rule, e.scope, e.person = nil, nil, nil, nil, nil, nil, nil
	}()
	e.record(&e.inv)
	return out // set by the deferred function
}

// record maps the record in (the env's copy of Apply's input) into e.out.
func (e *env) record(in *Input) {
	impl := e.m
	root := e.newScope(scope{ownsSegs: true})
	switch impl.source {
	case "v2":
		if in.Msg == nil {
			return
		}
		if len(impl.messages) > 0 {
			// Message.Type, decoded into the scratch buffer instead of
			// two new strings.
			typ := in.Msg.Segments()[0].Field(9).Rep(1)
			b := typ.Component(1).AppendDecoded(e.scratch[:0])
			n := len(b)
			b = typ.Component(2).AppendDecoded(b)
			e.scratch = b
			code, trig := bytes.TrimSpace(b[:n]), bytes.TrimSpace(b[n:])
			ok := false
			for _, t := range impl.messages {
				if bytes.EqualFold([]byte(t[0]), code) && bytes.EqualFold([]byte(t[1]), trig) {
					ok = true
					break
				}
			}
			if !ok {
				return
			}
		}
		root.segs = in.Msg.Segments()
	case "sql":
		if in.Row == nil && in.Person != nil {
			e.person, e.row = in.Person, in.Person.Root()
		}
		if e.row == nil {
			return
		}
	}
	if cap(e.vars) < impl.nVars {
		e.vars = make([]string, impl.nVars)
	}
	e.vars = e.vars[:impl.nVars]
	clear(e.vars)
	e.vars[0] = in.PatientID
	if !in.LastUpdated.IsZero() {
		// An export gives many records the same time: format it once.
		if !in.LastUpdated.Equal(e.lastTime) || e.lastInstant == "" {
			e.lastTime, e.lastInstant = in.LastUpdated, fhirout.FormatInstant(in.LastUpdated)
		}
		e.vars[1] = e.lastInstant
	}
	e.vars[2] = in.Loc.Source
	e.vars[3] = in.Loc.ControlID
	if impl.when != nil && !e.test(impl.when, root) {
		return
	}
	for _, l := range impl.lets {
		e.vars[l.slot] = e.evalQuiet(l.x, root)
	}
	// The record's variables are set: calls over them alone are
	// remembered for the record from here on.
	if len(e.recCalls) < impl.nRecCalls {
		e.recCalls = make([]recCall, impl.nRecCalls)
	}
	e.recOK = true
	for _, r := range impl.resources {
		e.resource(r, root)
	}
}

func (e *env) reset(m *mappingImpl, in *Input, out *Output, trace bool) {
	// Field by field: the memo frames stay (their slots die by generation).
	e.m, e.msg, e.row, e.in, e.out, e.trace = m, in.Msg, in.Row, in, out, trace
	e.esc = 0
	if in.Msg != nil {
		d := in.Msg.Delimiters()
		e.esc = d.Escape
		e.textPlain.set(d)
	} else {
		e.textPlain.ok = false
	}
	e.zone, e.orders, e.ordersOK = nil, nil, false
	e.rule, e.scope, e.rejected, e.sets, e.started, e.quiet = nil, nil, false, 0, 0, false
	e.recOK = false
	clear(e.nodes)  // drop references to the last message and its output
	clear(e.scopes) // and zero them for the next (zeroScope)
	clear(e.refs)
	e.refs = e.refs[:0]
	clear(e.groupSegs)
	e.groupSegs = e.groupSegs[:0]
	clear(e.reps)
	e.reps = e.reps[:0]
	clear(e.repItems)
	e.repItems = e.repItems[:0]
	clear(e.groupSets)
	e.groupSets = e.groupSets[:0]
	clear(e.groupScopes)
	e.groupScopes = e.groupScopes[:0]
	clear(e.rowLoops)
	e.rowLoops = e.rowLoops[:0]
	clear(e.pending)
	e.pending = e.pending[:0]
	e.stack, e.scratch, e.nodes = e.stack[:0], e.scratch[:0], e.nodes[:0]
	// A chunk grown for an outsized message (hundreds of OBX) is let go
	// rather than kept in every pooled env; one that fits typical records
	// is kept even after a small one, since records of an export vary in
	// size and growing the chunk again costs a cleared allocation.
	if cap(e.frames) > keptFrameSlots {
		e.frames = nil
	}
	if cap(e.segFrames) > keptSegSlots {
		e.segFrames = nil
	}
	e.frames, e.segFrames = e.frames[:0], e.segFrames[:0]
	e.frameUse, e.segUse = 0, 0
	// A new generation for the memo slots; when the counter wraps,
	// slots of the Apply 2³² ago would look current: clear them all.
	if e.gen++; e.gen == 0 {
		clear(e.frames[:cap(e.frames)])
		clear(e.segFrames[:cap(e.segFrames)])
		clear(e.recCalls)
		e.lastTable = lastLookup{}
		e.gen = 1
	}
	if e.arenaUsed > 0 {
		e.arenaSize = min(e.arenaUsed+e.arenaUsed/8+64, 4096)
	}
	e.arenaUsed = 0
	if e.reuse {
		// The caller is done with the last output's resources; its issues
		// and traces may still hold arena strings.
		e.slab.Recycle()
		if !e.keepArena && cap(e.arena) >= e.arenaSize {
			e.arena = e.arena[:0]
		} else {
			e.arena = nil
		}
		clear(e.resBuf)
		out.Resources = e.resBuf[:0]
	} else {
		e.arena = nil // its strings belong to the last output
		if e.batch == nil {
			e.slab.Reset()
		}
	}
	e.scopes = e.scopes[:0]
	e.nScopes = 0
	e.startRooms(m)
}

func (e *env) resource(r *resourceDef, root *scope) {
	want := e.in.Want
	if r.foreach == nil {
		e.instance(r, root, want == nil || want(r.typ, -1))
		return
	}
	fe := r.foreach
	if want != nil && fe.kind == eachOrder && fe.where == nil && r.skipUnbuilt && r.whenPure && e.msg != nil {
		e.wantedOrders(r, root)
		return
	}
	e.each(fe, root, eachBody{kind: bodyInstance, res: r})
}

// What each runs per item. A closure would do, but one capturing its
// variables is a heap allocation per loop; this is a plain value.
type bodyKind uint8

const (
	bodyInstance bodyKind = iota // e.instance(res, item)
	bodyRule                     // r.body(e, item, n)
	bodyHas                      // found when where holds for the item
)

type eachBody struct {
	kind  bodyKind
	res   *resourceDef
	r     *rule
	n     *node
	where *cond
}

// run runs b for the item is; false stops the loop (has: found).
func (e *env) run(b *eachBody, is *scope) bool {
	switch b.kind {
	case bodyInstance:
		order := -1
		if is.lname == "ORDER" || is.row != nil {
			order = is.lidx - 1 // an ORDER group's, or a child row's (sqlpaths.go)
		}
		want := e.in.Want
		e.instance(b.res, is, want == nil || want(b.res.typ, order))
	case bodyRule:
		b.r.body(e, is, b.n)
	case bodyHas:
		return b.where != nil && !e.test(b.where, is)
	}
	return true
}

// instance builds one resource. When build is false (Input.Want refused
// it) only its id is worked out, because later resources may refer to it,
// or, when nothing can see its id and lets, only what unbuilt says.
func (e *env) instance(r *resourceDef, s *scope, build bool) {
	e.rule, e.scope, e.rejected = nil, s, false
	if !build && r.skipUnbuilt {
		e.unbuilt(r, s)
		return
	}
	if r.when != nil && !e.test(r.when, s) {
		return
	}
	for _, l := range r.lets {
		e.vars[l.slot] = e.evalQuiet(l.x, s)
	}
	traceBefore := len(e.out.Trace)
	e.started++
	var id string
	if r.id != nil {
		id = e.evalQuiet(r.id, s)
	}
	if id == "" {
		// No id rule (or it gave nothing): still stable, from the record's
		// own id, the sender and the resource's place in the output.
		ctl := e.in.Loc.ControlID
		var sender string
		if e.msg != nil {
			if ctl == "" {
				ctl = e.msg.ControlID()
			}
			if msh, ok := e.msg.Segments().Find("MSH", 1); ok {
				sender = msh.Field(4).Rep(1).String()
			}
		}
		e.settle()
		id, _ = fnHash(nil, nil, nil, []string{r.typ, sender, ctl, strconv.Itoa(e.started)})
	}
	if r.asSlot >= 0 {
		e.vars[r.asSlot] = id
	}
	if !build {
		return
	}
	// slab.Resource, with the type boxed by the slab too (Resource puts
	// it into an interface: an allocation per resource).
	obj := e.slab.Object(max(e.keys(r.site, r.room), 1))
	e.note(r.site, obj, "")
	obj.Set("resourceType", e.slab.String(r.typ))
	obj.Set("id", e.slab.String(id)) // boxed by the slab: no allocation
	root := e.newNode(nil, nil)
	root.obj, root.path = obj, r.typ
	e.rules(r.rules, s, root)
	if e.learning {
		e.learnRooms()
	}
	if e.trace {
		ref := r.typ + "/" + obj.ID()
		if e.rejected {
			ref += " (rejected)"
		}
		for i := traceBefore; i < len(e.out.Trace); i++ {
			e.out.Trace[i].Resource = ref
		}
	}
	if e.rejected {
		return
	}
	if e.m.padded {
		obj.Prune() // explicit indexes may have padded arrays with {}
	}
	if e.out.Resources == nil {
		// Sized from the last record: one allocation, not one per doubling.
		e.out.Resources = make([]*fhirout.Object, 0, max(e.nResources, 4))
	}
	e.out.Resources = append(e.out.Resources, obj)
	e.nResources = max(e.nResources, len(e.out.Resources))
}

// each runs b for every item of a foreach in scope s, until b says stop;
// it reports whether it ran to the end.
func (e *env) each(fe *foreachDef, s *scope, b eachBody) bool {
	switch fe.kind {
	case eachOrder:
		e.loadOrders()
		for i := range e.orders {
			is := e.orderScope(s, i)
			if (fe.where == nil || e.test(fe.where, is)) && !e.run(&b, is) {
				return false
			}
		}
	case eachSeg:
		segs := segsFor(s, fe.up)
		if fe.groupBy != nil {
			return e.groups(fe, s, segs, b)
		}
		share := e.shareKids(fe, s, segs)
		n := 0
		for i := range segs {
			if !segs[i].Is(fe.seg) {
				continue
			}
			n++
			is := e.segItem(s, segs, i, n, share)
			if (fe.where == nil || e.test(fe.where, is)) && !e.run(&b, is) {
				return false
			}
		}
	case eachRep:
		for _, is := range e.repScopes(fe, s) {
			if (fe.where == nil || e.test(fe.where, is)) && !e.run(&b, is) {
				return false
			}
		}
	case eachRows:
		for _, is := range e.rowScopes(fe, s) { // sqlpaths.go
			if (fe.where == nil || e.test(fe.where, is)) && !e.run(&b, is) {
				return false
			}
		}
	}
	return true
}

// shareKids reports whether the items of fe, a loop over segs in s, are
// s's shared segment scopes (s.kids), and makes them. Loops over the
// segments of the current scope share one scope per segment, so the path
// memo serves every loop (OBX-3.1 is read once).
func (e *env) shareKids(fe *foreachDef, s *scope, segs hl7v2.Segments) bool {
	share := fe.up == 0 && s.ownsSegs
	if share && s.kids == nil {
		s.kids = e.scopeRefs(len(segs))
	}
	return share
}

// segItem is the scope of segs[i], the n-th of its name, under s.
func (e *env) segItem(s *scope, segs hl7v2.Segments, i, n int, share bool) *scope {
	var is *scope
	if share {
		is = s.kids[i]
	}
	if is == nil {
		is = e.segScope(s, segs[i:i+1:i+1], segs[i].Name(), n)
		if share {
			s.kids[i] = is
		}
	}
	return is
}

// repLoop is the item scopes of a foreach over repetitions in a scope.
type repLoop struct {
	parent *scope
	path   *pathExpr
	items  []*scope
}

// repScopes gives the scopes of the non-empty repetitions fe loops over
// in s. Loops over the same field in the same scope (the default
// mapping has three over PID-10, three over PID-22, two over each of
// PID-3, PID-13, PID-14) share them, as segment loops share theirs, so
// the path and call memos serve them all (.1 and table("race", .1) are
// worked out once per repetition).
func (e *env) repScopes(fe *foreachDef, s *scope) []*scope {
	for i := len(e.reps) - 1; i >= 0; i-- {
		if r := &e.reps[i]; r.parent == s && r.path == fe.path {
			return r.items
		}
	}
	start := len(e.repItems)
	p := fe.path.p
	segs := segsFor(s, fe.path.up)
	if seg, ok := segs.Find(p.Segment, max(p.SegOcc, 0)); ok {
		f := seg.Field(p.Field)
		for r, n := 1, f.NumReps(); r <= n; r++ { // NumReps counts separators: once
			v := f.Rep(r)
			if v.IsEmpty() || v.IsNull() {
				continue
			}
			e.repItems = append(e.repItems, e.itemScope(s, v, fe.label, r))
		}
	}
	// Later appends go past this slice; a grown buffer leaves it intact.
	items := e.repItems[start:len(e.repItems):len(e.repItems)]
	e.reps = append(e.reps, repLoop{s, fe.path, items})
	return items
}

// groups runs fn once per group of segments sharing the group_by value, in
// order of first appearance; items with an empty key form one group.
//
// The items and the groups' segments go to env buffers (grouped and
// groupSegs) instead of slices of their own: a group's segments are a
// slice of groupSegs that later appends never overwrite.
func (e *env) groups(fe *foreachDef, s *scope, segs hl7v2.Segments, b eachBody) bool {
	if fe.groupShared {
		// Newest first, back to the sets made before s was: a loop like
		// this one in the same scope most often ran just before.
		for i := len(e.groupSets) - 1; i >= 0 && e.groupSets[i].made >= s.id; i-- {
			if g := &e.groupSets[i]; g.parent == s && g.id == fe.groupID {
				return e.runGroups(g.scopes, b) // an identical loop made them
			}
		}
	}
	base := len(e.grouped)
	defer func() { e.grouped = e.grouped[:base] }()
	// The keys are worked out in the segments' scopes, shared with the
	// loops over them (a where on OBX-3.1 reads the memo of the loops').
	share := e.shareKids(fe, s, segs)
	n := 0
	for i := range segs {
		if !segs[i].Is(fe.seg) {
			continue
		}
		n++
		is := e.segItem(s, segs, i, n, share)
		if fe.where != nil && !e.test(fe.where, is) {
			continue
		}
		e.grouped = append(e.grouped, groupItem{e.evalQuiet(fe.groupBy, is), segs[i]})
	}
	items := e.grouped[base:len(e.grouped):len(e.grouped)] // nested groups append past it
	start := len(e.groupScopes)
	for x := range items {
		k := items[x].key
		first := true
		for y := 0; y < x && first; y++ {
			first = items[y].key != k
		}
		if !first {
			continue // its group is made
		}
		from := len(e.groupSegs)
		for y := x; y < len(items); y++ {
			if items[y].key == k {
				e.groupSegs = append(e.groupSegs, items[y].seg)
			}
		}
		members := e.groupSegs[from:len(e.groupSegs):len(e.groupSegs)]
		e.groupScopes = append(e.groupScopes, e.groupScope(s, members, fe.seg, k))
	}
	scopes := e.groupScopes[start:len(e.groupScopes):len(e.groupScopes)]
	if fe.groupShared {
		e.groupSets = append(e.groupSets, groupSet{s, fe.groupID, scopes, e.nScopes})
	}
	return e.runGroups(scopes, b)
}

// runGroups runs b for each group scope, until b says stop.
func (e *env) runGroups(scopes []*scope, b eachBody) bool {
	for _, gs := range scopes {
		if !e.run(&b, gs) {
			return false
		}
	}
	return true
}

// groupSet is the group scopes of a group_by loop in a scope: loops with
// the same foreach, where and group_by (compiler.groupClass) share them,
// as segment loops share their items, so the memo of the groups' paths
// serves them all.
type groupSet struct {
	parent *scope
	id     int
	scopes []*scope
	made   int32 // the newest scope's id when made (see newScope)
}

// groupItem is one segment of a group_by foreach with its key.
type groupItem struct {
	key string
	seg hl7v2.Segment
}

// rules runs rs; a rule's run checks itself that the record is not
// rejected (linkRules), so the loop does not check it again.
func (e *env) rules(rs []*rule, s *scope, n *node) {
	for _, r := range rs {
		r.run(e, s, n)
	}
}

// ruleValue computes a value rule's typed value (nil when empty).
func (e *env) ruleValue(r *rule, s *scope) (any, string) {
	var raw string
	src := r.source
	switch {
	case r.constant != nil:
		return r.constant, ""
	case r.value != nil:
		raw = e.eval(r.value, s)
	case r.cases != nil:
		for _, c := range r.cases {
			if c.when != nil && !e.test(c.when, s) {
				continue
			}
			if c.constant != nil {
				return c.constant, ""
			}
			raw = e.eval(c.value, s)
			if e.rejected {
				return nil, ""
			}
			if raw != "" {
				src = c.source
				break
			}
		}
	}
	if e.rejected {
		return nil, ""
	}
	if raw == "" {
		if r.def != nil {
			return r.def, ""
		}
		return nil, ""
	}
	v, err := e.convertTo(r.kind, raw)
	if err != nil {
		e.badValue(r, src, err)
		return nil, ""
	}
	return v, src
}

// badValue reports a source value that does not convert to r's type.
func (e *env) badValue(r *rule, src string, err error) {
	e.issue("error", "value", fmt.Sprintf("%s is %s: value from %s %v; element left out", r.element, r.kind, orConst(src), err))
}

func orConst(s string) string {
	if s == "" {
		return "the rule"
	}
	return s
}

// eval evaluates x; a function error becomes an issue (and "" value), a
// reject error rejects the resource.
func (e *env) eval(x expr, s *scope) string {
	v, err := x.eval(e, s)
	if err != nil {
		return e.evalFailed(x, err)
	}
	return v
}

// evalFailed is what eval does when evaluating x failed with err.
func (e *env) evalFailed(x expr, err error) string {
	var rj *rejectError
	if errors.As(err, &rj) {
		e.reject(rj.code, rj.msg)
		return ""
	}
	el := "this element"
	if e.rule != nil {
		el = e.rule.element
	}
	e.issue("error", "value", fmt.Sprintf("%s: %s: %v; element left out", el, x.String(), err))
	return ""
}

// evalQuiet is for ids, lets and group keys, which write no element: a
// function error gives "" silently, since the rules that write the same
// source values report it where it matters.
func (e *env) evalQuiet(x expr, s *scope) string {
	q := e.quiet
	e.quiet = true
	v, err := x.eval(e, s)
	e.quiet = q
	if err != nil {
		return ""
	}
	return v
}

func (e *env) test(c *cond, s *scope) bool {
	return c == nil || c.fn(e, s)
}

// node is an element a block rule writes into, made on first write.
type node struct {
	parent *node
	st     *step           // the target step that makes it (nil for a resource)
	obj    *fhirout.Object // nil until made
	path   string          // concrete element path, for traces
}

// newScope places a scope in the env's slab: scopes live for one Apply
// (the memo ignores earlier generations), so they need no allocation each.
//
// A full chunk is replaced by one twice its size (the scopes handed out
// keep pointing into the old one), and the last chunk is kept for the
// next Apply: after a few records, a record needs no new chunk at all.
func (e *env) newScope(v scope) *scope {
	s := e.zeroScope()
	v.id = s.id
	*s = v
	return s
}

// zeroScope is newScope of an empty scope, filled in place by segScope
// and itemScope: a scope literal is built on the stack and copied, and
// the copy reads what was just written as words a vector at a time (a
// store-forwarding stall per vector).
func (e *env) zeroScope() *scope {
	if len(e.scopes) == cap(e.scopes) {
		e.scopes = make([]scope, 0, max(32, 2*cap(e.scopes)))
	}
	// The scope is zero already: a new chunk is, and reset clears the
	// scopes the last Apply used; scopes are never handed out twice in
	// one Apply.
	e.scopes = e.scopes[:len(e.scopes)+1]
	s := &e.scopes[len(e.scopes)-1]
	e.nScopes++
	s.id = e.nScopes
	return s
}

// segScope is a scope owning segs: a segment (foreach), an ORDER or a group.
func (e *env) segScope(parent *scope, segs hl7v2.Segments, lname string, lidx int) *scope {
	s := e.zeroScope()
	s.parent, s.ownsSegs, s.segs, s.lname, s.lidx = parent, true, segs, lname, lidx
	return s
}

// groupScope is the scope of a group_by group of segments.
func (e *env) groupScope(parent *scope, segs hl7v2.Segments, lname, key string) *scope {
	s := e.segScope(parent, segs, lname, -1)
	s.lkey = key
	return s
}

// itemScope is the scope of one repetition (foreach over a field).
func (e *env) itemScope(parent *scope, item hl7v2.Value, lname string, lidx int) *scope {
	s := e.zeroScope()
	s.parent, s.hasItem, s.item, s.lname, s.lidx = parent, true, item, lname, lidx
	return s
}

// scopeRefs gives a zeroed slice of n scope pointers for one Apply.
func (e *env) scopeRefs(n int) []*scope {
	if cap(e.refs)-len(e.refs) < n {
		e.refs = make([]*scope, 0, max(n, 64))
	}
	k := len(e.refs)
	e.refs = e.refs[:k+n]
	return e.refs[k : k+n : k+n]
}

func (e *env) newNode(parent *node, st *step) *node {
	if len(e.nodes) == cap(e.nodes) { // see newScope
		e.nodes = make([]node, 0, max(64, 2*cap(e.nodes)))
	}
	// Field by field: a node is five words, which a struct literal
	// copies through the stack.
	e.nodes = e.nodes[:len(e.nodes)+1]
	n := &e.nodes[len(e.nodes)-1]
	n.parent, n.st, n.obj, n.path = parent, st, nil, ""
	return n
}

func (e *env) made(n *node) *fhirout.Object {
	if n.obj == nil {
		n.obj, n.path = e.step(e.made(n.parent), n.st, n.parent.path)
	}
	return n.obj
}

// The steps are the mapping's own (pointers, not copies: a step is five
// words and every element written walks its target's).
func (e *env) step(obj *fhirout.Object, st *step, elem string) (*fhirout.Object, string) {
	switch st.idx {
	case -1:
		if e.trace {
			elem += "." + st.key
		}
		child := e.slab.Child(obj, st.key, e.keys(st.site, st.room))
		e.note(st.site, child, "")
		return child, elem
	case -2:
		child := e.slab.Object(e.keys(st.site, st.room))
		e.slab.Append(obj, st.key, child, e.vals(st.site, st.arr))
		e.note(st.site, child, "")
		e.note(st.site, obj, st.key)
		if e.trace {
			elem += "." + st.key + "[" + strconv.Itoa(arrayLen(obj, st.key)-1) + "]"
		}
		return child, elem
	}
	if e.trace {
		elem += "." + st.key + "[" + strconv.Itoa(st.idx) + "]"
	}
	if st.idx == 0 {
		if _, ok := obj.Get(st.key); !ok {
			// What Elem would make, [{}], from the slab.
			child := e.slab.Object(e.keys(st.site, st.room))
			e.slab.Append(obj, st.key, child, max(e.vals(st.site, st.arr), 1))
			e.note(st.site, child, "")
			e.note(st.site, obj, st.key)
			return child, elem
		}
	}
	return obj.Elem(st.key, st.idx), elem
}

func arrayLen(obj *fhirout.Object, key string) int {
	v, _ := obj.Get(key)
	a, _ := v.([]any)
	return len(a)
}

func (e *env) set(n *node, t *target, v any, src string) {
	if t.key != "" && !e.trace {
		// Most targets are one key of the element (system, code,
		// display): set without the walk and the trace's bookkeeping,
		// most often into an element already made.
		obj := n.obj
		if obj == nil {
			obj = e.made(n)
		}
		obj.Set(t.key, v)
		e.sets++
		return
	}
	obj := e.made(n)
	elem := n.path
	last := len(t.steps) - 1
	for i := range last {
		obj, elem = e.step(obj, &t.steps[i], elem)
	}
	st := &t.steps[last]
	switch st.idx {
	case -1:
		obj.Set(st.key, v)
		if e.trace {
			elem += "." + st.key
		}
	case -2:
		e.slab.Append(obj, st.key, v, e.vals(st.site, st.arr))
		e.note(st.site, obj, st.key)
		if e.trace {
			elem += "." + st.key + "[" + strconv.Itoa(arrayLen(obj, st.key)-1) + "]"
		}
	default:
		cur, _ := obj.Get(st.key)
		a, _ := cur.([]any)
		for len(a) <= st.idx {
			a = append(a, "")
		}
		a[st.idx] = v
		obj.Set(st.key, a)
		if e.trace {
			elem += "." + st.key + "[" + strconv.Itoa(st.idx) + "]"
		}
	}
	e.sets++
	if e.trace {
		e.out.Trace = append(e.out.Trace, Trace{Element: elem, Rule: e.rule.pos, Source: e.sourceLabel(src), Value: fmt.Sprint(v)})
	}
}

// sourceLabel qualifies a rule's source with the foreach item it read.
func (e *env) sourceLabel(src string) string {
	s := e.scope
	if e.person != nil {
		return e.sqlSourceLabel(src) // sqlpaths.go
	}
	if src == "" || s == nil {
		return src
	}
	if strings.HasPrefix(src, ".") {
		for t := s; t != nil; t = t.parent {
			if t.hasItem {
				return t.label() + src
			}
		}
		return src
	}
	if strings.HasPrefix(src, "$") {
		return src
	}
	for t := s; t != nil; t = t.parent {
		if t.lname != "" && !t.hasItem {
			return t.label() + " " + src
		}
	}
	return src
}

// ---- issues ----

func (e *env) input(field string) *fhirout.Input {
	l := e.in.Loc
	return &fhirout.Input{Source: l.Source, Offset: l.Offset, Line: l.Line, Index: l.Index, ControlID: l.ControlID, Field: field}
}

func (e *env) issue(severity, code, msg string) {
	is := fhirout.Issue{Severity: severity, Code: code, Diagnostics: msg}
	if e.rule != nil {
		is.Rule = e.rule.pos
		is.Expression = []string{e.rule.element}
		if e.person != nil {
			is.Input = e.rowInput(e.rule.source) // sqlpaths.go: source, key, table.column
		} else {
			is.Input = e.input(e.sourceLabel(e.rule.source))
		}
	} else {
		is.Input = e.input("")
	}
	e.out.Issues = append(e.out.Issues, is)
}

func (e *env) warnf(code, format string, a ...any) {
	e.issue("warning", code, fmt.Sprintf(format, a...))
}

// reject drops the resource being built; the rest of the record converts.
func (e *env) reject(code, msg string) {
	if e.rejected {
		return
	}
	e.issue("error", code, msg+"; resource rejected")
	e.rejected = true
}

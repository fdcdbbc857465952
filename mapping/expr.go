package mapping

import (
	"fmt"
	"strings"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// An expression is the value side of a rule: a source path, a literal, a
// variable or a function call, parsed once at Load.
//
//	PID-5.1            v2 path (absolute: resolved against the current group)
//	.4.1               path relative to the current foreach repetition
//	birth_date         column name (source: sql)
//	"text" 'text' 45   literals
//	$sender            variable (let:, constants:, a resource's as:, $input.*)
//	concat("Patient/", $patient)
type expr interface {
	eval(e *env, s *scope) (string, error)
	String() string
}

type litExpr struct{ s string }

func (l *litExpr) eval(*env, *scope) (string, error) { return l.s, nil }
func (l *litExpr) String() string                    { return fmt.Sprintf("%q", l.s) }

type varExpr struct {
	name string
	slot int
	src  string // the source path its let reads, for issues and traces
}

func (v *varExpr) eval(e *env, _ *scope) (string, error) { return e.vars[v.slot], nil }
func (v *varExpr) String() string                        { return "$" + v.name }

// pathExpr reads a v2 value. up is how many segment-owning scopes to climb
// from the current one (decided at Load from the segment name); rel paths
// read the nearest foreach repetition instead.
//
// The fields every read looks at come first, in one cache line.
type pathExpr struct {
	// cls is the class of the scopes the path reads and slot its place in
	// their frames (see pathClass); nil for a hand-made path (tests),
	// which is not remembered.
	cls  *pathClass
	slot int32
	// direct: a scope holding the path's value this Apply is the one the
	// path reads when evaluated in it (relative, or up 0: the value was
	// put there as that scope's own).
	direct bool
	rel    bool
	// once: read at one place of the mapping, in the scope it reads, so
	// at most once per scope: remembering its value would serve nothing.
	once bool
	up   int
	// field, for a path into a component, is the path of its repetition:
	// the value is found from the field's remembered one (see fieldPath),
	// or read afresh when this path is the field's only reader.
	field *pathExpr
	p     hl7v2.Path
	// seg, for a path to a repetition, numbers its segment occurrence
	// in its class from 1: the segment is found once per scope
	// (env.segment), not per field.
	seg    int
	comp   int // rel only
	sub    int // rel only
	text   string
	clsKey string
	// readers, of a field's path (fieldPath), counts the component paths
	// reading it: with one, remembering the field saves nothing.
	readers int
	// sites counts the places of the mapping reading the path; away, that
	// some place reads it from a scope below the one it reads (as each
	// item of a loop does). See once.
	sites int
	away  bool
}

func (p *pathExpr) String() string { return p.text }

func (p *pathExpr) value(e *env, s *scope) hl7v2.Value {
	if slot := p.entry(e, s); slot != nil {
		return slot.v
	}
	return hl7v2.Value{}
}

// entry is the memo entry of the path in scope s (nil when the scope it
// reads does not exist). Rules read the same fields again and again
// (RXA-20.1 in four conditions, RXA-9.1 in six, OBX-3.1 in every OBX
// loop): each path's value, and its text once asked for, is remembered
// in its slot of the frame of the scope it reads, for the Apply.
func (p *pathExpr) entry(e *env, s *scope) *memoEntry {
	if o := p.owner(s); o != nil {
		return p.in(e, o)
	}
	return nil
}

// owner is the scope the path reads from s: the nearest repetition, or
// the segment-owning scope up levels up.
func (p *pathExpr) owner(s *scope) *scope {
	if p.rel {
		for s != nil && !s.hasItem {
			s = s.parent
		}
		return s
	}
	return ownerScope(s, p.up)
}

// in is entry for the scope o the path reads.
func (p *pathExpr) in(e *env, o *scope) *memoEntry {
	if o.frame == nil && p.cls != nil && o.id != 0 {
		o.frame, o.fcls = e.newFrame(p.cls.n), p.cls
	}
	var slot *memoEntry
	if p.cls != nil && o.fcls == p.cls {
		slot = &o.frame[p.slot]
		if slot.gen == e.gen {
			return slot
		}
	} else {
		// Hand-made (tests): not remembered. A component's field uses
		// the other spare, so both live until the component is made.
		slot = &e.spare[0]
		if p.field != nil {
			slot = &e.spare[1]
		}
	}
	v := p.read(e, o)
	// Field by field: cheaper than a struct copy with its write barrier.
	slot.v, slot.gen, slot.strGen = v, e.gen, 0
	return slot
}

// read finds the path's value in the scope o it reads.
func (p *pathExpr) read(e *env, o *scope) hl7v2.Value {
	var v hl7v2.Value
	if p.rel {
		v = o.item
		if p.comp > 0 {
			v = v.Component(p.comp)
			if p.sub > 0 {
				v = v.Sub(p.sub)
			}
		}
	} else if p.field != nil {
		// Segments.Value: the repetition, then the component and
		// subcomponent (Path.inField).
		// The field's owner is the path's.
		if f := p.field; f.readers > 1 {
			v = f.in(e, o).v
		} else if seg, ok := e.segment(f, o); ok {
			v = seg.FieldRep(f.p.Field, max(f.p.Rep, 1))
		}
		if len(v.Raw()) == 0 {
			// A field not sent: its components are empty too. Only the
			// Value's level differs from Component's, and readers look
			// at its text (textOf), not its level.
			return v
		}
		if p.p.Component > 0 {
			v = v.Component(p.p.Component)
		}
		if p.p.Sub > 0 {
			v = v.Sub(p.p.Sub)
		}
	} else if p.seg > 0 {
		// Segments.Value of a path without component: the segment's
		// field's repetition.
		if seg, ok := e.segment(p, o); ok {
			v = seg.FieldRep(p.p.Field, max(p.p.Rep, 1))
		}
	} else {
		v = o.segs.Value(p.p)
	}
	return v
}

// newFrame gives a frame of n slots for one Apply, from a chunk kept from
// Apply to Apply (see newScope). Its slots are not cleared: a slot holds a
// value only once written in this Apply (memoEntry.gen).
// The largest frame and segment chunks an env keeps between Applies:
// 512 KiB and 32 KiB, more than the generated world's largest record
// uses (6,284 frame slots).
const keptFrameSlots, keptSegSlots = 8192, 1024

func (e *env) newFrame(n int) []memoEntry {
	if cap(e.frames)-len(e.frames) < n {
		e.frames = make([]memoEntry, 0, max(n, 2*cap(e.frames), 256))
	}
	k := len(e.frames)
	e.frames = e.frames[:k+n]
	e.frameUse += n
	return e.frames[k : k+n : k+n]
}

// str is the path's value decoded and trimmed ("" when empty or null),
// made once per scope: conditions and values that read the same field
// share it.
func (p *pathExpr) str(e *env, s *scope) string {
	if v, ok := p.known(e, s); ok {
		return v
	}
	return p.strMiss(e, s)
}

// known is str of a text already remembered in the scope the rule runs
// in (most reads), found without climbing to the owner. Small enough to
// be inlined: the most frequent callers test it first and call strMiss,
// not str, when it fails.
func (p *pathExpr) known(e *env, s *scope) (string, bool) {
	if s.fcls == p.cls && p.direct {
		if slot := &s.frame[p.slot]; slot.strGen == e.gen {
			return slot.str, true
		}
	}
	return "", false
}

// strMiss is str when known fails.
func (p *pathExpr) strMiss(e *env, s *scope) string {
	if s.fcls == p.cls && p.direct {
		// s is the scope the path reads, and has its frame: what owner
		// and in would find.
		slot := &s.frame[p.slot]
		if p.once {
			return e.textOf(p.read(e, s))
		}
		if slot.gen == e.gen {
			slot.str, slot.strGen = e.textOf(slot.v), e.gen
			return slot.str
		}
		v := p.read(e, s)
		// Only the components of a field read with others (fieldPath)
		// read its Value again; other paths, their text alone.
		if p.readers > 1 {
			slot.v, slot.gen = v, e.gen
		}
		slot.str, slot.strGen = e.textOf(v), e.gen
		return slot.str
	}
	o := p.owner(s)
	if o == nil {
		return ""
	}
	if p.once {
		return e.textOf(p.read(e, o))
	}
	if o.fcls == p.cls && p.cls != nil {
		// Its text may be remembered without its Value (above).
		if slot := &o.frame[p.slot]; slot.strGen == e.gen {
			return slot.str
		}
	}
	slot := p.in(e, o)
	if slot.strGen != e.gen {
		slot.str, slot.strGen = e.textOf(slot.v), e.gen
	}
	return slot.str
}

func (p *pathExpr) eval(e *env, s *scope) (string, error) {
	if v, ok := p.known(e, s); ok {
		return v, nil
	}
	return p.strMiss(e, s), nil
}

// appendValues expands [*] in the path (join, first_nonempty), appending
// the non-empty values to dst.
func (p *pathExpr) appendValues(e *env, s *scope, dst []string) []string {
	if p.rel {
		str, _ := p.eval(e, s)
		return append(dst, str)
	}
	// Segments.Values, walked in place instead of into a new slice.
	segs := segsFor(s, p.up)
	if p.p.SegOcc >= 0 {
		seg, ok := segs.Find(p.p.Segment, p.p.SegOcc)
		if !ok {
			return dst
		}
		return p.appendFrom(e, seg, dst)
	}
	for _, seg := range segs {
		if seg.Is(p.p.Segment) {
			dst = p.appendFrom(e, seg, dst)
		}
	}
	return dst
}

// appendFrom appends the non-empty values of the path in seg: its
// repetition, or every one with [*] (hl7v2's Path.appendFrom).
func (p *pathExpr) appendFrom(e *env, seg hl7v2.Segment, dst []string) []string {
	f := seg.Field(p.p.Field)
	if p.p.Rep >= 0 {
		return p.appendText(e, f, max(p.p.Rep, 1), dst)
	}
	for r, n := 1, f.NumReps(); r <= n; r++ {
		dst = p.appendText(e, f, r, dst)
	}
	return dst
}

func (p *pathExpr) appendText(e *env, f hl7v2.Field, rep int, dst []string) []string {
	v := f.Rep(rep)
	if p.p.Component > 0 {
		v = v.Component(p.p.Component)
	}
	if p.p.Sub > 0 { // on a repetition (no Component): component 1's, as Sub does
		v = v.Sub(p.p.Sub)
	}
	if v.IsEmpty() || v.IsNull() {
		return dst
	}
	return append(dst, e.text(v))
}

func (p *pathExpr) wildcard() bool {
	return !p.rel && (p.p.Rep == -1 || p.p.SegOcc == -1)
}

// segsFor climbs up segment-owning scopes.
func segsFor(s *scope, up int) hl7v2.Segments {
	if o := ownerScope(s, up); o != nil {
		return o.segs
	}
	return nil
}

// ownerScope climbs up segment-owning scopes.
func ownerScope(s *scope, up int) *scope {
	for s != nil && !s.ownsSegs {
		s = s.parent
	}
	for ; up > 0 && s != nil; up-- {
		s = s.parent
		for s != nil && !s.ownsSegs {
			s = s.parent
		}
	}
	return s
}

// memoEntry is a path's remembered value in a scope (pathExpr.entry), or
// a call's (callExpr.eval: str only).
type memoEntry struct {
	v   hl7v2.Value
	str string // v decoded and trimmed, when strGen is env.gen
	gen uint32 // the entry holds a value when gen is env.gen
	// strGen is gen once str is made: a text is found current with one
	// compare (gen is never 0: strGen 0 marks str stale).
	strGen uint32
}

// segSlot remembers where a segment occurrence is in a scope.
type segSlot struct {
	seg hl7v2.Segment
	gen uint32 // the slot holds a segment when gen is env.gen
	ok  bool
}

// segment is o.segs.Find for p's segment occurrence, remembered in o for
// the Apply: RXA is found once per ORDER, not once per field. The
// occurrences a class of scopes is searched for are numbered at Load
// (compiler.segID), so the slot is an index.
func (e *env) segment(p *pathExpr, o *scope) (hl7v2.Segment, bool) {
	if len(o.segs) == 1 && p.p.SegOcc <= 1 {
		// A segment's own scope (foreach OBX): Find without the memo.
		if seg := o.segs[0]; seg.Is(p.p.Segment) {
			return seg, true
		}
		return hl7v2.Segment{}, false
	}
	if o.fcls != p.cls || p.cls == nil {
		// A hand-made path (tests), or a scope no remembered path has
		// given a frame yet (its reads so far were once).
		return o.segs.Find(p.p.Segment, max(p.p.SegOcc, 0))
	}
	if o.segFrame == nil {
		n := p.cls.nSegs
		if cap(e.segFrames)-len(e.segFrames) < n {
			e.segFrames = make([]segSlot, 0, max(n, 2*cap(e.segFrames), 64))
		}
		k := len(e.segFrames)
		e.segFrames = e.segFrames[:k+n]
		e.segUse += n
		o.segFrame = e.segFrames[k : k+n : k+n]
	}
	slot := &o.segFrame[p.seg-1]
	if slot.gen == e.gen {
		return slot.seg, slot.ok
	}
	seg, ok := o.segs.Find(p.p.Segment, max(p.p.SegOcc, 0))
	slot.seg, slot.ok, slot.gen = seg, ok, e.gen
	return seg, ok
}

type callExpr struct {
	fn   *Func
	args []expr
	data any // compile-time binding (table, ...)
	text string
	// pure: evaluating the call never reports an issue nor fails, so
	// skipping it changes nothing but time. lazy: fn.lazy may run instead
	// of fn.eval, evaluating only the arguments it needs (every argument
	// is pure, so the ones it skips would have said nothing).
	pure bool
	lazy bool
	// memo: pure and reading no variable, so its value depends only on
	// the scope; it is remembered per scope for the Apply, and identical
	// calls share one callExpr (code_in(RXA-5, "CVX") in a condition, a
	// let and a rule is worked out once per ORDER).
	memo bool
	// sites counts the places of the mapping that read a memo call; at
	// one, the call is evaluated once per scope and its memo slot is
	// passed by (see eval).
	sites int
	// cls is the class of the scopes the call is evaluated in, slot its
	// place in their frames (see pathClass), when memo.
	cls  *pathClass
	slot int32
	// rec: pure, and reading only literals and variables set once per
	// record (the mapping's own lets, $input.*), so its value is the
	// same all through the record's resources: remembered for the
	// record in env.recCalls[slot] (identical calls share one callExpr).
	// concat($sid_base, "sender/", slug($sender), "/fill") is worked out
	// once per record, not once per dose.
	rec bool
	// choose: an if or first_nonempty that is not lazy (runChoice).
	choose bool
	// expand: fn.Expand and some argument is a path with [*], whose
	// values run passes one by one.
	expand bool
	// table: a table call, run by run without the argument stack;
	// tableCode is its code argument when that is a path.
	table     *tableRef
	tableCode *pathExpr
}

func (c *callExpr) String() string { return c.text }

func (c *callExpr) eval(e *env, s *scope) (string, error) {
	if !c.memo || c.sites == 1 {
		if c.rec && e.recOK {
			return c.evalRec(e, s)
		}
		return c.run(e, s)
	}
	if s.frame == nil && s.id != 0 {
		s.frame, s.fcls = e.newFrame(c.cls.n), c.cls
	}
	if s.fcls != c.cls {
		return c.run(e, s) // a hand-made scope (tests)
	}
	slot := &s.frame[c.slot]
	if slot.gen == e.gen {
		return slot.str, nil
	}
	v, err := c.run(e, s)
	if err == nil {
		slot.str, slot.gen = v, e.gen
	}
	return v, err
}

// recCall is a rec call's value in env.recCalls, current when gen is
// env.gen.
type recCall struct {
	s   string
	gen uint32
}

// evalRec is eval of a rec call.
func (c *callExpr) evalRec(e *env, s *scope) (string, error) {
	slot := &e.recCalls[c.slot]
	if slot.gen == e.gen {
		return slot.s, nil
	}
	v, err := c.run(e, s)
	if err == nil {
		slot.s, slot.gen = v, e.gen
	}
	return v, err
}

func (c *callExpr) run(e *env, s *scope) (string, error) {
	if c.lazy {
		return c.fn.lazy(e, s, c)
	}
	if c.choose {
		return c.runChoice(e, s)
	}
	if c.table != nil {
		// table("name", code[, field]): the code is the one argument with
		// a value to work out (the others are literals).
		var code string
		if p := c.tableCode; p != nil {
			var ok bool
			if code, ok = p.known(e, s); !ok {
				code = p.strMiss(e, s)
			}
		} else {
			var err error
			if code, err = c.args[1].eval(e, s); err != nil {
				return "", err
			}
		}
		return c.table.value(e, code)
	}
	// Arguments go on the env's stack, not a fresh slice: nested calls
	// push above and truncate back, so one Apply reuses one array.
	base := len(e.stack)
	for _, a := range c.args {
		if c.expand {
			if p, ok := a.(*pathExpr); ok && p.wildcard() {
				e.stack = p.appendValues(e, s, e.stack)
				continue
			}
		}
		v, err := a.eval(e, s)
		if err != nil {
			e.stack = e.stack[:base]
			return "", err
		}
		e.stack = append(e.stack, v)
	}
	v, err := c.fn.eval(e, s, c, e.stack[base:len(e.stack):len(e.stack)])
	e.stack = e.stack[:base]
	return v, err
}

// runChoice runs if or first_nonempty when some argument may fail or
// report (so the call cannot be lazy). Every argument is still evaluated
// in order, as eval would, for its errors and issues; but an argument
// whose value cannot be the result is only checked (check), so e.g. the
// default Immunization id, if($fill, hash(...), hash(..., date(RXA-3),
// ...)), hashes once, not twice.
func (c *callExpr) runChoice(e *env, s *scope) (string, error) {
	var out string
	found := false
	for i, a := range c.args {
		var need bool
		switch c.fn.Name {
		case "if":
			need = i == 0 || found && i == 1 || !found && i == 2
		default: // first_nonempty
			need = !found
		}
		if !need {
			if err := check(e, s, a); err != nil {
				return "", err
			}
			continue
		}
		if p, ok := a.(*pathExpr); ok && c.fn.Expand && p.wildcard() {
			base := len(e.stack)
			e.stack = p.appendValues(e, s, e.stack)
			for _, v := range e.stack[base:] {
				if v != "" && !found {
					out, found = v, true
				}
			}
			e.stack = e.stack[:base]
			continue
		}
		v, err := a.eval(e, s)
		if err != nil {
			return "", err
		}
		switch {
		case c.fn.Name != "if":
			out, found = v, v != ""
		case i == 0:
			found = v != "" // then the then branch, else the else branch
		default:
			out = v
		}
	}
	return out, nil
}

// check evaluates x only for what it may report or fail with, its value
// being unused: paths, literals, variables and pure calls say nothing; a
// pure function (hash, concat...) over other arguments fails only when
// one of them does.
func check(e *env, s *scope, x expr) error {
	c, ok := x.(*callExpr)
	if !ok || c.pure {
		return nil
	}
	if c.fn.pure {
		for _, a := range c.args {
			if err := check(e, s, a); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := c.eval(e, s)
	return err
}

// ---- parsing ----

type exprParser struct {
	c   *compiler
	src string
	pos int
	at  position
	cs  *cscope
}

// parseExpr parses text; problems are reported at `at`.
func (c *compiler) parseExpr(text string, at position, cs *cscope) expr {
	p := &exprParser{c: c, src: text, at: at, cs: cs}
	before := len(c.problems)
	x := p.parse()
	if len(c.problems) > before {
		return nil
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		c.errorf(at, "expression %q: unexpected %q at column %d", text, p.src[p.pos:], p.pos+1)
		return nil
	}
	return x
}

func (p *exprParser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *exprParser) fail(format string, a ...any) expr {
	p.c.errorf(p.at, "expression %q: %s", p.src, fmt.Sprintf(format, a...))
	p.pos = len(p.src)
	return nil
}

func (p *exprParser) parse() expr {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return p.fail("value missing")
	}
	switch ch := p.src[p.pos]; {
	case ch == '"' || ch == '\'':
		return p.parseString(ch)
	case ch == '$':
		p.pos++
		start := p.pos
		for p.pos < len(p.src) && isNameByte(p.src[p.pos]) {
			p.pos++
		}
		name := p.src[start:p.pos]
		if name == "" {
			return p.fail("variable name missing after $")
		}
		return p.c.lookupVar(name, p.at, p.src)
	}
	start := p.pos
	for p.pos < len(p.src) && !strings.ContainsRune(",() \t", rune(p.src[p.pos])) {
		p.pos++
	}
	tok := p.src[start:p.pos]
	if tok == "" {
		return p.fail("unexpected %q", p.src[p.pos:p.pos+1])
	}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '(' {
		return p.parseCall(tok)
	}
	if isDigits(tok) {
		return &litExpr{tok}
	}
	return p.c.compilePath(tok, p.at, p.cs)
}

func (p *exprParser) parseString(q byte) expr {
	p.pos++
	var b strings.Builder
	for p.pos < len(p.src) {
		ch := p.src[p.pos]
		switch {
		case ch == '\\' && p.pos+1 < len(p.src):
			b.WriteByte(p.src[p.pos+1])
			p.pos += 2
		case ch == q:
			p.pos++
			return &litExpr{b.String()}
		default:
			b.WriteByte(ch)
			p.pos++
		}
	}
	return p.fail("unterminated string")
}

func (p *exprParser) parseCall(name string) expr {
	start := p.pos - len(name)
	for start > 0 && p.src[start-1] == ' ' {
		start--
	}
	p.pos++ // (
	fn := funcs[name]
	if fn == nil {
		return p.fail("unknown function %s%s (see iisbridge mapping docs)", name, suggestFunction(name))
	}
	call := &callExpr{fn: fn}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			a := p.parse()
			if a == nil {
				return nil
			}
			call.args = append(call.args, a)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return p.fail("missing ) after arguments of %s", name)
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return p.fail("expected , or ) in arguments of %s", name)
		}
	}
	call.text = name + "(" + argsText(call.args) + ")"
	if n := len(call.args); n < fn.MinArgs || (fn.MaxArgs >= 0 && n > fn.MaxArgs) {
		return p.fail("%s takes %s, not %d", name, fn.argCount(), n)
	}
	if fn.compile != nil {
		if err := fn.compile(p.c, call); err != nil {
			return p.fail("%s: %v", name, err)
		}
	}
	args := allPure(call.args)
	call.pure = args && (fn.pure || fn.pureCall != nil && fn.pureCall(call))
	call.lazy = args && fn.lazy != nil
	call.choose = !call.lazy && (name == "if" || name == "first_nonempty")
	for _, a := range call.args {
		if p, ok := a.(*pathExpr); ok && fn.Expand && p.wildcard() {
			call.expand = true
		}
	}
	if ref, ok := call.data.(*tableRef); ok && name == "table" {
		call.table = ref
		call.tableCode, _ = call.args[1].(*pathExpr)
	}
	if call.pure && !readsVars(call) {
		// Paths are interned per scope depth, so the key tells apart the
		// same text resolving to different segments.
		var key strings.Builder
		key.WriteString(call.text)
		fingerprint(call, &key)
		cls := p.cs.classKey()
		key.WriteString("#" + cls)
		if prev := p.c.calls[key.String()]; prev != nil {
			prev.sites++
			return prev
		}
		call.memo, call.sites = true, 1
		call.cls, call.slot = p.c.slotIn(cls)
		p.c.calls[key.String()] = call
	} else if call.pure && p.c.recordCall(call) {
		key := "record#" + call.text
		if prev := p.c.calls[key]; prev != nil {
			return prev
		}
		call.rec, call.slot = true, int32(p.c.m.nRecCalls)
		p.c.m.nRecCalls++
		p.c.calls[key] = call
	}
	return call
}

// recordCall reports whether x reads only literals and variables set
// once per record (see callExpr.rec).
func (c *compiler) recordCall(x expr) bool {
	switch x := x.(type) {
	case *litExpr:
		return true
	case *varExpr:
		return x.slot < c.recordVars
	case *callExpr:
		for _, a := range x.args {
			if !c.recordCall(a) {
				return false
			}
		}
		return true
	}
	return false
}

func argsText(args []expr) string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func isNameByte(b byte) bool {
	return b == '_' || b == '.' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// allPure reports whether evaluating every x is free of issues and errors:
// paths, literals, variables and pure calls.
func allPure(xs []expr) bool {
	for _, x := range xs {
		if c, ok := x.(*callExpr); ok && !c.pure {
			return false
		}
	}
	return true
}

// readsVars reports whether x reads a variable (whose value may change
// between resources evaluated in one scope).
func readsVars(x expr) bool {
	switch x := x.(type) {
	case *varExpr:
		return true
	case *callExpr:
		for _, a := range x.args {
			if readsVars(a) {
				return true
			}
		}
	}
	return false
}

// fingerprint writes the identity of every path x reads.
func fingerprint(x expr, b *strings.Builder) {
	switch x := x.(type) {
	case *pathExpr:
		fmt.Fprintf(b, "|%p", x)
	case *callExpr:
		for _, a := range x.args {
			fingerprint(a, b)
		}
	}
}

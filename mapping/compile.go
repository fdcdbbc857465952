package mapping

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unique"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/hl7v2"
)

type position struct{ line, col int }

// compiler turns the YAML tree into rules, collecting every problem.
type compiler struct {
	file     string // as shown in problems
	fsys     fs.FS  // table files, relative to the mapping file's directory
	dir      string // fsys path of that directory
	problems []Problem

	m       *mappingImpl
	tables  map[string]*table
	consts  map[string]string
	vars    map[string]int    // name → slot
	varSrc  map[string]string // let name → the source path it reads
	columns map[string]bool
	paths   map[string]*pathExpr // interned absolute paths
	calls   map[string]*callExpr // interned memoized calls (see callExpr.memo)
	// tableReads: the table calls by table and code argument (see
	// tableRef.last).
	tableReads map[string][]*tableRef
	// recordVars: the variables of slots below it are set once per
	// record, before any resource (see recordCall); 0 until known.
	recordVars int
	nRules     int

	// Who reads the variables of a resource (see unbuilt.go): slotOwner
	// maps a resource's let and as: slots to it; curRes is the resource
	// being compiled and inner is set while its lets, id and rules are.
	slotOwner map[int]*resourceDef
	curRes    *resourceDef
	inner     bool

	segIDs   map[string]int        // see segID
	classes  map[string]*pathClass // by cscope.classKey (see pathClass)
	groupBys int                   // group classes so far (groupClass)
	groupIDs map[string]int        // group classes by loop
	// The group_by loops, and how many loops each group class has.
	groupLoops []*foreachDef
	groupUses  map[int]int
}

func (c *compiler) errorf(at position, format string, a ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Line: at.line, Col: at.col, Msg: fmt.Sprintf(format, a...)})
}

func pos(n *yaml.Node) position { return position{n.Line, n.Column} }

// fields checks that n is a mapping with only allowed keys and returns
// key → value node (plus the key nodes, for positions).
func (c *compiler) fields(n *yaml.Node, what string, allowed ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		c.errorf(pos(n), "%s must be a mapping (key: value lines)", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
				break
			}
		}
		if !ok {
			c.errorf(pos(k), "unknown key %q in %s (allowed: %s)%s", k.Value, what, strings.Join(allowed, ", "), suggestKey(k.Value, allowed))
			continue
		}
		if _, dup := out[k.Value]; dup {
			c.errorf(pos(k), "key %q given twice in %s", k.Value, what)
		}
		out[k.Value] = deref(v)
	}
	return out
}

// deref follows YAML aliases (*name), so a list of rules can be reused.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func (c *compiler) scalar(n *yaml.Node, what string) (string, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		c.errorf(pos(n), "%s must be a single value", what)
		return "", false
	}
	return n.Value, true
}

func (c *compiler) list(n *yaml.Node, what string) []*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		c.errorf(pos(n), "%s must be a list", what)
		return nil
	}
	return n.Content
}

// ---- scopes (compile time) ----

type scopeKind int

const (
	scopeRoot  scopeKind = iota // the whole message / row
	scopeGroup                  // an ORDER group
	scopeSegs                   // one segment, or an OBX group
	scopeRep                    // one repetition of a field
)

// cscope mirrors the runtime scope chain so a path knows, at Load, which
// scope holds its segment.
type cscope struct {
	parent *cscope
	kind   scopeKind
	seg    string // scopeSegs: the segment name it holds
	cls    string // scopeSegs, scopeRep: its class (see classKey)
	fhir   string // FHIR element path of the current object, e.g. Patient.identifier
	ftype  string // its FHIR type, e.g. Identifier
}

// orderOwns says an ORDER group owns the segment (hl7v2.OrderSegments and
// Z-segments); any other segment named inside an ORDER resolves in the
// whole message (PID, MSH, ...).
func orderOwns(name string) bool { return hl7v2.InOrder(name) }

func (s *cscope) owns(name string) bool {
	switch s.kind {
	case scopeRoot:
		return true
	case scopeGroup:
		return orderOwns(name)
	case scopeSegs:
		return s.seg == name
	}
	return false
}

// upFor counts segment-owning scopes to climb to reach name's owner.
func (s *cscope) upFor(name string) int {
	up := 0
	for ; s != nil; s = s.parent {
		if s.kind == scopeRep {
			continue
		}
		if s.owns(name) {
			return up
		}
		up++
	}
	return up
}

// ownerOf is the scope that holds name's segment (see upFor).
func (s *cscope) ownerOf(name string) *cscope {
	for ; s != nil; s = s.parent {
		if s.kind != scopeRep && s.owns(name) {
			return s
		}
	}
	return nil
}

// classKey names the class of the runtime scopes s stands for: every ORDER
// group is one class, every scope of one segment (or group of them)
// another per parent class (loops over the segments of one scope share
// them, see env.each), each group_by loop's groups and its items' keys
// two more (never shared), and the repetitions of each field looped over
// another (loops over one field share their items, see env.repScopes):
// a frame has the slots of what is read in scopes like it, not of the
// whole mapping.
func (s *cscope) classKey() string {
	switch s.kind {
	case scopeRoot:
		return "root"
	case scopeGroup:
		return "group"
	case scopeRow:
		return "row:" + s.seg
	}
	return s.cls
}

// repClass is the class of the nearest repetition, which relative paths
// read.
func (s *cscope) repClass() string {
	for ; s.kind != scopeRep; s = s.parent {
	}
	return s.cls
}

func (s *cscope) inRep() bool {
	for ; s != nil; s = s.parent {
		if s.kind == scopeRep {
			return true
		}
	}
	return false
}

var relPathRE = regexp.MustCompile(`^\.(?:([1-9][0-9]*)(?:\.([1-9][0-9]*))?)?$`)
var columnRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *compiler) compilePath(tok string, at position, cs *cscope) expr {
	if c.m.source == "sql" {
		return c.compileSQLPath(tok, at, cs) // sqlpaths.go
	}
	if strings.HasPrefix(tok, ".") {
		m := relPathRE.FindStringSubmatch(tok)
		if m == nil {
			c.errorf(at, "malformed relative path %q (want ., .N or .N.M)", tok)
			return nil
		}
		if !cs.inRep() {
			c.errorf(at, "relative path %q outside a foreach over repetitions", tok)
			return nil
		}
		// A relative path reads the nearest repetition, so one pathExpr
		// per text and looped field serves every rule (and lets identical
		// calls such as table("race", .1) be one remembered call).
		cls := cs.repClass()
		key := "rel:" + tok + "#" + cls
		x, ok := c.paths[key]
		if !ok {
			comp, _ := strconv.Atoi(m[1])
			sub, _ := strconv.Atoi(m[2])
			x = &pathExpr{text: tok, rel: true, comp: comp, sub: sub}
			c.place(x, cls)
			c.paths[key] = x
		}
		x.site(cs.kind != scopeRep)
		return x
	}
	p, err := hl7v2.ParsePath(tok)
	if err != nil {
		c.errorf(at, "malformed v2 path %q: %v", tok, err)
		return nil
	}
	if !c.checkSegment(p.Segment, at) {
		return nil
	}
	if n := maxFields(p.Segment); n > 0 && p.Field > n {
		c.errorf(at, "%s has %d fields in v2.5.1; %s names field %d", p.Segment, n, tok, p.Field)
		return nil
	}
	// One pathExpr per distinct path, scope depth and owner class, so the
	// per-Apply memo serves every rule that reads the same field.
	up := cs.upFor(p.Segment)
	cls := "root"
	if o := cs.ownerOf(p.Segment); o != nil {
		cls = o.classKey()
	}
	key := fmt.Sprintf("%s#%d#%s", tok, up, cls)
	x, ok := c.paths[key]
	if !ok {
		x = &pathExpr{text: tok, p: p, up: up, field: c.fieldPath(p, up, cls), seg: c.segID(p, cls)}
		c.place(x, cls)
		c.paths[key] = x
	}
	x.site(cs.kind == scopeRep || !cs.owns(p.Segment))
	return x
}

// site counts a place reading x; away: from below the scope x reads.
func (x *pathExpr) site(away bool) {
	x.sites++
	x.away = x.away || away
	x.once = x.sites == 1 && !x.away
}

// pathClass is a class of runtime scopes (cscope.classKey): each scope
// of the class that paths read or memoized calls are evaluated in gets a
// frame with one memo slot per such path and call of the class
// (pathExpr.slot, callExpr.slot), so they find their remembered value by
// index, not by hashing.
type pathClass struct {
	n     int // slots
	nSegs int // segment occurrences (see segID)
}

// place gives x its class and its slot in the class's frames.
func (c *compiler) place(x *pathExpr, cls string) {
	x.cls, x.slot = c.slotIn(cls)
	x.clsKey = cls
	x.direct = x.rel || x.up == 0
}

// slotIn hands out the next slot of the frames of class cls.
func (c *compiler) slotIn(cls string) (*pathClass, int32) {
	pc := c.class(cls)
	pc.n++
	return pc, int32(pc.n - 1)
}

func (c *compiler) class(cls string) *pathClass {
	if c.classes == nil {
		c.classes = map[string]*pathClass{}
	}
	pc := c.classes[cls]
	if pc == nil {
		pc = &pathClass{}
		c.classes[cls] = pc
	}
	return pc
}

// fieldPath is, for a path to a component or subcomponent, the path of
// its repetition (RXA-10 for RXA-10.2.1), so that the paths into one
// field find the segment and split the field once per scope, not once
// each (the default mapping reads six components of RXA-10 and ORC-12,
// and every code_in reads three to six of its field). nil for a path to
// a repetition, or one with [*].
func (c *compiler) fieldPath(p hl7v2.Path, up int, cls string) *pathExpr {
	if p.Component == 0 && p.Sub == 0 || p.Rep < 0 || p.SegOcc < 0 {
		return nil
	}
	q := p
	q.Component, q.Sub = 0, 0
	key := fmt.Sprintf("field:%+v#%d#%s", q, up, cls)
	if x, ok := c.paths[key]; ok {
		x.readers++
		return x
	}
	x := &pathExpr{text: q.String(), p: q, up: up, seg: c.segID(q, cls), readers: 1}
	c.place(x, cls)
	c.paths[key] = x
	return x
}

// componentPath is the path of component k of p (a field or
// repetition), interned as compilePath would intern its text.
func (c *compiler) componentPath(p *pathExpr, k int) *pathExpr {
	tok := p.text + "." + strconv.Itoa(k)
	if p.rel {
		tok = "." + strconv.Itoa(k)
		key := "rel:" + tok + "#" + p.clsKey
		x, ok := c.paths[key]
		if !ok {
			x = &pathExpr{text: tok, rel: true, comp: k}
			c.place(x, p.clsKey)
			c.paths[key] = x
		}
		x.site(true) // read by a function, from wherever it is called
		return x
	}
	key := fmt.Sprintf("%s#%d#%s", tok, p.up, p.clsKey)
	x, ok := c.paths[key]
	if !ok {
		q := p.p
		q.Component = k
		x = &pathExpr{text: tok, p: q, up: p.up, field: c.fieldPath(q, p.up, p.clsKey), seg: c.segID(q, p.clsKey)}
		c.place(x, p.clsKey)
		c.paths[key] = x
	}
	x.site(true) // read by a function, from wherever it is called
	return x
}

// segID numbers, from 1 in class cls, the segment occurrence a path
// reads (PID, OBX[2]) for the segment memo (env.segment); 0 for paths
// not read through it.
func (c *compiler) segID(p hl7v2.Path, cls string) int {
	if p.Component != 0 || p.Sub != 0 {
		return 0 // read through their field (fieldPath), or expanded
	}
	key := fmt.Sprintf("%s|%s[%d]", cls, p.Segment, max(p.SegOcc, 0))
	if id, ok := c.segIDs[key]; ok {
		return id
	}
	pc := c.class(cls)
	pc.nSegs++
	c.segIDs[key] = pc.nSegs
	return pc.nSegs
}

func (c *compiler) checkSegment(name string, at position) bool {
	if strings.HasPrefix(name, "Z") && len(name) == 3 {
		return true
	}
	if _, ok := knownSegments[name]; !ok {
		c.errorf(at, "unknown v2 segment %q", name)
		return false
	}
	return true
}

func (c *compiler) lookupVar(name string, at position, text string) expr {
	if v, ok := c.consts[name]; ok {
		return &litExpr{v}
	}
	if slot, ok := c.vars[name]; ok {
		c.noteVarRead(slot)
		return &varExpr{name: name, slot: slot, src: c.varSrc[name]}
	}
	defined := make([]string, 0, len(c.vars)+len(c.consts))
	for n := range c.vars {
		defined = append(defined, n)
	}
	for n := range c.consts {
		defined = append(defined, n)
	}
	sort.Strings(defined)
	c.errorf(at, "expression %q: unknown variable $%s%s", text, name, suggestVariable(name, defined))
	return nil
}

func (c *compiler) newVar(name string, at position) int {
	if _, ok := c.vars[name]; ok {
		c.errorf(at, "variable $%s defined twice", name)
	}
	if _, ok := c.consts[name]; ok {
		c.errorf(at, "variable $%s is already a constant", name)
	}
	slot := len(c.vars)
	c.vars[name] = slot
	return slot
}

// ---- top level ----

func compile(data []byte, file string, fsys fs.FS, dir string) (*mappingImpl, []Problem) {
	c := &compiler{file: file, fsys: fsys, dir: dir, m: &mappingImpl{file: file, tz: time.UTC},
		tables: map[string]*table{}, consts: map[string]string{}, vars: map[string]int{}, varSrc: map[string]string{}, columns: map[string]bool{}, paths: map[string]*pathExpr{}, calls: map[string]*callExpr{},
		slotOwner: map[int]*resourceDef{}, segIDs: map[string]int{}}
	c.m.nSites = 1 // site 0 is none
	c.m.consts = c.consts
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 1, err.Error()
		if m := regexp.MustCompile(`^yaml: line (\d+): (.*)$`).FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
			// yaml.v3 numbers parser errors from 0 (scanner errors from 1).
			if strings.HasPrefix(msg, "did not find expected") {
				line++
			}
		}
		return nil, []Problem{{File: file, Line: line, Col: 1, Msg: "invalid YAML: " + msg}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, []Problem{{File: file, Line: 1, Col: 1, Msg: "empty mapping file"}}
	}
	c.top(doc.Content[0])
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	c.m.nVars = len(c.vars)
	c.m.nRules = c.nRules
	analyzeUnbuilt(c.m)
	for _, fe := range c.groupLoops {
		fe.groupShared = c.groupUses[fe.groupID] > 1
	}
	link(c.m, c.tables)
	return c.m, nil
}

func (c *compiler) top(n *yaml.Node) {
	f := c.fields(n, "the mapping", "source", "messages", "columns", "when", "settings", "constants", "let", "tables", "resources", "reduce", "identity")
	c.m.source = "v2"
	if v, ok := c.scalar(f["source"], "source"); ok {
		if v != "v2" && v != "sql" {
			c.errorf(pos(f["source"]), "source must be v2 or sql, not %q", v)
		}
		c.m.source = v
	}
	for _, b := range builtinDocs { // slots 0-3, in this order (see apply)
		c.vars[b[0]] = len(c.vars)
	}
	if n := f["messages"]; n != nil {
		if c.m.source != "v2" {
			c.errorf(pos(n), "messages: applies to source: v2 only")
		}
		for _, it := range c.list(n, "messages") {
			s, _ := c.scalar(it, "a message type")
			code, trig, ok := strings.Cut(s, "^")
			if !ok || len(code) != 3 || len(trig) != 3 {
				c.errorf(pos(it), "message type %q: want CODE^TRIGGER, e.g. VXU^V04", s)
				continue
			}
			c.m.messages = append(c.m.messages, [2]string{code, trig})
		}
	}
	c.compileColumns(f["columns"], n) // sqlpaths.go
	if n := f["settings"]; n != nil {
		sf := c.fields(n, "settings", "timezone")
		if v, ok := c.scalar(sf["timezone"], "timezone"); ok {
			loc, err := time.LoadLocation(v)
			if err != nil {
				c.errorf(pos(sf["timezone"]), "unknown timezone %q (want an IANA name such as America/Chicago)", v)
			} else {
				c.m.tz = loc
			}
		}
	}
	if n := f["constants"]; n != nil {
		if n.Kind != yaml.MappingNode {
			c.errorf(pos(n), "constants must be a mapping of name: value")
		} else {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if !columnRE.MatchString(k.Value) {
					c.errorf(pos(k), "constant name %q: use letters, digits and _", k.Value)
				}
				s, _ := c.scalar(v, "constant "+k.Value)
				c.consts[k.Value] = s
			}
		}
	}
	if n := f["tables"]; n != nil {
		c.compileTables(n)
	}
	c.compileReduce(f["reduce"]) // reduce.go
	root := &cscope{kind: scopeRoot}
	if n := f["when"]; n != nil {
		c.m.when = c.compileCond(n, root)
	}
	if n := f["let"]; n != nil {
		c.m.lets = c.compileLets(n, root)
	}
	c.compileIdentity(f["identity"], f["let"], f["constants"], root) // identity.go
	c.recordVars = len(c.vars)                                       // $input.* and the lets above (see recordCall)
	rn := f["resources"]
	if rn == nil {
		c.errorf(pos(n), "no resources: list")
		return
	}
	for _, it := range c.list(rn, "resources") {
		if r := c.compileResource(it, root); r != nil {
			c.m.resources = append(c.m.resources, r)
		}
	}
}

func n0(n *yaml.Node) *yaml.Node {
	if n == nil {
		return &yaml.Node{Line: 1, Column: 1}
	}
	return n
}

func (c *compiler) compileTables(n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		c.errorf(pos(n), "tables must be a mapping of name: definition")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		t := &table{name: k.Value, entries: map[string]tableEntry{}}
		if c.tables[t.name] != nil {
			c.errorf(pos(k), "table %q defined twice", t.name)
		}
		c.tables[t.name] = t
		f := c.fields(v, "table "+t.name, "policy", "file", "codes")
		pn := "pass"
		if s, ok := c.scalar(f["policy"], "policy"); ok {
			pn = s
		}
		t.policy = policies[pn]
		if t.policy == nil {
			names := []string{}
			for _, p := range Policies() {
				names = append(names, p.Name)
			}
			c.errorf(pos(n0(f["policy"])), "table %s: unknown policy %q (one of %s)", t.name, pn, strings.Join(names, ", "))
			t.policy = policies["pass"]
		}
		if f["file"] == nil && f["codes"] == nil {
			c.errorf(pos(k), "table %s: give file: or codes:", t.name)
		}
		if s, ok := c.scalar(f["file"], "file"); ok {
			if c.fsys == nil {
				c.errorf(pos(f["file"]), "table %s: files are not available here", t.name)
			} else {
				c.loadCSV(t, c.fsys, path.Join(c.dir, s), path.Join(path.Dir(c.file), s))
			}
		}
		if cn := f["codes"]; cn != nil {
			if cn.Kind != yaml.MappingNode {
				c.errorf(pos(cn), "table %s: codes must be a mapping of from: code or from: {code, display, system}", t.name)
				continue
			}
			for j := 0; j+1 < len(cn.Content); j += 2 {
				from, to := cn.Content[j], cn.Content[j+1]
				var e tableEntry
				if to.Kind == yaml.ScalarNode {
					e.code = to.Value
				} else {
					ef := c.fields(to, "code "+from.Value, "code", "display", "system")
					e.code, _ = c.scalar(ef["code"], "code")
					e.display, _ = c.scalar(ef["display"], "display")
					e.system, _ = c.scalar(ef["system"], "system")
				}
				if _, dup := t.entries[from.Value]; dup {
					c.errorf(pos(from), "table %s: code %q listed twice", t.name, from.Value)
				}
				t.add(from.Value, e)
			}
		}
	}
}

type letDef struct {
	slot int
	x    expr
}

func (c *compiler) compileLets(n *yaml.Node, cs *cscope) []letDef {
	if n.Kind != yaml.MappingNode {
		c.errorf(pos(n), "let must be a mapping of name: expression")
		return nil
	}
	var out []letDef
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		s, ok := c.scalar(v, "let "+k.Value)
		if !ok {
			continue
		}
		x := c.parseExpr(s, pos(v), cs)
		slot := c.newVar(k.Value, pos(k))
		if x != nil {
			c.varSrc[k.Value] = sourceOf(x)
			out = append(out, letDef{slot, x})
		}
	}
	return out
}

// ---- resources ----

type resourceDef struct {
	typ     string
	pos     string
	foreach *foreachDef
	when    *cond
	lets    []letDef
	id      expr
	asSlot  int // -1: none
	rules   []*rule
	room    int // keys of the resource object, for fhirout.Slab
	site    int // the resource object's place in env.rooms

	// What an instance Input.Want refuses must still do (unbuilt.go).
	observed    bool // its let or as: variables are read from outside it
	skipUnbuilt bool // its lets and id can be skipped when not built
	whenPure    bool // testing its when: raises no issue
	whenLater   bool // ... and reads no variable: it may be tested later
	needStarted bool // this or a later resource may make a default id
}

func (c *compiler) at(n *yaml.Node) string { return fmt.Sprintf("%s:%d", c.file, n.Line) }

func (c *compiler) compileResource(n *yaml.Node, root *cscope) *resourceDef {
	f := c.fields(n, "a resource", "resource", "as", "foreach", "when", "let", "id", "rules")
	r := &resourceDef{pos: c.at(n), asSlot: -1}
	var ok bool
	r.typ, ok = c.scalar(f["resource"], "resource")
	if !ok {
		c.errorf(pos(n), "resource: missing (the FHIR resource type, e.g. Patient)")
		return nil
	}
	if msg := resourceTypeProblem(r.typ); msg != "" {
		c.errorf(pos(f["resource"]), "%s", msg)
		return nil
	}
	c.curRes, c.inner = r, false
	defer func() { c.curRes, c.inner = nil, false }()
	scope := root
	if fn := f["foreach"]; fn != nil {
		r.foreach, scope = c.compileForeach(fn, nil, nil, root)
	}
	if wn := f["when"]; wn != nil {
		r.when = c.compileCond(wn, scope)
	}
	c.inner = true // lets, id and rules: recomputed by every built instance
	if ln := f["let"]; ln != nil {
		r.lets = c.compileLets(ln, scope)
		for _, l := range r.lets {
			c.slotOwner[l.slot] = r
		}
	}
	if s, ok := c.scalar(f["id"], "id"); ok {
		r.id = c.parseExpr(s, pos(f["id"]), scope)
	}
	if s, ok := c.scalar(f["as"], "as"); ok {
		r.asSlot = c.newVar(s, pos(f["as"]))
		c.slotOwner[r.asSlot] = r
	}
	if rn := f["rules"]; rn != nil {
		r.rules = c.compileRules(rn, withFHIR(scope, r.typ, r.typ))
		sizeRules(r.rules)
	}
	r.room = resourceRoom(r.rules)
	r.site = c.numberSites(r.rules)
	return r
}

// withFHIR returns a scope identical to s for paths but carrying the FHIR
// element path of the object rules write into.
func withFHIR(s *cscope, fhirPath, ftype string) *cscope {
	cp := *s
	cp.fhir = fhirPath
	cp.ftype = ftype
	return &cp
}

// ---- foreach ----

type foreachKind int

const (
	eachOrder foreachKind = iota // ORDER groups
	eachSeg                      // segments by name
	eachRep                      // repetitions at a path
)

type foreachDef struct {
	label   string // eachRep: PID-3, for item labels
	kind    foreachKind
	text    string
	seg     string
	up      int
	path    *pathExpr
	where   *cond
	groupBy expr
	groupID int // the loop's group class (compiler.groupClass), with groupBy
	// groupShared: other loops have the class: the groups are kept for
	// them (env.groups).
	groupShared bool
}

// compileForeach returns the definition and the scope its items open.
func (c *compiler) compileForeach(n, where, groupBy *yaml.Node, cs *cscope) (*foreachDef, *cscope) {
	s, ok := c.scalar(n, "foreach")
	if !ok {
		return nil, cs
	}
	fe := &foreachDef{text: s}
	var inner *cscope
	switch {
	case c.m.source == "sql":
		fe, inner = c.compileSQLForeach(s, n, cs) // sqlpaths.go
		if fe == nil {
			return nil, cs
		}
	case s == "ORDER":
		if cs.kind != scopeRoot {
			c.errorf(pos(n), "foreach: ORDER only at the top (resources or top-level rules)")
		}
		fe.kind = eachOrder
		inner = &cscope{parent: cs, kind: scopeGroup}
	case len(s) == 3 && !strings.ContainsAny(s, "-[]."):
		if !c.checkSegment(s, pos(n)) {
			return nil, cs
		}
		fe.kind, fe.seg, fe.up = eachSeg, s, cs.upFor(s)
		inner = &cscope{parent: cs, kind: scopeSegs, seg: s, cls: "seg:" + s + "<" + cs.classKey()}
	default:
		x := c.compilePath(s, pos(n), cs)
		if x == nil {
			return nil, cs
		}
		p := x.(*pathExpr)
		if p.rel || p.p.Rep != -1 || p.p.Component != 0 {
			c.errorf(pos(n), "foreach %q: want ORDER, a segment name (NK1, OBX) or a field with [*] (PID-3[*])", s)
			return nil, cs
		}
		fe.kind, fe.path = eachRep, p
		fe.label = p.p.Segment + "-" + strconv.Itoa(p.p.Field)
		inner = &cscope{parent: cs, kind: scopeRep, cls: fmt.Sprintf("rep:%s#%d#%s", p.text, p.up, p.clsKey)}
	}
	itemScope := inner // where the key and the condition are evaluated
	if groupBy != nil {
		if fe.kind != eachSeg {
			c.errorf(pos(groupBy), "group_by needs a foreach over segments (e.g. foreach: OBX)")
		} else if gs, ok := c.scalar(groupBy, "group_by"); ok {
			// Each segment's key (and condition) is worked out in the
			// segment's scope, which loops over the same segments share
			// (env.groups), the body in the group's.
			fe.groupID = c.groupClass(s, gs, where, cs)
			if c.groupUses == nil {
				c.groupUses = map[int]int{}
			}
			c.groupUses[fe.groupID]++
			c.groupLoops = append(c.groupLoops, fe)
			itemScope = &cscope{parent: cs, kind: scopeSegs, seg: s, cls: inner.cls}
			inner.cls += "#group" + strconv.Itoa(fe.groupID)
			fe.groupBy = c.parseExpr(gs, pos(groupBy), itemScope)
		}
	}
	if where != nil {
		fe.where = c.compileCond(where, itemScope)
	}
	inner.fhir, inner.ftype = cs.fhir, cs.ftype
	return fe, inner
}

// groupClass numbers the groups of a group_by loop over seg in cs. Loops
// with the same foreach, where and group_by in one class of scopes make
// the same groups, so they share a number (and at run time the groups,
// env.groups); one whose where or key reads a variable, which may change
// between the loops, gets a number of its own.
func (c *compiler) groupClass(seg, groupBy string, where *yaml.Node, cs *cscope) int {
	key := ""
	if w, err := yaml.Marshal(where); err == nil && !strings.Contains(groupBy, "$") && !bytes.Contains(w, []byte("$")) && !hasAlias(where) {
		key = seg + "\x00" + groupBy + "\x00" + string(w) + "\x00" + cs.classKey()
		if id, ok := c.groupIDs[key]; ok {
			return id
		}
	}
	c.groupBys++
	if key != "" {
		if c.groupIDs == nil {
			c.groupIDs = map[string]int{}
		}
		c.groupIDs[key] = c.groupBys
	}
	return c.groupBys
}

// hasAlias reports whether n holds an alias (*name), whose text does not
// say what it stands for.
func hasAlias(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, k := range n.Content {
		if hasAlias(k) {
			return true
		}
	}
	return false
}

// ---- conditions ----

type condKind int

const (
	condPresent condKind = iota
	condEmpty
	condEquals
	condIn
	condMatches
	condNot
	condAll
	condAny
	condHas
)

type cond struct {
	kind condKind
	x    expr
	lits []string
	re   *matcher // matches: (match.go)
	subs []*cond
	has  *foreachDef
	fn   condFn // linked (compiled.go)
}

func (c *compiler) compileCond(n *yaml.Node, cs *cscope) *cond {
	f := c.fields(n, "a condition", "present", "empty", "value", "equals", "in", "matches", "not", "all", "any", "has", "where")
	count := 0
	for _, k := range []string{"present", "empty", "value", "not", "all", "any", "has"} {
		if f[k] != nil {
			count++
		}
	}
	if count != 1 {
		c.errorf(pos(n), "a condition needs exactly one of present, empty, value (with equals/in/matches), not, all, any, has")
		return nil
	}
	expr1 := func(k string) expr {
		s, ok := c.scalar(f[k], k)
		if !ok {
			return nil
		}
		return c.parseExpr(s, pos(f[k]), cs)
	}
	switch {
	case f["present"] != nil:
		return &cond{kind: condPresent, x: expr1("present")}
	case f["empty"] != nil:
		return &cond{kind: condEmpty, x: expr1("empty")}
	case f["value"] != nil:
		cd := &cond{x: expr1("value")}
		ops := 0
		if v := f["equals"]; v != nil {
			ops++
			cd.kind = condEquals
			s, _ := c.scalar(v, "equals")
			cd.lits = []string{s}
		}
		if v := f["in"]; v != nil {
			ops++
			cd.kind = condIn
			for _, it := range c.list(v, "in") {
				s, _ := c.scalar(it, "an in: value")
				cd.lits = append(cd.lits, s)
			}
		}
		if v := f["matches"]; v != nil {
			ops++
			cd.kind = condMatches
			s, _ := c.scalar(v, "matches")
			re, err := regexp.Compile(s)
			if err != nil {
				c.errorf(pos(v), "bad regular expression: %v", err)
			} else {
				cd.re = newMatcher(re)
			}
		}
		if ops != 1 {
			c.errorf(pos(f["value"]), "value: needs exactly one of equals, in, matches")
		}
		return cd
	case f["not"] != nil:
		return &cond{kind: condNot, subs: []*cond{c.compileCond(f["not"], cs)}}
	case f["all"] != nil, f["any"] != nil:
		k, kind := "all", condAll
		if f["any"] != nil {
			k, kind = "any", condAny
		}
		cd := &cond{kind: kind}
		for _, it := range c.list(f[k], k) {
			cd.subs = append(cd.subs, c.compileCond(it, cs))
		}
		return cd
	default:
		fe, _ := c.compileForeach(f["has"], f["where"], nil, cs)
		if fe != nil && fe.kind == eachOrder {
			c.errorf(pos(f["has"]), "has: takes a segment name or a field with [*]")
		}
		return &cond{kind: condHas, has: fe}
	}
}

// ---- rules ----

// rule's fields that every run reads come first, in one cache line.
type rule struct {
	// Linked (compiled.go): body runs the rule for one item, run for
	// each item of its foreach (body itself without one).
	run, body ruleFn
	tgt       *target
	kind      elemKind
	required  bool
	reject    bool
	def       any    // typed default
	source    string // source label for trace and issues
	when      *cond
	foreach   *foreachDef
	pos       string
	line      int
	value     expr
	constant  any // typed, when const:
	cases     []ruleCase
	children  []*rule
	issue     string // warn / reject message
	code      string // issue code
	element   string // FHIR element path, e.g. Patient.name.family
}

type ruleCase struct {
	when     *cond
	value    expr
	constant any
	source   string
}

func (c *compiler) compileRules(n *yaml.Node, cs *cscope) []*rule {
	var out []*rule
	for _, it := range c.list(n, "rules") {
		if r := c.compileRule(it, cs); r != nil {
			out = append(out, r)
		}
	}
	return out
}

func (c *compiler) compileRule(n *yaml.Node, cs *cscope) *rule {
	f := c.fields(n, "a rule", "target", "value", "const", "cases", "default", "when", "required",
		"foreach", "where", "group_by", "rules", "warn", "reject", "code")
	c.nRules++
	r := &rule{pos: c.at(n), line: n.Line}
	scope := cs
	if fn := f["foreach"]; fn != nil {
		r.foreach, scope = c.compileForeach(fn, f["where"], f["group_by"], cs)
	} else if f["where"] != nil || f["group_by"] != nil {
		c.errorf(pos(n), "where: and group_by: need a foreach:")
	}
	if wn := f["when"]; wn != nil {
		r.when = c.compileCond(wn, scope)
	}
	if v, ok := c.scalar(f["required"], "required"); ok {
		r.required = v == "true"
		if v != "true" && v != "false" {
			c.errorf(pos(f["required"]), "required must be true or false")
		}
	}
	valueKeys := 0
	for _, k := range []string{"value", "const", "cases", "rules", "warn", "reject"} {
		if f[k] != nil {
			valueKeys++
		}
	}
	if valueKeys != 1 {
		c.errorf(pos(n), "a rule needs exactly one of value, const, cases, rules, warn, reject")
		return nil
	}
	for _, k := range []string{"warn", "reject"} {
		if s, ok := c.scalar(f[k], k); ok {
			r.issue, r.reject = s, k == "reject"
			r.code = "processing"
			if k == "reject" {
				r.code = "invalid"
			}
			if cd, ok := c.scalar(f["code"], "code"); ok {
				r.code = cd
			}
			if r.when != nil {
				r.source = sourceOfCond(r.when)
			}
			if r.source == "" && r.foreach != nil {
				r.source = r.foreach.text
			}
			if f["target"] != nil {
				r.element = cs.fhir + "." + stripIdx(f["target"].Value)
			} else {
				r.element = cs.fhir
			}
			return r
		}
	}
	if f["code"] != nil {
		c.errorf(pos(f["code"]), "code: goes with warn: or reject:")
	}
	tn := f["target"]
	elemScope := withFHIR(scope, cs.fhir, cs.ftype)
	if tn == nil {
		if f["rules"] == nil {
			c.errorf(pos(n), "a rule with a value needs a target: (the FHIR element it writes)")
			return nil
		}
		if f["default"] != nil {
			c.errorf(pos(f["default"]), "default: needs a value rule")
		}
		r.element = cs.fhir
		r.children = c.compileRules(f["rules"], elemScope)
		return r
	}
	ts, _ := c.scalar(tn, "target")
	tgt, err := parseTarget(ts)
	if err != nil {
		c.errorf(pos(tn), "target %q: %v", ts, err)
		return nil
	}
	r.tgt = tgt
	if tgt.padded {
		c.m.padded = true
	}
	r.element = cs.fhir + "." + tgt.plain
	kind, ftype, err := resolveTarget(cs.ftype, cs.fhir, tgt)
	if err != nil {
		c.errorf(pos(tn), "%v", err)
		return nil
	}
	r.kind = kind
	if f["rules"] != nil {
		if kind != kindObject {
			c.errorf(pos(tn), "%s is a %s element: give it a value, not rules", r.element, kind)
			return nil
		}
		if f["default"] != nil {
			c.errorf(pos(f["default"]), "default: needs a value rule")
		}
		r.children = c.compileRules(f["rules"], withFHIR(scope, r.element, ftype))
		return r
	}
	if kind == kindObject {
		c.errorf(pos(tn), "%s is a complex element: give it rules:, not a value", r.element)
		return nil
	}
	if s, ok := c.scalar(f["const"], "const"); ok {
		r.constant = c.typed(kind, s, r.element, pos(f["const"]))
	}
	if s, ok := c.scalar(f["value"], "value"); ok {
		r.value = c.parseExpr(s, pos(f["value"]), scope)
		r.source = sourceOf(r.value)
	}
	if cn := f["cases"]; cn != nil {
		for _, it := range c.list(cn, "cases") {
			cf := c.fields(it, "a case", "when", "value", "const")
			var rc ruleCase
			if wn := cf["when"]; wn != nil {
				rc.when = c.compileCond(wn, scope)
			}
			if s, ok := c.scalar(cf["value"], "value"); ok {
				rc.value = c.parseExpr(s, pos(cf["value"]), scope)
				rc.source = sourceOf(rc.value)
			}
			if s, ok := c.scalar(cf["const"], "const"); ok {
				rc.constant = c.typed(kind, s, r.element, pos(cf["const"]))
			}
			if (cf["value"] == nil) == (cf["const"] == nil) {
				c.errorf(pos(it), "a case needs exactly one of value, const")
			}
			r.cases = append(r.cases, rc)
		}
	}
	if s, ok := c.scalar(f["default"], "default"); ok {
		r.def = c.typed(kind, s, r.element, pos(f["default"]))
	}
	return r
}

// typed converts a constant at Load, so a wrong type is a check problem.
func (c *compiler) typed(k elemKind, s, element string, at position) any {
	v, err := convert(k, s)
	if err != nil {
		c.errorf(at, "%s is %s: %q %v", element, k, s, err)
		return nil
	}
	return v
}

// sourceOf names the first source path or column an expression reads.
func sourceOf(x expr) string {
	switch x := x.(type) {
	case *pathExpr:
		return x.text
	case *colExpr:
		return x.name
	case *varExpr:
		if x.src != "" && !strings.HasPrefix(x.src, "$") {
			return x.src
		}
		return "$" + x.name
	case *callExpr:
		for _, a := range x.args {
			if s := sourceOf(a); s != "" {
				return s
			}
		}
	}
	return ""
}

func sourceOfCond(c *cond) string {
	if c == nil {
		return ""
	}
	if c.x != nil {
		if s := sourceOf(c.x); s != "" {
			return s
		}
	}
	for _, sub := range c.subs {
		if s := sourceOfCond(sub); s != "" {
			return s
		}
	}
	return ""
}

// ---- targets ----

type step struct {
	key  string
	idx  int // -1: plain, -2: append ([]), else index
	room int // keys the object made here will hold (see sizeRules); 0 = unknown
	arr  int // idx -2: values the array will hold
	site int // this step's place in env.rooms (see numberSites); 0: none
}

type target struct {
	padded bool // an index > 0 may pad an array with empty objects
	text   string
	plain  string // without indices, for validation and Expression
	steps  []step
	// key, of a target that is one key of the element (system, code,
	// display: most targets), is that key: set writes it without a walk.
	key string
}

var stepRE = regexp.MustCompile(`^(_?[A-Za-z][A-Za-z0-9]*)(?:\[([0-9]*)\])?$`)

func parseTarget(s string) (*target, error) {
	t := &target{text: s}
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	var plain []string
	for _, part := range strings.Split(s, ".") {
		m := stepRE.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("malformed element %q (want name, name[0] or name[])", part)
		}
		st := step{key: elementName(m[1]), idx: -1}
		switch {
		case strings.HasSuffix(part, "[]"):
			st.idx = -2
		case m[2] != "":
			st.idx, _ = strconv.Atoi(m[2])
			if st.idx > 0 {
				t.padded = true
			}
		}
		t.steps = append(t.steps, st)
		plain = append(plain, m[1])
	}
	t.plain = strings.Join(plain, ".")
	if len(t.steps) == 1 && t.steps[0].idx == -1 {
		t.key = t.steps[0].key
	}
	return t, nil
}

// elementName is name interned: the objects a mapping makes and reads
// hold its element names as one string each, so looking a key up
// (fhirout's Object.index) mostly compares the same pointer, not bytes.
func elementName(name string) string { return unique.Make(name).Value() }

func stripIdx(s string) string {
	t, err := parseTarget(s)
	if err != nil {
		return s
	}
	return t.plain
}

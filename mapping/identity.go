package mapping

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// The identity: section says where a record names its person and its
// organization (v2 fields, columns), for the identity index: the same
// expressions for messages and rows, evaluated outside Apply by Identify.
// The server's identity configuration (sources.IdentityConfig) says which
// kinds of key are built from them and how values are normalized.

// IdentityFields document the keys of the identity: section (the compiler
// accepts these, `mapping docs` lists them).
var IdentityFields = [][2]string{
	{"identifiers", "a list of identifier entries (below): every identifier of the person the record carries"},
	{"family", "the person's family name (demographics key)"},
	{"given", "the person's given name (demographics key; a placeholder such as BABY BOY disables it)"},
	{"birth_date", "the birth date, YYYYMMDD first (demographics key)"},
	{"sex", "the administrative sex code (demographics key)"},
	{"organization", "the key of the organization behind the record: the Group (one per organization) whose member the person becomes"},
	{"organization_name", "that organization's name"},
}

// IdentifierFields document the keys of one identifiers: entry.
var IdentifierFields = [][2]string{
	{"foreach", "optional: a repeating field (`PID-3[*]`); the other keys are read in each repetition"},
	{"when", "optional: a condition the identifier (repetition) must meet"},
	{"id", "the identifier value (required)"},
	{"type", "its type code: `SR` is an IIS id, the configured MRN types (MR, PI, PT) are MRNs"},
	{"authority", "its assigning authority (matched against the configured IIS authorities)"},
	{"authority_id", "the authority's universal id (matched too)"},
	{"facility", "the organization an MRN is scoped to (an MRN without one gives no key)"},
}

type identityDef struct {
	ids                           []identifierDef
	family, given, birthDate, sex expr
	orgKey, orgName               expr
	// lets are the root lets the section reads, directly or through
	// other lets, in file order: Identity evaluates only these.
	lets        []letDef
	fingerprint string
}

type identifierDef struct {
	foreach                                   *foreachDef
	when                                      *cond
	id, typ, authority, authorityID, facility expr
}

func fieldNames(docs [][2]string) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d[0]
	}
	return out
}

// compileIdentity reads the identity: section (after the root lets, which
// its expressions may read). Its fingerprint covers what its expressions
// can read by name: the section, the root lets and the constants.
func (c *compiler) compileIdentity(n, lets, consts *yaml.Node, root *cscope) {
	if n == nil {
		return
	}
	def := &identityDef{}
	f := c.fields(n, "identity", fieldNames(IdentityFields)...)
	expr := func(n *yaml.Node, what string, cs *cscope) expr {
		s, ok := c.scalar(n, "identity "+what)
		if !ok {
			return nil
		}
		return c.parseExpr(s, pos(n), cs)
	}
	if in := f["identifiers"]; in != nil {
		for _, it := range c.list(in, "identity identifiers") {
			g := c.fields(it, "an identity identifier", fieldNames(IdentifierFields)...)
			var d identifierDef
			cs := root
			if fn := g["foreach"]; fn != nil {
				d.foreach, cs = c.compileForeach(fn, nil, nil, root)
				switch {
				case d.foreach == nil || d.foreach.kind == eachRep || d.foreach.kind == eachRows:
				case c.m.source == "sql":
					c.errorf(pos(fn), "identity identifiers: foreach must be a child table (identifiers): an identifier is one row")
				default:
					c.errorf(pos(fn), "identity identifiers: foreach must be a repeating field (PID-3[*]): an identifier is one repetition")
				}
			}
			if wn := g["when"]; wn != nil {
				d.when = c.compileCond(wn, cs)
				linkCond(d.when)
			}
			if g["id"] == nil {
				c.errorf(pos(it), "an identity identifier needs id:")
			}
			d.id = expr(g["id"], "id", cs)
			d.typ = expr(g["type"], "type", cs)
			d.authority = expr(g["authority"], "authority", cs)
			d.authorityID = expr(g["authority_id"], "authority_id", cs)
			d.facility = expr(g["facility"], "facility", cs)
			def.ids = append(def.ids, d)
		}
	}
	def.family = expr(f["family"], "family", root)
	def.given = expr(f["given"], "given", root)
	def.birthDate = expr(f["birth_date"], "birth_date", root)
	def.sex = expr(f["sex"], "sex", root)
	def.orgKey = expr(f["organization"], "organization", root)
	def.orgName = expr(f["organization_name"], "organization_name", root)
	if f["organization_name"] != nil && f["organization"] == nil {
		c.errorf(pos(f["organization_name"]), "identity: organization_name without organization")
	}
	def.lets = def.readLets(c.m)
	// Comments and layout do not count: the values, decoded.
	var parts [3]any
	for i, x := range []*yaml.Node{n, lets, consts} {
		if x != nil {
			_ = x.Decode(&parts[i])
		}
	}
	b, _ := json.Marshal(parts)
	h := sha256.Sum256(b)
	def.fingerprint = fmt.Sprintf("%x", h[:8])
	c.m.identity = def
}

// readLets lists the root lets of impl that d reads, as Reads works out
// what a resource reads (deps.go: a variable is followed to its let).
func (d *identityDef) readLets(impl *mappingImpl) []letDef {
	w := depWalk{impl: impl, seen: map[int]bool{}, set: map[string]bool{}}
	for i := range d.ids {
		id := &d.ids[i]
		s := w.foreach(id.foreach, &depScope{}, loopRule)
		w.cond(id.when, s)
		for _, x := range []expr{id.id, id.typ, id.authority, id.authorityID, id.facility} {
			w.expr(x, s)
		}
	}
	for _, x := range []expr{d.family, d.given, d.birthDate, d.sex, d.orgKey, d.orgName} {
		w.expr(x, &depScope{})
	}
	var out []letDef
	for _, l := range impl.lets {
		if w.seen[l.slot] {
			out = append(out, l)
		}
	}
	return out
}

var _ sources.Identifier = (*Mapping)(nil)

// identityImpl is the mapping whose identity: section applies to m: its
// own, else (a mapping copied from the default before the section
// existed) the default mapping's, so its records still join persons.
func (m *Mapping) identityImpl() *mappingImpl {
	if m.impl != nil && m.impl.identity != nil {
		return m.impl
	}
	if m != Default() && m.impl != nil && m.impl.source == "v2" {
		return Default().impl // a relational mapping has no default section
	}
	return nil
}

// IdentityFingerprint changes when the identity: section, or a root let
// or constant it may read, changes (sources.Identifier): the index is
// rebuilt, since its person keys would differ.
func (m *Mapping) IdentityFingerprint() string {
	if impl := m.identityImpl(); impl != nil {
		return impl.identity.fingerprint
	}
	return ""
}

// Identify evaluates the identity: section on one record (sources.Identifier):
// rec is a *hl7v2.Message or a Row.
func (m *Mapping) Identify(rec any, dst *sources.Identity) error {
	switch r := rec.(type) {
	case *hl7v2.Message:
		return m.Identity(Input{Msg: r}, dst)
	case Person:
		return m.Identity(Input{Person: r}, dst)
	case Row:
		return m.Identity(Input{Row: r}, dst)
	}
	return fmt.Errorf("mapping: cannot identify a %T", rec)
}

// Identity evaluates the identity: section on in (outside Apply: the
// mapping's messages: and when: do not apply), filling dst. Expressions
// are quiet: a value a function refuses is empty. Of the root lets, only
// those the section reads are evaluated (the others cannot change dst).
// It never panics on bad input.
func (m *Mapping) Identity(in Input, dst *sources.Identity) (err error) {
	dst.Reset()
	impl := m.identityImpl()
	if impl == nil {
		return nil
	}
	e := envPool.Get().(*env)
	e.inv = in
	e.reset(impl, &e.inv, &e.outv, false)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("mapping %s: the identity section failed on this record: %v", impl.file, r)
		}
		e.inv, e.outv = Input{}, Output{}
		e.msg, e.row, e.in, e.out, e.rule, e.scope, e.person = nil, nil, nil, nil, nil, nil, nil
		envPool.Put(e)
	}()
	e.quiet = true
	root := e.newScope(scope{ownsSegs: true})
	switch {
	case impl.source == "v2" && in.Msg != nil:
		root.segs = in.Msg.Segments()
	case impl.source == "sql" && in.Row != nil:
	case impl.source == "sql" && in.Person != nil:
		e.person, e.row = in.Person, in.Person.Root() // identifiers may loop over a child's rows
	default:
		return nil
	}
	if cap(e.vars) < impl.nVars {
		e.vars = make([]string, impl.nVars)
	}
	e.vars = e.vars[:impl.nVars]
	clear(e.vars)
	def := impl.identity
	for _, l := range def.lets {
		e.vars[l.slot] = e.evalQuiet(l.x, root)
	}
	val := func(x expr, s *scope) string {
		if x == nil {
			return ""
		}
		return e.evalQuiet(x, s)
	}
	for i := range def.ids {
		d := &def.ids[i]
		one := func(s *scope) {
			if d.when != nil && !e.test(d.when, s) {
				return
			}
			id := val(d.id, s)
			if id == "" {
				return
			}
			dst.IDs = append(dst.IDs, sources.PersonID{ID: id, Type: val(d.typ, s),
				Authority: val(d.authority, s), AuthorityID: val(d.authorityID, s), Facility: val(d.facility, s)})
		}
		if d.foreach == nil {
			one(root)
			continue
		}
		items := e.rowScopes // sqlpaths.go
		if d.foreach.kind == eachRep {
			items = e.repScopes
		}
		for _, s := range items(d.foreach, root) {
			one(s)
		}
	}
	dst.Family, dst.Given = val(def.family, root), val(def.given, root)
	dst.BirthDate, dst.Sex = val(def.birthDate, root), val(def.sex, root)
	dst.OrgKey, dst.OrgName = val(def.orgKey, root), val(def.orgName, root)
	return nil
}

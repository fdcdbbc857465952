package mapping

import "strings"

// After checking, a mapping is linked: every condition and rule gets a
// closure specialised for its shape (a condition on a path reads the
// path's memo slot directly, a literal value is converted and boxed once,
// a value read from one path skips expression dispatch), so Apply runs
// closures instead of switching over rule and condition kinds.

// condFn is a linked condition.
type condFn func(e *env, s *scope) bool

// ruleFn is a linked rule: it writes into n from scope s.
type ruleFn func(e *env, s *scope, n *node)

func link(m *mappingImpl, tables map[string]*table) {
	for _, t := range tables {
		t.index = newCodeIndex(t.entries)
	}
	linkCond(m.when)
	for _, r := range m.resources {
		linkForeach(r.foreach)
		linkCond(r.when)
		linkRules(r.rules)
	}
}

func linkForeach(fe *foreachDef) {
	if fe != nil {
		linkCond(fe.where)
	}
}

func linkRules(rs []*rule) {
	for _, r := range rs {
		linkForeach(r.foreach)
		linkCond(r.when)
		for _, c := range r.cases {
			linkCond(c.when)
		}
		linkRules(r.children)
		// Every run, as every body, does nothing once the record is
		// rejected (env.rules calls them without checking).
		r.body = ruleBodyFn(r)
		r.run = r.body
		if r.foreach != nil {
			r.run = func(e *env, s *scope, n *node) {
				if !e.rejected {
					e.each(r.foreach, s, eachBody{kind: bodyRule, r: r, n: n})
				}
			}
		}
	}
}

// valueOf is how a condition reads its expression: a path's text comes
// from its memo slot (the same fields are tested again and again).
func valueOf(x expr) func(e *env, s *scope) string {
	switch x := x.(type) {
	case *pathExpr:
		return x.str
	case *varExpr:
		slot := x.slot
		return func(e *env, _ *scope) string { return e.vars[slot] }
	case *callExpr:
		return func(e *env, s *scope) string {
			v, err := x.eval(e, s)
			if err != nil {
				return e.evalFailed(x, err)
			}
			return v
		}
	}
	return func(e *env, s *scope) string { return e.eval(x, s) }
}

func linkCond(c *cond) {
	if c == nil || c.fn != nil {
		return // shared through a YAML alias: linked once
	}
	for _, sub := range c.subs {
		linkCond(sub)
	}
	if c.has != nil {
		linkForeach(c.has)
	}
	c.fn = condFnOf(c)
}

func condFnOf(c *cond) condFn {
	if p, ok := c.x.(*pathExpr); ok {
		if fn := pathCondFn(c, p); fn != nil {
			return fn
		}
	}
	switch c.kind {
	case condPresent:
		v := valueOf(c.x)
		return func(e *env, s *scope) bool { return v(e, s) != "" }
	case condEmpty:
		v := valueOf(c.x)
		return func(e *env, s *scope) bool { return v(e, s) == "" }
	case condEquals:
		v, lit := valueOf(c.x), foldLit(c.lits[0])
		return func(e *env, s *scope) bool { return lit.equal(v(e, s)) }
	case condIn:
		v := valueOf(c.x)
		lits := make([]foldLiteral, len(c.lits))
		for i, l := range c.lits {
			lits[i] = foldLit(l)
		}
		return func(e *env, s *scope) bool {
			x := v(e, s)
			for i := range lits {
				if lits[i].equal(x) {
					return true
				}
			}
			return false
		}
	case condMatches:
		v, re := valueOf(c.x), c.re
		return func(e *env, s *scope) bool { return re.MatchString(v(e, s)) }
	case condNot:
		sub := c.subs[0].fn
		return func(e *env, s *scope) bool { return !sub(e, s) }
	case condAll, condAny:
		subs := make([]condFn, len(c.subs))
		for i, sub := range c.subs {
			subs[i] = sub.fn
		}
		want := c.kind == condAny // the value that decides
		if len(subs) == 2 {
			// Most all/any have two parts: tested without the loop.
			a, b := subs[0], subs[1]
			if want {
				return func(e *env, s *scope) bool { return a(e, s) || b(e, s) }
			}
			return func(e *env, s *scope) bool { return a(e, s) && b(e, s) }
		}
		return func(e *env, s *scope) bool {
			for _, sub := range subs {
				if sub(e, s) == want {
					return want
				}
			}
			return !want
		}
	case condHas:
		// The where is the body's, not the loop's: the loop stops at the
		// first item that satisfies it.
		fe := *c.has
		fe.where = nil
		where := c.has.where
		return func(e *env, s *scope) bool {
			return !e.each(&fe, s, eachBody{kind: bodyHas, where: where})
		}
	}
	return func(*env, *scope) bool { return false }
}

// pathCondFn is condFnOf for the tests of a path's text, the most
// common conditions: p.str is called directly, not through valueOf's
// method value (a wrapper call per test). nil for other kinds.
func pathCondFn(c *cond, p *pathExpr) condFn {
	// p.str, with its first test (known) inlined: most tests read a text
	// already remembered.
	switch c.kind {
	case condPresent:
		return func(e *env, s *scope) bool {
			x, ok := p.known(e, s)
			if !ok {
				x = p.strMiss(e, s)
			}
			return x != ""
		}
	case condEmpty:
		return func(e *env, s *scope) bool {
			x, ok := p.known(e, s)
			if !ok {
				x = p.strMiss(e, s)
			}
			return x == ""
		}
	case condEquals:
		lit := foldLit(c.lits[0])
		return func(e *env, s *scope) bool {
			x, ok := p.known(e, s)
			if !ok {
				x = p.strMiss(e, s)
			}
			return lit.equal(x)
		}
	case condIn:
		lits := make([]foldLiteral, len(c.lits))
		for i, l := range c.lits {
			lits[i] = foldLit(l)
		}
		return func(e *env, s *scope) bool {
			x, ok := p.known(e, s)
			if !ok {
				x = p.strMiss(e, s)
			}
			for i := range lits {
				if lits[i].equal(x) {
					return true
				}
			}
			return false
		}
	}
	return nil
}

// ruleBodyFn is what a rule does for one item (its foreach aside).
func ruleBodyFn(r *rule) ruleFn {
	var when condFn
	if r.when != nil {
		when = r.when.fn
	}
	switch {
	case r.issue != "":
		return func(e *env, s *scope, n *node) {
			if e.rejected || when != nil && !when(e, s) {
				return
			}
			e.rule, e.scope = r, s
			if r.reject {
				e.reject(r.code, r.issue)
			} else {
				e.issue("warning", r.code, r.issue)
			}
		}
	case r.children != nil:
		return func(e *env, s *scope, n *node) {
			if e.rejected || when != nil && !when(e, s) {
				return
			}
			e.rule, e.scope = r, s
			// The block's element is made only when a nested rule writes,
			// so a block with nothing to say leaves no empty object behind.
			target := n
			if r.tgt != nil {
				for i := range r.tgt.steps {
					target = e.newNode(target, &r.tgt.steps[i])
				}
			}
			before := e.sets
			e.rules(r.children, s, target)
			if r.required && e.sets == before && !e.rejected {
				e.rule, e.scope = r, s
				e.reject("required", r.element+" is required and no rule gave it a value")
			}
		}
	}
	// A value: constant (const:, or a literal converted at Load), from one
	// path, or computed.
	constant := r.constant
	if lit, ok := r.value.(*litExpr); ok && lit.s != "" && r.cases == nil {
		if v, err := convert(r.kind, lit.s); err == nil {
			constant = v
		}
	}
	if constant != nil {
		return func(e *env, s *scope, n *node) {
			if e.rejected || when != nil && !when(e, s) {
				return
			}
			e.rule, e.scope = r, s
			if !e.rejected { // testing when may have rejected
				e.set(n, r.tgt, constant, "")
			}
		}
	}
	if p, ok := r.value.(*pathExpr); ok && r.cases == nil {
		return func(e *env, s *scope, n *node) {
			if e.rejected || when != nil && !when(e, s) {
				return
			}
			e.rule, e.scope = r, s
			if e.rejected {
				return
			}
			raw, ok := p.known(e, s)
			if !ok {
				raw = p.strMiss(e, s)
			}
			e.writeRaw(r, n, raw)
		}
	}
	if x := r.value; x != nil && r.cases == nil && r.constant == nil {
		// A computed value (ruleValue's work without its dispatch).
		c, _ := x.(*callExpr)
		return func(e *env, s *scope, n *node) {
			if e.rejected || when != nil && !when(e, s) {
				return
			}
			e.rule, e.scope = r, s
			var raw string
			var err error
			if c != nil {
				raw, err = c.eval(e, s)
			} else {
				raw, err = x.eval(e, s)
			}
			if err != nil {
				raw = e.evalFailed(x, err)
			}
			if e.rejected {
				return
			}
			e.writeRaw(r, n, raw)
		}
	}
	return func(e *env, s *scope, n *node) {
		if e.rejected || when != nil && !when(e, s) {
			return
		}
		e.rule, e.scope = r, s
		v, src := e.ruleValue(r, s)
		if e.rejected {
			return
		}
		if v == nil {
			if r.required {
				e.reject("required", r.element+" is required and has no value")
			}
			return
		}
		e.set(n, r.tgt, v, src)
	}
}

// noValue is what a value rule does when its value is empty: its
// default, or a rejection when required.
func (e *env) noValue(r *rule, n *node) {
	switch {
	case r.def != nil:
		e.set(n, r.tgt, r.def, "")
	case r.required:
		e.reject("required", r.element+" is required and has no value")
	}
}

// foldLiteral is a literal compared with strings.EqualFold, most often a
// short code (RE, NA, D) against a field's value.
type foldLiteral struct {
	s string
	// ascii: s is ASCII without k or s, the only ASCII letters a
	// non-ASCII rune folds to (the Kelvin sign, the long s); only a value
	// of the same length equal to s in ASCII case folding then folds to
	// it, which equal tests without decoding runes.
	ascii bool
	// exact: s is ASCII without letters (a code such as 998 or 30963-3),
	// which only the same bytes fold to: equal is a string comparison.
	exact bool
	// short: s is ascii or exact, of 1 to 8 bytes (most codes). equal
	// then compares words of the value with head and tail, s's words
	// with its letters in lower case, after setting the case bit (0x20)
	// of the value's bytes where s has letters (hmask, tmask): a byte
	// with that bit set is a lower-case letter only if it was that
	// letter or its upper case. The words are the first and last four
	// bytes, or (shorter) the first, middle and last bytes.
	short        bool
	head, tail   uint32
	hmask, tmask uint32
}

// word4 reads four bytes of s from i on as one word.
func word4(s string, i int) uint32 {
	s = s[i : i+4]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// word3 reads s's first, middle and last bytes as one word (s is 1 to 3
// bytes: each byte is one of them).
func word3(s string) uint32 {
	return uint32(s[0]) | uint32(s[len(s)/2])<<8 | uint32(s[len(s)-1])<<16
}

func foldLit(s string) foldLiteral {
	l := foldLiteral{s: s, ascii: true, exact: true}
	lower, mask := []byte(s), make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if s[i] >= 0x80 || c == 'k' || c == 's' {
			l.ascii = false
		}
		if s[i] >= 0x80 || c >= 'a' && c <= 'z' {
			l.exact = false
		}
		if s[i] < 0x80 && c >= 'a' && c <= 'z' {
			lower[i], mask[i] = c, 0x20
		}
	}
	switch n := len(s); {
	case !l.ascii && !l.exact || n == 0 || n > 8:
	case n >= 4:
		l.short = true
		l.head, l.tail = word4(string(lower), 0), word4(string(lower), n-4)
		l.hmask, l.tmask = word4(string(mask), 0), word4(string(mask), n-4)
	default:
		l.short = true
		l.head, l.hmask = word3(string(lower)), word3(string(mask))
	}
	return l
}

// equal is strings.EqualFold(x, l.s).
func (l *foldLiteral) equal(x string) bool {
	if l.short {
		n := len(x)
		if n != len(l.s) {
			return false
		}
		if n >= 4 {
			return word4(x, 0)|l.hmask == l.head && word4(x, n-4)|l.tmask == l.tail
		}
		return word3(x)|l.hmask == l.head
	}
	if l.exact {
		return x == l.s
	}
	return l.fold(x)
}

// fold is equal for a literal with letters.
func (l *foldLiteral) fold(x string) bool {
	if !l.ascii {
		return strings.EqualFold(x, l.s)
	}
	if len(x) != len(l.s) {
		return false
	}
	for i := 0; i < len(x); i++ {
		a, b := x[i], l.s[i]
		if a != b && (a|0x20 != b|0x20 || b|0x20 < 'a' || b|0x20 > 'z') {
			return false
		}
	}
	return true
}

// writeRaw converts a value rule's raw text to its type and writes it
// (the direct rule shapes' ending, as ruleValue and the generic body).
func (e *env) writeRaw(r *rule, n *node, raw string) {
	if raw == "" {
		e.noValue(r, n)
		return
	}
	v, err := e.convertTo(r.kind, raw)
	if err != nil {
		e.badValue(r, r.source, err)
		if r.required {
			e.reject("required", r.element+" is required and has no value")
		}
		return
	}
	e.set(n, r.tgt, v, r.source)
}

package mapping

// Unbuilt instances.
//
// Input.Want lets the export ask for a few resources of a record (only
// its Patient, or only the Immunization of ORDER group 5 of 10). A
// refused instance used to run its when, lets and id all the same, and
// those were most of the cost of such a call. What an unbuilt instance
// can leave behind that anyone sees:
//
//   - its id, through its as: variable ($patient);
//   - its let values, read by anything but its own lets, id and rules
//     (another resource, a top-level rule, or its own when: of the next
//     instance, which runs before the lets are computed again);
//   - issues raised while evaluating them (a table whose policy warns or
//     drops warns even in an id or let);
//   - the count of started instances (env.started): a resource whose id
//     rule gives nothing gets a default id from its place in the output,
//     so every earlier instance whose when: held counts.
//
// compile decides per resource which of these can happen (skipUnbuilt,
// whenPure, needStarted) and env.unbuilt does only what is needed. When
// the count matters and the when: is pure and reads no variable, its
// evaluation is even put off until a default id is actually made
// (env.settle): its value only depends on the item's scope.

// noteVarRead records, while compiling, that the variable in slot is read
// by the expression being compiled. A read of a resource's let or as:
// variable from outside that resource's lets, id and rules makes the
// resource's unbuilt instances observable.
func (c *compiler) noteVarRead(slot int) {
	owner := c.slotOwner[slot]
	if owner != nil && (owner != c.curRes || !c.inner) {
		owner.observed = true
	}
}

// analyzeUnbuilt fills in skipUnbuilt, whenPure, whenLater and
// needStarted of every resource (after all are compiled).
func analyzeUnbuilt(m *mappingImpl) {
	later := false // some resource from here on may make a default id
	for i := len(m.resources) - 1; i >= 0; i-- {
		r := m.resources[i]
		later = later || r.id == nil || !neverEmpty(r.id)
		r.needStarted = later
		quiet := r.id == nil || quietSafe(r.id)
		for _, l := range r.lets {
			quiet = quiet && quietSafe(l.x)
		}
		r.skipUnbuilt = !r.observed && quiet
		r.whenPure = condPure(r.when)
		r.whenLater = r.whenPure && !condReadsVars(r.when)
	}
}

// quietSafe reports whether evaluating x quietly (ids, lets) can raise no
// issue: only a code lookup in a table whose policy warns or drops does.
func quietSafe(x expr) bool {
	c, ok := x.(*callExpr)
	if !ok {
		return true
	}
	if ref, ok := c.data.(*tableRef); ok && ref.field == "code" {
		switch ref.t.policy.Name {
		case "warn", "drop":
			return false
		}
	}
	for _, a := range c.args {
		if !quietSafe(a) {
			return false
		}
	}
	return true
}

// neverEmpty reports whether x always gives a non-empty value (so an id
// rule x never falls back to the default id). It may say false for an
// expression that is never empty; only true must be sure.
func neverEmpty(x expr) bool {
	switch x := x.(type) {
	case *litExpr:
		return x.s != ""
	case *callExpr:
		if !allPure(x.args) { // an argument's error makes the call fail
			return false
		}
		switch x.fn.Name {
		case "hash", "uuid":
			return true
		case "first_nonempty", "concat":
			for _, a := range x.args {
				if neverEmpty(a) {
					return true
				}
			}
		case "if":
			return len(x.args) == 3 && neverEmpty(x.args[1]) && neverEmpty(x.args[2])
		}
	}
	return false
}

// condPure reports whether testing c can raise no issue and reject
// nothing: every expression it evaluates is pure.
func condPure(c *cond) bool {
	if c == nil {
		return true
	}
	if c.x != nil && !allPure([]expr{c.x}) {
		return false
	}
	for _, s := range c.subs {
		if !condPure(s) {
			return false
		}
	}
	if c.has != nil && !condPure(c.has.where) {
		return false
	}
	return true
}

// condReadsVars reports whether testing c reads a variable.
func condReadsVars(c *cond) bool {
	if c == nil {
		return false
	}
	if c.x != nil && readsVars(c.x) {
		return true
	}
	for _, s := range c.subs {
		if condReadsVars(s) {
			return true
		}
	}
	return c.has != nil && condReadsVars(c.has.where)
}

// pendingStart is an unbuilt instance whose when: is yet to be counted:
// in scope s, or, when s is nil, in ORDER group order of parent.
type pendingStart struct {
	r      *resourceDef
	s      *scope
	parent *scope
	order  int
}

// unbuilt does for an instance Input.Want refused what others may see of
// it (see the top of this file).
func (e *env) unbuilt(r *resourceDef, s *scope) {
	switch {
	case !r.whenPure:
		// Its when: may raise an issue: test it now, as a built one.
	case !r.needStarted:
		return // nothing will ever count it
	case r.whenLater:
		e.pending = append(e.pending, pendingStart{r: r, s: s})
		return
	}
	if r.when != nil && !e.test(r.when, s) {
		return
	}
	e.started++
}

// wantedOrders is each over ORDER groups for a resource whose refused
// instances are skippable (skipUnbuilt, whenPure) and whose foreach has
// no where: the groups are only counted (one per RXA segment, as
// Message.Orders makes them) and Want is asked about each index; the
// groups themselves (Message.Orders: a dozen allocations) are made only
// when an instance is built or its when: must be tested. A call for the
// Patient alone then never looks at the doses.
func (e *env) wantedOrders(r *resourceDef, root *scope) {
	n := 0
	for _, seg := range e.msg.Segments() {
		if seg.Name() == "RXA" {
			n++
		}
	}
	want := e.in.Want
	for k := range n {
		if want(r.typ, k) {
			e.instance(r, e.orderScope(root, k), true)
			continue
		}
		// e.unbuilt, the scope made only when needed.
		e.rule, e.scope, e.rejected = nil, root, false
		switch {
		case !r.needStarted:
		case r.whenLater:
			e.pending = append(e.pending, pendingStart{r: r, parent: root, order: k})
		default:
			if is := e.orderScope(root, k); r.when == nil || e.test(r.when, is) {
				e.started++
			}
		}
	}
}

// loadOrders reads the message's ORDER groups once per Apply.
func (e *env) loadOrders() {
	if !e.ordersOK && e.msg != nil {
		e.orders, e.ordersOK = e.msg.Orders(), true
	}
}

// orderScope is a new scope for ORDER group k (0-based) under s.
func (e *env) orderScope(s *scope, k int) *scope {
	e.loadOrders()
	return e.segScope(s, e.orders[k].All, "ORDER", k+1)
}

// settle counts the put-off instances whose when: holds, so e.started is
// what it would be had every instance been tested in turn.
func (e *env) settle() {
	for _, p := range e.pending {
		if p.s == nil {
			p.s = e.orderScope(p.parent, p.order)
		}
		if p.r.when == nil || e.test(p.r.when, p.s) {
			e.started++
		}
	}
	clear(e.pending)
	e.pending = e.pending[:0]
}

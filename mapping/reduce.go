package mapping

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/fhirout"
)

// Reduction declares how the resources of one type are reduced across a
// person's records (the `reduce:` section): by which reducer, and which
// of the resource's elements the reducer reads (FHIR element paths, see
// ElementPath), so the code that reduces never names a mapped element.
type Reduction struct {
	Type     string
	By       string                  // a Reducers name
	Elements map[string]*ElementPath // role → element path
}

// Reducers are the reductions a mapping may name, with the element roles
// each reads (pipeline implements them; a type without a `reduce:` entry
// is reduced by "newest").
var Reducers = map[string][]string{
	// One resource per person: every record's merged, newest first.
	"merge": nil,
	// One resource per dose (vaccine + day): the sender's dose id chains
	// updates and deletions, the best live record wins.
	"doses": {"dose_id", "vaccine", "vaccine_system", "day", "deleted", "primary"},
	// The newest record of each id.
	"newest": nil,
}

// OptionalRoles are the element roles a reducer reads when the mapping
// declares them. newest's deleted (e.g. 'status=entered-in-error') marks
// the resources made from deleted source rows, which an export lists
// under deleted instead of sending (a relational source maps a
// soft-deleted row, so that the deletion is seen).
var OptionalRoles = map[string][]string{
	"newest": {"deleted"},
}

// Reduction is how resources of type t are reduced: the mapping's
// `reduce:` entry, else "newest". A mapping without a `reduce:` section
// (one copied from the default before the section existed) reduces as
// the default mapping declares, so its Patients still merge and its doses
// still reduce.
func (m *Mapping) Reduction(t string) Reduction {
	red := m.impl.reduce
	if red == nil && m != Default() {
		red = Default().impl.reduce
	}
	if r, ok := red[t]; ok {
		return r
	}
	return Reduction{Type: t, By: "newest"}
}

// compileReduce reads the `reduce:` section: type: {by: NAME, ROLE: PATH}.
func (c *compiler) compileReduce(n *yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind != yaml.MappingNode {
		c.errorf(pos(n), "reduce must be a mapping of resource type: {by: reducer, element roles}")
		return
	}
	out := map[string]Reduction{} // present, even empty: no default entries
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var roles []string
		allowed := []string{"by"}
		f := deref(v)
		if by := fieldValue(f, "by"); by != "" {
			r, ok := Reducers[by]
			if !ok {
				c.errorf(pos(k), "reduce %s: unknown reducer %q (known: %s)", k.Value, by, strings.Join(sortedKeys(Reducers), ", "))
				continue
			}
			roles = r
		}
		allowed = append(allowed, roles...)
		allowed = append(allowed, OptionalRoles[fieldValue(f, "by")]...)
		fs := c.fields(f, "reduce "+k.Value, allowed...)
		by, ok := c.scalar(fs["by"], "by")
		if !ok {
			c.errorf(pos(k), "reduce %s: by: names no reducer", k.Value)
			continue
		}
		red := Reduction{Type: k.Value, By: by, Elements: map[string]*ElementPath{}}
		for _, role := range OptionalRoles[by] {
			if fs[role] == nil {
				continue
			}
			if p, ok := c.scalar(fs[role], role); ok {
				ep, err := ParseElementPath(p)
				if err != nil {
					c.errorf(pos(fs[role]), "reduce %s: %v", k.Value, err)
					continue
				}
				red.Elements[role] = ep
			}
		}
		for _, role := range roles {
			p, ok := c.scalar(fs[role], role)
			if !ok {
				c.errorf(pos(k), "reduce %s: the %s reducer needs %s:", k.Value, by, role)
				continue
			}
			if strings.HasPrefix(p, "$") {
				if v, ok := c.consts[p[1:]]; ok {
					p = v
				} else {
					c.errorf(pos(fs[role]), "reduce %s: unknown constant %s", k.Value, p)
				}
			}
			if role == "vaccine_system" { // a value, not a path
				red.Elements[role] = &ElementPath{src: p}
				continue
			}
			ep, err := ParseElementPath(p)
			if err != nil {
				c.errorf(pos(fs[role]), "reduce %s: %v", k.Value, err)
				continue
			}
			red.Elements[role] = ep
		}
		out[k.Value] = red
	}
	c.m.reduce = out
}

func fieldValue(n *yaml.Node, key string) string {
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// ElementPath reads elements of a built resource: dotted element names
// (`vaccineCode.coding`), each optionally filtered by `[path=value]`
// (`identifier[type.coding.code=FILL]`), alternatives separated by `|`
// (the first that gives a value wins: `occurrenceDateTime|occurrenceString`),
// and an optional test `=value` at the end (`status=entered-in-error`).
// Repeating elements are flattened.
type ElementPath struct {
	src    string
	alts   [][]pathStep
	test   string
	tested bool
}

type pathStep struct {
	name        string
	filter      []string   // element names of the filter path
	filterSteps []pathStep // the same, as steps
	filterWant  string
}

func (p *ElementPath) String() string { return p.src }

// ParseElementPath compiles an element path.
func ParseElementPath(s string) (*ElementPath, error) {
	p := &ElementPath{src: s}
	body := s
	if i := strings.LastIndexByte(s, '='); i >= 0 && !strings.Contains(s[i:], "]") {
		body, p.test, p.tested = s[:i], s[i+1:], true
	}
	for _, alt := range strings.Split(body, "|") {
		var steps []pathStep
		rest := strings.TrimSpace(alt)
		for rest != "" {
			var seg string
			if j := strings.IndexAny(rest, ".["); j < 0 {
				seg, rest = rest, ""
			} else if rest[j] == '.' {
				seg, rest = rest[:j], rest[j+1:]
			} else {
				seg = rest[:j]
				end := strings.IndexByte(rest, ']')
				if end < j {
					return nil, fmt.Errorf("element path %q: [ without ]", s)
				}
				fp, fv, ok := strings.Cut(rest[j+1:end], "=")
				if !ok || fp == "" {
					return nil, fmt.Errorf("element path %q: a filter is [path=value]", s)
				}
				st := pathStep{name: elementName(seg), filter: strings.Split(fp, "."), filterWant: fv}
				for _, n := range st.filter {
					st.filterSteps = append(st.filterSteps, pathStep{name: elementName(n)})
				}
				steps = append(steps, st)
				rest = strings.TrimPrefix(rest[end+1:], ".")
				continue
			}
			if seg == "" {
				return nil, fmt.Errorf("element path %q: empty element name", s)
			}
			steps = append(steps, pathStep{name: elementName(seg)})
		}
		if len(steps) == 0 {
			return nil, fmt.Errorf("element path %q: empty alternative", s)
		}
		p.alts = append(p.alts, steps)
	}
	return p, nil
}

// Values are the values at the path in o (the first alternative that has
// any): *fhirout.Object for complex elements, else string, bool or a
// number.
func (p *ElementPath) Values(o *fhirout.Object) []any {
	return p.AppendValues(nil, o)
}

// AppendValues appends Values(o) to dst: with a reused dst, reading a
// path allocates nothing.
func (p *ElementPath) AppendValues(dst []any, o *fhirout.Object) []any {
	for _, steps := range p.alts {
		n := len(dst)
		eachAt(o, steps, func(v any) bool {
			dst = append(dst, v)
			return true
		})
		if len(dst) > n {
			return dst
		}
	}
	return dst
}

// first calls fn with the values of the first alternative that has any,
// until fn returns false.
func (p *ElementPath) first(o *fhirout.Object, fn func(any) bool) {
	for _, steps := range p.alts {
		found := false
		eachAt(o, steps, func(v any) bool {
			found = true
			return fn(v)
		})
		if found {
			return
		}
	}
}

// Holds says whether the path's test holds for o: some value equals the
// test value, or, without a test, some value is true.
func (p *ElementPath) Holds(o *fhirout.Object) bool {
	holds := false
	p.first(o, func(v any) bool {
		if p.tested {
			s, ok := v.(string)
			holds = ok && s == p.test
		} else {
			b, ok := v.(bool)
			holds = ok && b
		}
		return !holds
	})
	return holds
}

// String1 is the first value at the path as a string ("" when none or
// not a primitive).
func (p *ElementPath) String1(o *fhirout.Object) string {
	out := ""
	p.first(o, func(v any) bool {
		s, ok := v.(string)
		if ok {
			out = s
		}
		return !ok
	})
	return out
}

// eachAt calls fn with each value at steps below v, in document order
// (repeating elements flattened, filters applied), until fn returns
// false; it returns false when fn did.
func eachAt(v any, steps []pathStep, fn func(any) bool) bool {
	if len(steps) == 0 {
		return fn(v)
	}
	o, ok := v.(*fhirout.Object)
	if !ok {
		return true
	}
	st := &steps[0]
	x, ok := o.Get(st.name)
	if !ok {
		return true
	}
	if l, ok := x.([]any); ok {
		for _, it := range l {
			if st.filter != nil && !filterHolds(it, st) {
				continue
			}
			if !eachAt(it, steps[1:], fn) {
				return false
			}
		}
		return true
	}
	if st.filter != nil && !filterHolds(x, st) {
		return true
	}
	return eachAt(x, steps[1:], fn)
}

// filterHolds says whether some string at the filter's path below it is
// the value the filter wants.
func filterHolds(it any, st *pathStep) bool {
	if _, ok := it.(*fhirout.Object); !ok {
		return false
	}
	holds := false
	eachAt(it, st.filterSteps, func(v any) bool {
		s, ok := v.(string)
		holds = ok && s == st.filterWant
		return !holds
	})
	return holds
}

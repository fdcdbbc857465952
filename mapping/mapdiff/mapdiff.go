// Package mapdiff shows what a mapping change does before it goes live:
// it maps a sample of real messages with a base mapping and a draft and
// reports which FHIR elements and values change, which resources appear or
// vanish and which warnings and errors appear or disappear, each with a
// count and one example.
//
// Messages are compared one by one (no identity or history reduction:
// that step is the same for both mappings). Within a message, resources
// are paired by id, else by type and order of emission; within a resource, elements
// are compared by path with array indexes folded
// (Patient.identifier.value), as multisets of values, so a new repetition
// at the front does not make every later one look changed.
package mapdiff

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// Record is one sampled message.
type Record struct {
	Data []byte // the message, segments ended by \r
	Loc  sources.Location
}

// Sample reads every message under paths and keeps n of them, chosen
// uniformly at random (reservoir sampling) with a generator seeded by
// seed, so the same archive and seed give the same sample. The records
// come back in archive order; seen is the number of messages read.
// Memory is bounded by the n messages kept.
func Sample(ctx context.Context, paths []string, n int, seed uint64) (recs []Record, seen int, err error) {
	if n < 1 {
		return nil, 0, fmt.Errorf("sample size must be at least 1, not %d", n)
	}
	rd, err := v2archive.Open(paths, v2archive.Options{})
	if err != nil {
		return nil, 0, err
	}
	defer rd.Close()
	rng := rand.New(rand.NewPCG(seed, 0x1115b41d9e))
	type kept struct {
		ord int
		rec Record
	}
	var res []kept
	for {
		if seen%256 == 0 && ctx.Err() != nil {
			return nil, seen, ctx.Err()
		}
		it, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, seen, err
		}
		if it.Err != nil || it.Data == nil {
			continue
		}
		seen++
		j := seen - 1
		if len(res) < n {
			res = append(res, kept{j, Record{Data: slices.Clone(it.Data), Loc: it.Loc}})
		} else if k := rng.IntN(seen); k < n {
			res[k] = kept{j, Record{Data: slices.Clone(it.Data), Loc: it.Loc}}
		}
	}
	sort.Slice(res, func(a, b int) bool { return res[a].ord < res[b].ord })
	recs = make([]Record, len(res))
	for i, k := range res {
		recs[i] = k.rec
	}
	return recs, seen, nil
}

// Report is what changes between the base and the draft mapping.
type Report struct {
	Messages  int              `json:"messages"` // messages compared
	Unparsed  int              `json:"unparsed"` // messages that did not parse (not compared)
	Changed   int              `json:"changed"`  // messages whose resources or issues differ
	Elements  []ElementChange  `json:"elements"`
	Resources []ResourceChange `json:"resources"`
	Issues    []IssueChange    `json:"issues"`
}

// Example points at one message where a change happens.
type Example struct {
	Record   int    `json:"record"`   // index in the sample
	Where    string `json:"where"`    // the message's location in the archive
	Resource string `json:"resource"` // Type/id (the draft's, or the base's when it vanished)
	Before   string `json:"before,omitempty"`
	After    string `json:"after,omitempty"`
}

// ValueChange is one before → after pair of an element, with how many
// resources had it. Before or After is empty when the value was added or
// removed.
type ValueChange struct {
	Before string `json:"before"`
	After  string `json:"after"`
	Count  int    `json:"count"`
}

// ElementChange is one element whose values differ.
type ElementChange struct {
	Element string        `json:"element"` // path without indexes, e.g. Immunization.vaccineCode.coding.display
	Kind    string        `json:"kind"`    // added (absent in base), removed (absent in draft) or changed
	Count   int           `json:"count"`   // resources where it differs
	Values  []ValueChange `json:"values"`  // the commonest pairs, at most MaxValues
	Example Example       `json:"example"`
}

// ResourceChange counts resources of one type that only one mapping emits.
type ResourceChange struct {
	Type     string    `json:"type"`
	Appeared int       `json:"appeared"` // emitted by the draft only
	Vanished int       `json:"vanished"` // emitted by the base only
	Examples []Example `json:"examples"` // one appeared and/or one vanished
}

// IssueChange counts one kind of issue that only one mapping raises.
type IssueChange struct {
	Severity    string  `json:"severity"`
	Kind        string  `json:"kind"` // the text, quoted values folded
	Appeared    int     `json:"appeared"`
	Disappeared int     `json:"disappeared"`
	Rule        string  `json:"rule,omitempty"` // the rule that raises it (draft's for appeared, base's else)
	Example     Example `json:"example"`
}

// MaxValues bounds ElementChange.Values.
const MaxValues = 5

// Compare maps every record with both mappings and reports the
// differences, most frequent first.
func Compare(base, draft *mapping.Mapping, recs []Record) *Report {
	c := newCollector()
	for i, r := range recs {
		msg, err := hl7v2.Parse(r.Data)
		if err != nil {
			c.rep.Unparsed++
			continue
		}
		c.rep.Messages++
		in := mapping.Input{Msg: msg, Loc: r.Loc}
		a := base.Apply(in, false)
		b := draft.Apply(in, false)
		if c.add(i, r.Loc.String(), a, b) {
			c.rep.Changed++
		}
	}
	return c.report()
}

// Delta is one element that differs within one message, with its full
// path (indexes kept), for highlighting a single conversion.
type Delta struct {
	Resource string `json:"resource"` // Type/id of the draft's resource (the base's when vanished)
	Element  string `json:"element"`  // e.g. Patient.name[0].family; the resource type alone when it appeared or vanished
	Kind     string `json:"kind"`     // added, removed, changed
	Before   string `json:"before,omitempty"`
	After    string `json:"after,omitempty"`
}

// Deltas lists the elements that differ between two conversions of one
// message, indexes kept (a repetition added in front shows as changes of
// the later ones: use Compare for counts).
func Deltas(base, draft mapping.Output) []Delta {
	var out []Delta
	for _, p := range pairResources(base.Resources, draft.Resources) {
		switch {
		case p.a == nil:
			out = append(out, Delta{Resource: ref(p.b), Element: p.b.ResourceType(), Kind: "added"})
			continue
		case p.b == nil:
			out = append(out, Delta{Resource: ref(p.a), Element: p.a.ResourceType(), Kind: "removed"})
			continue
		}
		fa, fb := map[string]string{}, map[string]string{}
		flatten(p.a, p.a.ResourceType(), true, func(k, v string) { fa[k] = v })
		var order []string
		flatten(p.b, p.b.ResourceType(), true, func(k, v string) { fb[k] = v; order = append(order, k) })
		for _, k := range order {
			va, ok := fa[k]
			switch {
			case !ok:
				out = append(out, Delta{Resource: ref(p.b), Element: k, Kind: "added", After: fb[k]})
			case va != fb[k]:
				out = append(out, Delta{Resource: ref(p.b), Element: k, Kind: "changed", Before: va, After: fb[k]})
			}
		}
		var gone []string
		for k := range fa {
			if _, ok := fb[k]; !ok {
				gone = append(gone, k)
			}
		}
		sort.Strings(gone)
		for _, k := range gone {
			out = append(out, Delta{Resource: ref(p.b), Element: k, Kind: "removed", Before: fa[k]})
		}
	}
	return out
}

// IssueKind folds an issue's text into its kind: quoted values and line
// numbers replaced, so "code "45" is not in table cvx" and "code "08" …"
// count as one.
func IssueKind(text string) string {
	return lineNo.ReplaceAllString(quoted.ReplaceAllString(text, `"…"`), "line N")
}

var (
	quoted = regexp.MustCompile(`"[^"]*"`)
	lineNo = regexp.MustCompile(`\bline [0-9]+`)
)

// ---- collecting ----

type elemKey struct{ elem, kind string }

type elemAcc struct {
	count   int
	values  map[[2]string]int
	example Example
}

type issueKey struct{ sev, kind string }

type issueAcc struct {
	appeared, disappeared int
	rule                  string
	example               Example
}

type resAcc struct {
	appeared, vanished int
	exAppeared, exGone *Example
}

type collector struct {
	rep    Report
	elems  map[elemKey]*elemAcc
	res    map[string]*resAcc
	issues map[issueKey]*issueAcc
}

func newCollector() *collector {
	return &collector{elems: map[elemKey]*elemAcc{}, res: map[string]*resAcc{}, issues: map[issueKey]*issueAcc{}}
}

type pair struct{ a, b *fhirout.Object }

// pairResources pairs the resources of two outputs: same type and id
// first, then the rest by type and order (a mapping change that changes
// ids still pairs the resources it renamed).
func pairResources(as, bs []*fhirout.Object) []pair {
	usedA := make([]bool, len(as))
	matchB := make([]int, len(bs))
	byRef := map[string][]int{}
	for i, a := range as {
		byRef[ref(a)] = append(byRef[ref(a)], i)
	}
	for j, b := range bs {
		matchB[j] = -1
		if l := byRef[ref(b)]; len(l) > 0 {
			matchB[j], usedA[l[0]] = l[0], true
			byRef[ref(b)] = l[1:]
		}
	}
	for j, b := range bs {
		if matchB[j] >= 0 {
			continue
		}
		for i, a := range as {
			if !usedA[i] && a.ResourceType() == b.ResourceType() {
				matchB[j], usedA[i] = i, true
				break
			}
		}
	}
	var out []pair
	for j, b := range bs {
		if matchB[j] >= 0 {
			out = append(out, pair{as[matchB[j]], b})
		} else {
			out = append(out, pair{nil, b})
		}
	}
	for i, a := range as { // the base's leftovers vanished
		if !usedA[i] {
			out = append(out, pair{a, nil})
		}
	}
	return out
}

func ref(o *fhirout.Object) string { return o.ResourceType() + "/" + o.ID() }

// add compares one message's two outputs; it reports whether they differ.
func (c *collector) add(rec int, where string, a, b mapping.Output) bool {
	changed := false
	ex := func(o *fhirout.Object) Example { return Example{Record: rec, Where: where, Resource: ref(o)} }
	for _, p := range pairResources(a.Resources, b.Resources) {
		if p.a == nil || p.b == nil {
			changed = true
			o := p.a
			if o == nil {
				o = p.b
			}
			r := c.res[o.ResourceType()]
			if r == nil {
				r = &resAcc{}
				c.res[o.ResourceType()] = r
			}
			e := ex(o)
			if p.a == nil {
				r.appeared++
				if r.exAppeared == nil {
					r.exAppeared = &e
				}
			} else {
				r.vanished++
				if r.exGone == nil {
					r.exGone = &e
				}
			}
			continue
		}
		va, vb := foldedValues(p.a), foldedValues(p.b)
		keys := map[string]bool{}
		for k := range va {
			keys[k] = true
		}
		for k := range vb {
			keys[k] = true
		}
		for k := range keys {
			before, after := minus(va[k], vb[k]), minus(vb[k], va[k])
			if len(before) == 0 && len(after) == 0 {
				continue
			}
			changed = true
			kind := "changed"
			switch {
			case len(va[k]) == 0:
				kind = "added"
			case len(vb[k]) == 0:
				kind = "removed"
			}
			ek := elemKey{k, kind}
			acc := c.elems[ek]
			bs, as := strings.Join(before, " | "), strings.Join(after, " | ")
			if acc == nil {
				e := ex(p.b)
				e.Before, e.After = bs, as
				acc = &elemAcc{values: map[[2]string]int{}, example: e}
				c.elems[ek] = acc
			}
			acc.count++
			acc.values[[2]string{bs, as}]++
		}
	}
	// Issues: multisets of (severity, kind) per message.
	ia, ib := issueCounts(a.Issues), issueCounts(b.Issues)
	for k, n := range ib {
		if d := n.n - ia[k].n; d > 0 {
			changed = true
			acc := c.issue(k, n.rule, Example{Record: rec, Where: where})
			acc.appeared += d
		}
	}
	for k, n := range ia {
		if d := n.n - ib[k].n; d > 0 {
			changed = true
			acc := c.issue(k, n.rule, Example{Record: rec, Where: where})
			acc.disappeared += d
		}
	}
	return changed
}

func (c *collector) issue(k issueKey, rule string, e Example) *issueAcc {
	acc := c.issues[k]
	if acc == nil {
		acc = &issueAcc{rule: rule, example: e}
		c.issues[k] = acc
	}
	return acc
}

type issueCount struct {
	n    int
	rule string
}

func issueCounts(issues []fhirout.Issue) map[issueKey]issueCount {
	m := map[issueKey]issueCount{}
	for _, is := range issues {
		k := issueKey{is.Severity, IssueKind(is.Diagnostics)}
		ic := m[k]
		ic.n++
		if ic.rule == "" {
			ic.rule = is.Rule
		}
		m[k] = ic
	}
	return m
}

// minus is the multiset difference a − b of sorted lists.
func minus(a, b []string) []string {
	var out []string
	i, j := 0, 0
	for i < len(a) {
		switch {
		case j >= len(b) || a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] == b[j]:
			i++
			j++
		default:
			j++
		}
	}
	return out
}

// foldedValues maps each leaf path without indexes to its sorted values.
func foldedValues(o *fhirout.Object) map[string][]string {
	m := map[string][]string{}
	flatten(o, o.ResourceType(), false, func(k, v string) { m[k] = append(m[k], v) })
	for _, v := range m {
		sort.Strings(v)
	}
	return m
}

// flatten calls f for every leaf of o with its path (with [i] indexes
// when indexed) and its value as text.
func flatten(o *fhirout.Object, prefix string, indexed bool, f func(path, value string)) {
	for k, v := range o.All() {
		if k == "resourceType" {
			continue
		}
		flattenValue(v, prefix+"."+k, indexed, f)
	}
}

func flattenValue(v any, path string, indexed bool, f func(string, string)) {
	idx := func(i int) string {
		if indexed {
			return fmt.Sprintf("%s[%d]", path, i)
		}
		return path
	}
	switch x := v.(type) {
	case *fhirout.Object:
		flatten(x, path, indexed, f)
	case []any:
		for i, e := range x {
			flattenValue(e, idx(i), indexed, f)
		}
	case []string:
		for i, e := range x {
			f(idx(i), e)
		}
	case []*fhirout.Object:
		for i, e := range x {
			flatten(e, idx(i), indexed, f)
		}
	case nil:
		f(path, "null")
	case string:
		f(path, x)
	default:
		f(path, fmt.Sprint(x))
	}
}

func (c *collector) report() *Report {
	r := c.rep
	r.Elements = []ElementChange{}
	r.Resources = []ResourceChange{}
	r.Issues = []IssueChange{}
	for k, acc := range c.elems {
		ec := ElementChange{Element: k.elem, Kind: k.kind, Count: acc.count, Example: acc.example}
		for pair, n := range acc.values {
			ec.Values = append(ec.Values, ValueChange{Before: pair[0], After: pair[1], Count: n})
		}
		sort.Slice(ec.Values, func(i, j int) bool {
			a, b := ec.Values[i], ec.Values[j]
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return a.Before+"\x00"+a.After < b.Before+"\x00"+b.After
		})
		if len(ec.Values) > MaxValues {
			ec.Values = ec.Values[:MaxValues]
		}
		r.Elements = append(r.Elements, ec)
	}
	sort.Slice(r.Elements, func(i, j int) bool {
		a, b := r.Elements[i], r.Elements[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Element != b.Element {
			return a.Element < b.Element
		}
		return a.Kind < b.Kind
	})
	for t, acc := range c.res {
		rc := ResourceChange{Type: t, Appeared: acc.appeared, Vanished: acc.vanished, Examples: []Example{}}
		for _, e := range []*Example{acc.exAppeared, acc.exGone} {
			if e != nil {
				rc.Examples = append(rc.Examples, *e)
			}
		}
		r.Resources = append(r.Resources, rc)
	}
	sort.Slice(r.Resources, func(i, j int) bool { return r.Resources[i].Type < r.Resources[j].Type })
	for k, acc := range c.issues {
		r.Issues = append(r.Issues, IssueChange{Severity: k.sev, Kind: k.kind, Appeared: acc.appeared,
			Disappeared: acc.disappeared, Rule: acc.rule, Example: acc.example})
	}
	sort.Slice(r.Issues, func(i, j int) bool {
		a, b := r.Issues[i], r.Issues[j]
		if na, nb := a.Appeared+a.Disappeared, b.Appeared+b.Disappeared; na != nb {
			return na > nb
		}
		return a.Severity+a.Kind < b.Severity+b.Kind
	})
	return &r
}

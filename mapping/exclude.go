package mapping

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/r4"
)

// The exclude: list names FHIR elements a jurisdiction must not share:
//
//	exclude:
//	  - Patient.telecom
//	  - Patient.address.line
//	  - Immunization.lotNumber
//
// They are removed from every resource after the rules ran, whatever rule
// wrote them (safer than deleting rules, which a later update of the
// default mapping may bring back). A primitive's extension sibling goes
// with it (Patient.birthDate takes Patient._birthDate, birth time
// included), and objects or lists left empty are removed too. Paths carry
// no indexes: Patient.name.given removes every given name of every name.
// Each entry is checked against the FHIR R4 element registry when the
// mapping loads.

// exclusion is a mapping's compiled exclude: list.
type exclusion struct {
	byType map[string][][]string // resource type → element paths, as steps
}

// splitExclude takes the top-level exclude: section out of a mapping's
// text before the rules compiler sees it: the section's lines are
// blanked (so every other line keeps its number) and its node returned.
// Text that is not valid YAML is returned unchanged for the compiler to
// report.
func splitExclude(data []byte) ([]byte, *yaml.Node) {
	if !bytes.Contains(data, []byte("exclude")) {
		return data, nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "exclude" {
			continue
		}
		last := -1 // the section runs to the line before the next key
		if i+2 < len(root.Content) {
			last = root.Content[i+2].Line - 1
		}
		if k.Column != 1 || (root.Style&yaml.FlowStyle) != 0 {
			return data, nil // a flow-style mapping: leave it to the compiler
		}
		lines := bytes.SplitAfter(data, []byte("\n"))
		out := make([]byte, 0, len(data))
		for n, l := range lines {
			if n+1 >= k.Line && (last < 0 || n+1 <= last) {
				if bytes.HasSuffix(l, []byte("\n")) {
					out = append(out, '\n')
				}
				continue
			}
			out = append(out, l...)
		}
		return out, root.Content[i+1]
	}
	return data, nil
}

// compileExclude checks the exclude: entries against the FHIR R4
// registry, with positions.
func compileExclude(n *yaml.Node, file string) (*exclusion, []Problem) {
	ex := &exclusion{byType: map[string][][]string{}}
	var probs []Problem
	bad := func(at *yaml.Node, format string, a ...any) {
		probs = append(probs, Problem{File: file, Line: at.Line, Col: at.Column, Msg: fmt.Sprintf(format, a...)})
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.SequenceNode {
		bad(n, "exclude must be a list of FHIR elements, e.g. - Patient.telecom")
		return nil, probs
	}
	for _, it := range n.Content {
		if it.Kind != yaml.ScalarNode || it.Value == "" {
			bad(it, "exclude: want a FHIR element such as Patient.telecom")
			continue
		}
		steps := strings.Split(it.Value, ".")
		typ := steps[0]
		if msg := resourceTypeProblem(typ); msg != "" {
			bad(it, "exclude: %s", msg)
			continue
		}
		if len(steps) < 2 {
			bad(it, "exclude: name an element of %s (e.g. %s.telecom), not the whole resource: leave the resource out of resources: instead", typ, typ)
			continue
		}
		if steps[1] == "id" || steps[1] == "resourceType" {
			bad(it, "exclude: %s.%s identifies the resource and cannot be left out", typ, steps[1])
			continue
		}
		cur, ok := typ, true
		for i, s := range steps[1:] {
			if strings.ContainsAny(s, "[]") || s == "" {
				bad(it, "exclude: %q: write element names without indexes (Patient.name.given)", it.Value)
				ok = false
				break
			}
			e, found := r4.Lookup(cur, s)
			if !found {
				var names []string
				for _, el := range r4.Elements(cur) {
					names = append(names, el.Name)
				}
				bad(it, "exclude: unknown FHIR element %s (%s has no element %q%s)",
					strings.Join(steps[:i+2], "."), cur, s, diag.DidYouMean(s, names))
				ok = false
				break
			}
			if i < len(steps)-2 && e.Kind != r4.JSONObject {
				bad(it, "exclude: %s is a primitive (%s) and has no element %q", strings.Join(steps[:i+2], "."), e.Type, steps[i+2])
				ok = false
				break
			}
			cur = e.Type
		}
		if ok {
			ex.byType[typ] = append(ex.byType[typ], steps[1:])
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return ex, nil
}

// apply removes the excluded elements from the output's resources and
// from its trace.
func (ex *exclusion) apply(out *Output) {
	if ex == nil {
		return
	}
	for _, r := range out.Resources {
		paths := ex.byType[r.ResourceType()]
		if len(paths) == 0 {
			continue
		}
		for _, p := range paths {
			removePath(r, p)
		}
		r.Prune()
	}
	if len(out.Trace) == 0 {
		return
	}
	kept := out.Trace[:0]
	for _, t := range out.Trace {
		if !ex.covers(t) {
			kept = append(kept, t)
		}
	}
	out.Trace = kept
}

// covers says whether a traced element was excluded.
func (ex *exclusion) covers(t Trace) bool {
	typ, _, _ := strings.Cut(t.Resource, "/")
	paths := ex.byType[typ]
	if len(paths) == 0 {
		return false
	}
	steps := strings.Split(stripIndexes(t.Element), ".")[1:]
outer:
	for _, p := range paths {
		if len(steps) < len(p) {
			continue
		}
		for i, s := range p {
			if steps[i] != s && !(i == len(p)-1 && steps[i] == "_"+s) {
				continue outer
			}
		}
		return true
	}
	return false
}

func stripIndexes(s string) string {
	var b strings.Builder
	depth := 0
	for _, c := range s {
		switch {
		case c == '[':
			depth++
		case c == ']':
			depth--
		case depth == 0:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// removePath deletes steps from o, through objects and lists.
func removePath(o *fhirout.Object, steps []string) {
	if len(steps) == 1 {
		o.Delete(steps[0])
		o.Delete("_" + steps[0])
		return
	}
	v, ok := o.Get(steps[0])
	if !ok {
		return
	}
	switch x := v.(type) {
	case *fhirout.Object:
		removePath(x, steps[1:])
	case []any:
		for _, e := range x {
			if eo, ok := e.(*fhirout.Object); ok {
				removePath(eo, steps[1:])
			}
		}
	case []*fhirout.Object:
		for _, eo := range x {
			removePath(eo, steps[1:])
		}
	}
}

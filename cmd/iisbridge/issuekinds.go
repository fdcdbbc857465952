package main

import (
	"fmt"
	"io"
	"sort"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping/mapdiff"
)

// issueKinds counts, per kind of warning and of error, the records
// (OperationOutcomes: one per input record) that raised it, so an admin
// reads "412 … PID-8 (administrative sex) is empty" without opening the
// NDJSON, and the mapping rule that raises it, to edit. A kind is the
// issue's text with quoted values (codes) and line numbers folded
// (mapdiff.IssueKind, which mapping diff counts by too).
type issueKinds struct {
	warnings, errors map[string]int
	rules            map[string]map[string]int // kind → rule → records
}

// topIssueKinds bounds the kinds printed per severity; the rest are
// counted in one line.
const topIssueKinds = 10

func newIssueKinds() *issueKinds {
	return &issueKinds{warnings: map[string]int{}, errors: map[string]int{}, rules: map[string]map[string]int{}}
}

// add counts the kinds of one OperationOutcome, each once.
func (k *issueKinds) add(oo *fhirout.Object) {
	v, _ := oo.Get("issue")
	issues, _ := v.([]any)
	seen := map[string]bool{}
	for _, x := range issues {
		is, _ := x.(*fhirout.Object)
		if is == nil {
			continue
		}
		sev, _ := is.Get("severity")
		text := ""
		if d, ok := is.Get("details"); ok {
			if do, _ := d.(*fhirout.Object); do != nil {
				t, _ := do.Get("text")
				text, _ = t.(string)
			}
		}
		kind := mapdiff.IssueKind(text)
		m := k.errors
		switch sev {
		case "warning":
			m = k.warnings
		case "information":
			continue
		}
		if key := fmt.Sprint(sev) + "\x00" + kind; !seen[key] {
			seen[key] = true
			m[kind]++
			if rule := issueRule(is); rule != "" {
				if k.rules[key] == nil {
					k.rules[key] = map[string]int{}
				}
				k.rules[key][rule]++
			}
		}
	}
}

// issueRule is the mapping rule (file:line) in an issue's input-location
// extension, or "".
func issueRule(is *fhirout.Object) string {
	v, _ := is.Get("extension")
	exts, _ := v.([]any)
	for _, e := range exts {
		eo, _ := e.(*fhirout.Object)
		if eo == nil {
			continue
		}
		if u, _ := eo.Get("url"); u != fhirout.InputLocationURL {
			continue
		}
		sv, _ := eo.Get("extension")
		subs, _ := sv.([]any)
		for _, s := range subs {
			so, _ := s.(*fhirout.Object)
			if so == nil {
				continue
			}
			if u, _ := so.Get("url"); u == "rule" {
				r, _ := so.Get("valueString")
				rs, _ := r.(string)
				return rs
			}
		}
	}
	return ""
}

// print writes the commonest kinds, most frequent first, each with the
// rule that raised it most (and how many others did).
func (k *issueKinds) print(w io.Writer) {
	for _, b := range []struct {
		name string
		m    map[string]int
	}{{"warning", k.warnings}, {"error", k.errors}} {
		if len(b.m) == 0 {
			continue
		}
		kinds := make([]string, 0, len(b.m))
		for s := range b.m {
			kinds = append(kinds, s)
		}
		sort.Slice(kinds, func(i, j int) bool {
			if b.m[kinds[i]] != b.m[kinds[j]] {
				return b.m[kinds[i]] > b.m[kinds[j]]
			}
			return kinds[i] < kinds[j]
		})
		fmt.Fprintf(w, "records per %s kind:\n", b.name)
		for i, s := range kinds {
			if i == topIssueKinds {
				rest := 0
				for _, s := range kinds[i:] {
					rest += b.m[s]
				}
				fmt.Fprintf(w, "  %7d  in %d other kind(s)\n", rest, len(kinds)-i)
				break
			}
			fmt.Fprintf(w, "  %7d  %s\n", b.m[s], s)
			if rules := k.rules[b.name+"\x00"+s]; len(rules) > 0 {
				top := ""
				for r, n := range rules {
					if top == "" || n > rules[top] || (n == rules[top] && r < top) {
						top = r
					}
				}
				more := ""
				if len(rules) > 1 {
					more = fmt.Sprintf(" (and %d other rule(s))", len(rules)-1)
				}
				fmt.Fprintf(w, "           rule %s%s\n", top, more)
			}
		}
	}
}

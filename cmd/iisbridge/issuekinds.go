package main

import (
	"fmt"
	"io"
	"regexp"
	"sort"

	"iisbridge/fhirout"
)

// issueKinds counts, per kind of warning and of error, the records
// (OperationOutcomes: one per input record) that raised it, so an admin
// reads "412 … PID-8 (administrative sex) is empty" without opening the
// NDJSON. A kind is the issue's text with quoted values (codes) and line
// numbers folded.
type issueKinds struct {
	warnings, errors map[string]int
}

func newIssueKinds() *issueKinds {
	return &issueKinds{warnings: map[string]int{}, errors: map[string]int{}}
}

var (
	quoted = regexp.MustCompile(`"[^"]*"`)
	lineNo = regexp.MustCompile(`\bline [0-9]+`)
)

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
		kind := lineNo.ReplaceAllString(quoted.ReplaceAllString(text, `"…"`), "line N")
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
		}
	}
}

// print writes the counts, most frequent first.
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
		for _, s := range kinds {
			fmt.Fprintf(w, "  %7d  %s\n", b.m[s], s)
		}
	}
}

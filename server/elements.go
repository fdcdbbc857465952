package server

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/iisbridge/iisbridge/fhirout"
)

// elementSpec is a parsed _elements: top-level elements to keep, for all
// types ("elem") or one type ("Type.elem"). A type that no listed element
// applies to is left whole, like a type without _typeFilter.
type elementSpec struct {
	all    []string
	byType map[string][]string
	keep   map[string]map[string]bool // per type, built on first use: names kept
}

// mandatory elements are kept whatever _elements says: FHIR's 1..1
// elements, plus what makes a line a resource.
var mandatory = map[string][]string{
	"*":                          {"resourceType", "id", "meta"},
	"Immunization":               {"status", "vaccineCode", "patient", "occurrence"},
	"ImmunizationRecommendation": {"patient", "date", "recommendation"},
	"Group":                      {"type", "actual"},
	"Provenance":                 {"target", "recorded", "agent"},
}

const (
	subsettedSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	subsettedCode   = "SUBSETTED"
)

var elemRE = regexp.MustCompile(`^(?:([A-Z][A-Za-z]+)\.)?([a-z][A-Za-z0-9]*)(\[x\])?$`)

func (e *elementSpec) add(v string, served func(string) bool) error {
	m := elemRE.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("%q is not a top-level element (use elem or Type.elem)", v)
	}
	name := m[2]
	if m[1] == "" {
		e.all = append(e.all, name)
		return nil
	}
	if !served(m[1]) {
		return fmt.Errorf("resource type %q is not exported by this server", m[1])
	}
	if e.byType == nil {
		e.byType = map[string][]string{}
	}
	e.byType[m[1]] = append(e.byType[m[1]], name)
	return nil
}

func (e *elementSpec) empty() bool { return len(e.all) == 0 && len(e.byType) == 0 }

// apply drops unlisted, non-mandatory top-level elements from r and tags
// it SUBSETTED when anything was dropped.
func (e *elementSpec) apply(r *fhirout.Object) {
	if e.empty() {
		return
	}
	t := r.ResourceType()
	if len(e.byType[t]) == 0 && len(e.all) == 0 {
		return
	}
	keep := e.keepSet(t)
	dropped := false
	for _, k := range r.Keys() {
		if keeps(keep, k) {
			continue
		}
		r.Delete(k)
		dropped = true
	}
	if !dropped {
		return
	}
	tag := fhirout.NewObject()
	tag.Set("system", subsettedSystem)
	tag.Set("code", subsettedCode)
	tag.Set("display", "subsetted")
	r.Child("meta").Append("tag", tag)
}

// keepSet is the set of element names kept for type t: a map, so the
// cost per resource does not grow with the length of _elements.
func (e *elementSpec) keepSet(t string) map[string]bool {
	if k, ok := e.keep[t]; ok {
		return k
	}
	k := map[string]bool{}
	for _, list := range [][]string{mandatory["*"], mandatory[t], e.byType[t], e.all} {
		for _, n := range list {
			k[n] = true
		}
	}
	if e.keep == nil {
		e.keep = map[string]map[string]bool{}
	}
	e.keep[t] = k
	return k
}

// keeps says whether key is kept: listed itself, or a type variant of a
// listed choice element.
func keeps(keep map[string]bool, key string) bool {
	if keep[key] {
		return true
	}
	for n := range choiceElements {
		if keep[n] && choiceOf(key, n) {
			return true
		}
	}
	return false
}

// choiceElements are the [x] elements of the types served.
var choiceElements = map[string]bool{
	"occurrence": true, "deceased": true, "multipleBirth": true,
	"doseNumber": true, "seriesDoses": true, "occurred": true, "value": true,
}

// choiceOf says whether key is a type variant of choice element n
// (occurrenceDateTime of occurrence).
func choiceOf(key, n string) bool {
	if !choiceElements[n] || !strings.HasPrefix(key, n) || len(key) == len(n) {
		return false
	}
	c := key[len(n)]
	return c >= 'A' && c <= 'Z'
}

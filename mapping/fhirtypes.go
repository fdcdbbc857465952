package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/r4"
)

// elemKind is the JSON type a rule's value takes, from the FHIR element type.
type elemKind int

const (
	kindString elemKind = iota
	kindBool
	kindInt
	kindDecimal
	kindObject
)

func (k elemKind) String() string {
	switch k {
	case kindBool:
		return "boolean"
	case kindInt:
		return "integer"
	case kindDecimal:
		return "decimal"
	case kindObject:
		return "complex"
	}
	return "string"
}

// resourceTypeProblem says why a mapping cannot build resources of type t,
// or "" when it can: the types whose elements fhirout/r4 keeps. Another
// FHIR R4 type is named as such, with what a developer does to add it.
func resourceTypeProblem(t string) string {
	switch {
	case r4.IsResource(t):
		return ""
	case r4.IsR4Resource(t):
		return fmt.Sprintf("FHIR R4 resource type %q is not one this build can map (it maps %s; a developer adds a type to the roots of fhirout/r4/gen and runs go generate ./fhirout/r4)",
			t, strings.Join(r4.Resources(), ", "))
	}
	return fmt.Sprintf("unknown FHIR R4 resource type %q%s", t, diag.DidYouMean(t, r4.Resources()))
}

// resolveTarget checks a target's steps from the FHIR type typ: every
// element exists, repeating elements are indexed ([0] or []) and others
// are not. It returns the kind and FHIR type of the last element.
func resolveTarget(typ, shown string, t *target) (elemKind, string, error) {
	cur := typ
	var el r4.Element
	for i, st := range t.steps {
		if i > 0 && el.Kind != r4.JSONObject {
			return 0, "", fmt.Errorf("%s is a primitive (%s) and has no element %q", shown, el.Type, st.key)
		}
		if cur == "Resource" {
			return 0, "", fmt.Errorf("%s: the elements of a contained resource cannot be checked; not supported", shown)
		}
		var ok bool
		el, ok = r4.Lookup(cur, st.key)
		if !ok {
			return 0, "", fmt.Errorf("unknown FHIR element %s.%s (%s has no element %q%s)", shown, st.key, cur, st.key, suggestElement(cur, st.key))
		}
		shown += "." + st.key
		if el.Array && st.idx == -1 {
			return 0, "", fmt.Errorf("%s repeats: write %s[] (append) or %s[0]", shown, st.key, st.key)
		}
		if !el.Array && st.idx != -1 {
			return 0, "", fmt.Errorf("%s does not repeat: no [] or index allowed", shown)
		}
		cur = el.Type
	}
	switch el.Kind {
	case r4.JSONObject:
		return kindObject, el.Type, nil
	case r4.JSONBool:
		return kindBool, el.Type, nil
	case r4.JSONNumber:
		if el.Type == "decimal" {
			return kindDecimal, el.Type, nil
		}
		return kindInt, el.Type, nil
	}
	return kindString, el.Type, nil
}

var errBool = errors.New("is not true or false")

// convert gives a string value the JSON type of its element.
func convert(k elemKind, s string) (any, error) {
	switch k {
	case kindBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errBool
	case kindInt, kindDecimal:
		if err := checkNumber(k, s); err != nil {
			return nil, err
		}
		return fhirout.Number(s), nil
	}
	return s, nil
}

// checkNumber is convert's check of an integer or decimal value.
func checkNumber(k elemKind, s string) error {
	if k == kindInt {
		if _, err := strconv.ParseInt(s, 10, 32); err != nil || strings.HasPrefix(s, "+") || (len(s) > 1 && s[0] == '0') {
			return errors.New("is not an integer")
		}
		return nil
	}
	if !isDecimal(s) {
		return errors.New("is not a decimal number")
	}
	return nil
}

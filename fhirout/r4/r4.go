// Package r4 knows the elements of the FHIR R4 resources and datatypes the
// bridge uses: name, type, cardinality and JSON kind, so mappings can be
// checked before any data flows. The table is generated from the FHIR R4
// JSON schema (facts from the spec) and covers Patient, Immunization,
// Group, Provenance, OperationOutcome, Bundle, Parameters,
// CapabilityStatement, Organization, Location, Practitioner, RelatedPerson,
// ImmunizationRecommendation and every datatype reachable from them.
//
// Backbone elements are named as in the schema: Patient.contact has type
// "Patient_Contact". Choice elements appear once per type, as in JSON
// (deceasedBoolean, deceasedDateTime). Contained and Bundle resources have
// type "Resource".
package r4

//go:generate go run ./gen -fallback ../../../shared/fhir/fhir.schema.json -out elements_gen.go

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Kind is how an element is written in JSON.
type Kind uint8

const (
	JSONString Kind = iota + 1
	JSONBool
	JSONNumber
	JSONObject
)

func (k Kind) String() string {
	switch k {
	case JSONString:
		return "string"
	case JSONBool:
		return "boolean"
	case JSONNumber:
		return "number"
	case JSONObject:
		return "object"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Element is one element of a resource or datatype.
type Element struct {
	Name  string // JSON property name, e.g. "occurrenceDateTime"
	Type  string // FHIR type: "string", "dateTime", "CodeableConcept", "Patient_Contact", "Resource"...
	Array bool   // max cardinality > 1: a JSON array
	Kind  Kind   // JSON kind of one value
}

type typeDef struct {
	name     string
	resource bool
	elems    []Element // sorted by Name
}

func findType(name string) *typeDef {
	i := sort.Search(len(typeTable), func(i int) bool { return typeTable[i].name >= name })
	if i < len(typeTable) && typeTable[i].name == name {
		return &typeTable[i]
	}
	return nil
}

// Known reports whether typeName is a resource or complex datatype in the
// table.
func Known(typeName string) bool { return findType(typeName) != nil }

// IsResource reports whether name is a resource type in the table.
func IsResource(name string) bool {
	t := findType(name)
	return t != nil && t.resource
}

// IsR4Resource reports whether name is a resource type of FHIR R4, one
// the table keeps the elements of (IsResource) or not.
func IsR4Resource(name string) bool {
	_, found := slices.BinarySearch(r4Resources, name)
	return found
}

// Resources lists the resource types the table keeps the elements of,
// sorted: the ones a mapping can build.
func Resources() []string {
	var out []string
	for _, t := range typeTable {
		if t.resource {
			out = append(out, t.name)
		}
	}
	return out
}

// Primitive returns the JSON kind of a FHIR primitive type.
func Primitive(typ string) (Kind, bool) {
	k, ok := primitives[typ]
	return k, ok
}

// Elements lists the elements of a type, sorted by name (nil when the type
// is unknown). The slice is shared: do not modify it.
func Elements(typeName string) []Element {
	if t := findType(typeName); t != nil {
		return t.elems
	}
	return nil
}

// Lookup returns the element elem of typeName, e.g. Lookup("Patient",
// "name") is HumanName, Array. "_x" names the extension sibling of a
// primitive element x (type "Element").
func Lookup(typeName, elem string) (Element, bool) {
	t := findType(typeName)
	if t == nil {
		return Element{}, false
	}
	if base, ok := strings.CutPrefix(elem, "_"); ok {
		e, ok := Lookup(typeName, base)
		if !ok || e.Kind == JSONObject {
			return Element{}, false
		}
		return Element{Name: elem, Type: "Element", Array: e.Array, Kind: JSONObject}, true
	}
	i := sort.Search(len(t.elems), func(i int) bool { return t.elems[i].Name >= elem })
	if i < len(t.elems) && t.elems[i].Name == elem {
		return t.elems[i], true
	}
	if elem == "resourceType" && t.resource {
		return Element{Name: elem, Type: "code", Kind: JSONString}, true
	}
	return Element{}, false
}

// Resolve follows a dotted path with optional [i] indexes from a resource
// or datatype, e.g. Resolve("Immunization", "vaccineCode.coding[0].code"),
// and returns the last element. The error names the step that failed.
func Resolve(resourceType, path string) (Element, error) {
	if findType(resourceType) == nil {
		return Element{}, fmt.Errorf("%s: unknown resource or datatype %q", resourceType, resourceType)
	}
	if path == "" {
		return Element{}, fmt.Errorf("%s: empty path", resourceType)
	}
	cur := resourceType
	var e Element
	done := resourceType
	for step := range strings.SplitSeq(path, ".") {
		name, indexed, err := splitIndex(step)
		if err != nil {
			return Element{}, fmt.Errorf("%s.%s: %w", done, step, err)
		}
		if e.Name != "" && e.Kind != JSONObject {
			return Element{}, fmt.Errorf("%s: %s is a primitive (%s) and has no element %q", done, done, e.Type, name)
		}
		if cur == "Resource" {
			return Element{}, fmt.Errorf("%s: a contained resource's type is not known from the path; resolve %q from the resource type itself", done, name)
		}
		var ok bool
		if e, ok = Lookup(cur, name); !ok {
			return Element{}, fmt.Errorf("%s.%s: %s has no element %q", done, name, cur, name)
		}
		if indexed && !e.Array {
			return Element{}, fmt.Errorf("%s.%s: %s.%s does not repeat: no index allowed", done, step, cur, name)
		}
		done += "." + step
		cur = e.Type
	}
	return e, nil
}

// splitIndex parses "name" or "name[3]".
func splitIndex(step string) (name string, indexed bool, err error) {
	open := strings.IndexByte(step, '[')
	if open < 0 {
		if step == "" {
			return "", false, fmt.Errorf("empty step")
		}
		return step, false, nil
	}
	name = step[:open]
	rest := step[open+1:]
	if name == "" || !strings.HasSuffix(rest, "]") {
		return "", false, fmt.Errorf("malformed index in %q", step)
	}
	n, convErr := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if convErr != nil || n < 0 {
		return "", false, fmt.Errorf("index in %q is not a non-negative integer", step)
	}
	return name, true, nil
}

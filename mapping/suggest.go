package mapping

import (
	"sort"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/fhirout/r4"
)

// The "did you mean" helpers of mapping problems, each over the registry
// that decides what is valid, so a suggestion is always something the
// compiler accepts. Each returns `; did you mean "x"?` or "".

// suggestElement suggests an element of a FHIR type for a misspelt one
// (brithDate → birthDate).
func suggestElement(typeName, name string) string {
	var names []string
	for _, e := range r4.Elements(typeName) {
		names = append(names, e.Name)
	}
	return diag.DidYouMean(name, names)
}

// suggestFunction suggests a mapping function (uper → upper).
func suggestFunction(name string) string {
	names := make([]string, 0, len(funcs))
	for n := range funcs {
		names = append(names, n)
	}
	sort.Strings(names)
	return diag.DidYouMean(name, names)
}

// suggestVariable suggests a variable, with its $ (sendr → $sender):
// the built-in $input.* ones and those given.
func suggestVariable(name string, defined []string) string {
	var names []string
	for _, b := range builtinDocs {
		names = append(names, b[0])
	}
	names = append(names, defined...)
	if n, ok := diag.Nearest(name, names); ok {
		return `; did you mean "$` + n + `"?`
	}
	return ""
}

// suggestKey suggests one of the keys allowed where an unknown one was
// written (valeu → value).
func suggestKey(key string, allowed []string) string { return diag.DidYouMean(key, allowed) }

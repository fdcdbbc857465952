package r4

import "testing"

// A primitive's sibling (_birthDate) is an Element: paths through it to its
// id and extensions resolve like any other.
func TestPrimitiveSiblingResolves(t *testing.T) {
	e, err := Resolve("Patient", "_birthDate.extension[0].valueDateTime")
	if err != nil || e.Type != "dateTime" {
		t.Fatalf("Resolve _birthDate.extension[0].valueDateTime = %+v, %v", e, err)
	}
	if e, err := Resolve("Patient", "_birthDate.id"); err != nil || e.Kind != JSONString {
		t.Fatalf("Resolve _birthDate.id = %+v, %v", e, err)
	}
	if _, err := Resolve("Patient", "_birthDate.family"); err == nil {
		t.Fatal("an Element has no family: Resolve should fail")
	}
}

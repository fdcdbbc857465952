package fhirout

import "testing"

func TestElemCases(t *testing.T) {
	o := NewObject()
	a := o.Elem("x", 0) // new [{}]
	if o.Elem("x", 0) != a {
		t.Error("Elem made a second element 0")
	}
	a.Set("k", "a")
	c := o.Elem("x", 2) // pads element 1
	c.Set("k", "c")
	o.Elem("x", 1).Set("k", "b")
	o.Append("x", "s")
	o.Elem("x", 3).Set("k", "d") // a non-object element is replaced
	o.Set("y", "text")
	o.Elem("y", 0).Set("k", "y") // a non-array value is replaced
	o.Set("z", []any(nil))
	o.Elem("z", 1)
	want := `{"x":[{"k":"a"},{"k":"b"},{"k":"c"},{"k":"d"}],"y":[{"k":"y"}],"z":[{},{}]}`
	if got := o.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// The values are ordinary []any and *Object: type switches and Clone
	// see no difference.
	v, _ := o.Get("y")
	arr, ok := v.([]any)
	if !ok || len(arr) != 1 || cap(arr) != 1 {
		t.Fatalf("y is %T len %d", v, len(arr))
	}
	if _, ok := arr[0].(*Object); !ok {
		t.Fatalf("y[0] is %T", arr[0])
	}
	if o.Clone().String() != want {
		t.Error("clone differs")
	}
	// Appending past a new [{}] does not write into its block.
	o.Append("y", "more")
	if arr[0].(*Object).String() != `{"k":"y"}` || len(arr) != 1 {
		t.Error("append changed the first array")
	}
}

func TestElemAllocations(t *testing.T) {
	o := NewObject()
	o.Set("other", "x")
	n := testing.AllocsPerRun(100, func() {
		o.m = o.m[:1]
		o.Elem("coding", 0)
	})
	if n != 2 { // array and object together, and the array's interface header
		t.Errorf("new Elem: %v allocations, want 2", n)
	}
	o.Elem("coding", 0)
	o.Elem("coding", 1)
	if n := testing.AllocsPerRun(100, func() { o.Elem("coding", 0); o.Elem("coding", 1) }); n != 0 {
		t.Errorf("existing Elem: %v allocations", n)
	}
}

func TestSlabResourceAllocations(t *testing.T) {
	var s Slab
	s.Resource("Patient", 4) // first chunks
	n := testing.AllocsPerRun(100, func() {
		s.Resource(resourceTypes[s.nobj%2], 4)
	})
	if n > 0.1 { // the resourceType string is boxed in the slab
		t.Errorf("%.2f allocations per resource", n)
	}
	if got := s.Resource("Patient", 1).ResourceType(); got != "Patient" {
		t.Errorf("resourceType = %q", got)
	}
}

var resourceTypes = []string{"Patient", "Immunization"}

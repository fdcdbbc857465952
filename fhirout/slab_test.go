package fhirout

import "testing"

func TestSlabObjectsAreIndependent(t *testing.T) {
	var s Slab
	a := s.Resource("Patient", 2)
	b := s.Object(1)
	a.Set("id", "p1")
	a.Set("gender", "female") // past its room: grows, must not touch b
	b.Set("x", "1")
	b.Set("y", "2")
	if got := string(a.AppendJSON(nil)); got != `{"resourceType":"Patient","id":"p1","gender":"female"}` {
		t.Errorf("a = %s", got)
	}
	if got := string(b.AppendJSON(nil)); got != `{"x":"1","y":"2"}` {
		t.Errorf("b = %s", got)
	}

	c := s.Child(a, "meta", 1)
	if s.Child(a, "meta", 1) != c {
		t.Error("Child made a second meta")
	}
	s.Append(c, "profile", "u1", 1)
	s.Append(c, "profile", "u2", 1) // past its room
	s.Append(b, "z", "3", 2)
	s.Append(b, "z", "4", 2)
	if got := string(a.AppendJSON(nil)); got != `{"resourceType":"Patient","id":"p1","gender":"female","meta":{"profile":["u1","u2"]}}` {
		t.Errorf("a = %s", got)
	}
	if got := string(b.AppendJSON(nil)); got != `{"x":"1","y":"2","z":["3","4"]}` {
		t.Errorf("b = %s", got)
	}
	// Objects outlive a Reset; new ones do not share their storage.
	s.Reset()
	d := s.Object(4)
	d.Set("k", "v")
	if got := string(b.AppendJSON(nil)); got != `{"x":"1","y":"2","z":["3","4"]}` {
		t.Errorf("after Reset b = %s", got)
	}
	// A non-array value at the key is replaced, as Object.Append does.
	s.Append(d, "k", "w", 1)
	if got := string(d.AppendJSON(nil)); got != `{"k":["w"]}` {
		t.Errorf("d = %s", got)
	}
}

func TestSlabAllocations(t *testing.T) {
	var s Slab
	s.Object(0) // first chunks
	s.array(1)
	s.members(1)
	n := testing.AllocsPerRun(100, func() {
		o := s.Object(3)
		o.Set("a", "x")
		s.Append(o, "b", "y", 2)
		s.Child(o, "c", 2).Set("d", "z")
	})
	// Chunks are refilled now and then; what remains per object is the
	// interface header of the appended array (the slab does not forge
	// interface values).
	if n > 1.1 {
		t.Errorf("%.2f allocations per object", n)
	}
}

package fhirout

import (
	"runtime"
	"strings"
	"testing"
)

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
	// Chunks are refilled now and then; the array's interface header is
	// boxed in the slab too.
	if n > 0.1 {
		t.Errorf("%.2f allocations per object", n)
	}
}

// A Slab recycled record after record hands its chunks out again: once
// the sizes are learnt, a record allocates nothing, and what it builds
// is whole.
func TestSlabRecycle(t *testing.T) {
	var s Slab
	keys := make([]string, 20)
	for k := range keys {
		keys[k] = string(rune('A' + k))
	}
	build := func(i int) *Object {
		r := s.Resource("Patient", 23)
		if i < 5 {
			r.Set("id", "pa")
		} else {
			r.Set("id", "pf")
		}
		for _, k := range keys {
			c := s.Child(r, k, 2)
			c.Set("v", "x")
		}
		s.Append(r, "arr", "1", 2)
		return r
	}
	for i := range 3 { // learn the sizes
		build(i)
		s.Recycle()
	}
	n := testing.AllocsPerRun(50, func() {
		build(0)
		s.Recycle()
	})
	// The resource type and the array's header are boxed in the slab (a
	// Reset instead of Recycle would allocate the chunks).
	if n != 0 {
		t.Errorf("%.1f allocations per recycled record", n)
	}
	r := build(5)
	if got := r.String(); got[:36] != `{"resourceType":"Patient","id":"pf",` || len(r.m) != 23 {
		t.Errorf("recycled record = %s", got)
	}
	// A record that outgrows the chunks gets new ones, then they are
	// reused at the new size.
	s.Recycle()
	for range 200 {
		s.Object(3)
	}
	s.Recycle()
	for range 200 {
		s.Object(3)
	}
	if n := testing.AllocsPerRun(20, func() {
		for range 200 {
			s.Object(3)
		}
		s.Recycle()
	}); n != 0 {
		t.Errorf("%.1f allocations per recycled record at the learnt size", n)
	}
}

// An export worker's Memory holds a batch of persons: a batch of 6,000
// members (half of a 200k convert's use 4,000 to 8,000) is recycled
// without a new chunk once the size is learnt (chunkMax).
func TestSlabRecycleBatch(t *testing.T) {
	var s Slab
	batch := func() {
		for range 2000 {
			s.Object(3)
		}
		s.Recycle()
	}
	batch()
	batch()
	if n := testing.AllocsPerRun(20, batch); n != 0 {
		t.Errorf("%.1f allocations per recycled batch of 6,000 members", n)
	}
}

// Values boxed in the slab are ordinary interface values, and they live
// on after the Slab lets go of its chunks.
func TestSlabBoxes(t *testing.T) {
	var s Slab
	o := s.Object(3)
	o.Set("s", s.String("text"))
	o.Set("n", s.Number("0.50"))
	s.Append(o, "a", s.String("x"), 1)
	s.Append(o, "a", s.Number("1"), 1)
	s.Reset()
	runtime.GC()
	for range 100 { // reuse of freed memory would show
		s.Object(3).Set("s", s.String(strings.Repeat("y", 4)))
	}
	runtime.GC()
	if v, _ := o.Get("s"); v != any("text") {
		t.Errorf("s = %#v", v)
	}
	if v, _ := o.Get("n"); v != any(Number("0.50")) {
		t.Errorf("n = %#v", v)
	}
	if v, _ := o.Get("a"); len(v.([]any)) != 2 || v.([]any)[0] != any("x") {
		t.Errorf("a = %#v", v)
	}
	if got := o.String(); got != `{"s":"text","n":0.50,"a":["x",1]}` {
		t.Errorf("o = %s", got)
	}
}

// Package fhirout builds FHIR JSON resources and writes them: NDJSON files
// per resource type with rotation, and OperationOutcome for errors.
//
// An Object is a small ordered JSON object. Resources are built key by key
// in the order FHIR presents them, so output is stable and readable, and
// encoding is a single append pass without reflection.
package fhirout

import (
	"iter"
	"slices"
)

// Object is a JSON object with keys kept in insertion order; a resource is
// an Object whose first key is resourceType. Values are string, bool,
// Number, *Object or []any of those (nil encodes as null). Lookups are
// linear: FHIR objects have few keys, and a scan beats a map at that size.
// An Object is not safe for concurrent mutation.
type Object struct {
	m []member
	// A bit per key (keyBit): a key whose bit is clear is absent, without
	// comparing it to every key (Set mostly adds new keys). It depends
	// only on the keys, so equal objects stay reflect.DeepEqual.
	keys uint64
}

type member struct {
	key string
	val any
}

// Number is a JSON number kept as its decimal text (FHIR decimals keep
// their precision: "0.50" stays "0.50").
type Number string

// NewResource returns an Object whose first key is resourceType.
func NewResource(resourceType string) *Object {
	o := &Object{m: make([]member, 1, 12), keys: keyBit("resourceType")}
	o.m[0] = member{"resourceType", resourceType}
	return o
}

// NewObject returns an empty Object.
func NewObject() *Object { return &Object{} }

// ResourceType is the string value of "resourceType", or "".
func (o *Object) ResourceType() string { return o.str("resourceType") }

// ID is the string value of "id", or "".
func (o *Object) ID() string { return o.str("id") }

func (o *Object) str(key string) string {
	if v, ok := o.Get(key); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return ""
}

// Len is the number of keys.
func (o *Object) Len() int { return len(o.m) }

// Keys returns a copy of the keys in order.
func (o *Object) Keys() []string {
	keys := make([]string, len(o.m))
	for i := range o.m {
		keys[i] = o.m[i].key
	}
	return keys
}

// All iterates over the members in order.
func (o *Object) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for _, m := range o.m {
			if !yield(m.key, m.val) {
				return
			}
		}
	}
}

// keyBit is key's bit in Object.keys: its length's (the keys of an
// object mostly differ in length, and it costs no load).
func keyBit(key string) uint64 { return 1 << (uint(len(key)) & 63) }

func (o *Object) index(key string) int {
	if o.keys&keyBit(key) == 0 {
		return -1
	}
	ms := o.m // not loaded from o again after a memequal that failed
	for i := range ms {
		if ms[i].key == key {
			return i
		}
	}
	return -1
}

// add appends a member; the first one reserves room for a typical FHIR
// element (most have 2-4 keys), saving the 1-2-4 growth steps.
func (o *Object) add(key string, v any) {
	if o.m == nil {
		o.m = make([]member, 0, 4)
	}
	o.m = append(o.m, member{key, v})
	o.keys |= keyBit(key)
}

// Get returns the value at key.
func (o *Object) Get(key string) (any, bool) {
	if i := o.index(key); i >= 0 {
		return o.m[i].val, true
	}
	return nil, false
}

// Set replaces the value at key in place, else appends key.
func (o *Object) Set(key string, v any) {
	if i := o.index(key); i >= 0 {
		o.m[i].val = v
		return
	}
	o.add(key, v)
}

// Delete removes key, keeping the order of the others.
func (o *Object) Delete(key string) {
	if i := o.index(key); i >= 0 {
		o.m = slices.Delete(o.m, i, i+1)
		o.rekey()
	}
}

// rekey sets the key bits anew after keys were removed.
func (o *Object) rekey() {
	o.keys = 0
	for i := range o.m {
		o.keys |= keyBit(o.m[i].key)
	}
}

// Child returns the object at key, creating it when absent (a non-object
// value at key is replaced).
func (o *Object) Child(key string) *Object {
	i := o.index(key)
	if i >= 0 {
		if c, ok := o.m[i].val.(*Object); ok && c != nil {
			return c
		}
		c := &Object{}
		o.m[i].val = c
		return c
	}
	c := &Object{}
	o.add(key, c)
	return c
}

// Elem returns the i-th (0-based) object of the array at key, creating the
// array and padding it with empty objects as needed. A non-array value at
// key is replaced; a non-object element at i is replaced. i < 0 panics.
func (o *Object) Elem(key string, i int) *Object {
	if i < 0 {
		panic("fhirout: Object.Elem: negative index")
	}
	j := o.index(key)
	var arr []any
	if j >= 0 {
		arr, _ = o.m[j].val.([]any)
		if i < len(arr) {
			// The array stays where it is: no need to store (box) it again.
			c, ok := arr[i].(*Object)
			if !ok || c == nil {
				c = &Object{}
				arr[i] = c
			}
			return c
		}
	}
	if arr == nil && i == 0 {
		// The usual case, a new [{}]: array and object in one allocation.
		b := &elem1{}
		b.arr[0] = &b.obj
		var v any = b.arr[:]
		if j >= 0 {
			o.m[j].val = v
		} else {
			o.add(key, v)
		}
		return &b.obj
	}
	pad := make([]Object, i+1-len(arr)) // the new elements, in one block
	for k := range pad {
		arr = append(arr, &pad[k])
	}
	if j >= 0 {
		o.m[j].val = arr
	} else {
		o.add(key, arr)
	}
	return &pad[len(pad)-1]
}

// elem1 is what Elem makes for a new one-element array.
type elem1 struct {
	arr [1]any
	obj Object
}

// Append adds v to the array at key, creating it (a non-array value at key
// is replaced).
func (o *Object) Append(key string, v any) {
	if j := o.index(key); j >= 0 {
		arr, _ := o.m[j].val.([]any)
		o.m[j].val = append(arr, v)
		return
	}
	o.add(key, []any{v})
}

// Clone is a deep copy.
func (o *Object) Clone() *Object {
	if o == nil {
		return nil
	}
	c := &Object{m: make([]member, len(o.m)), keys: o.keys}
	for i, m := range o.m {
		c.m[i] = member{m.key, cloneValue(m.val)}
	}
	return c
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case *Object:
		return x.Clone()
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = cloneValue(e)
		}
		return a
	case []string:
		return slices.Clone(x)
	case []*Object:
		a := make([]*Object, len(x))
		for i, e := range x {
			a[i] = e.Clone()
		}
		return a
	}
	return v // immutable scalars
}

// Prune removes empty strings, empty numbers, nulls, empty objects and
// empty arrays, recursively, so a mapping never emits "" or {} (both
// invalid FHIR). Null elements inside a non-empty array are kept: FHIR
// uses them to align primitive arrays with their "_" extension arrays.
func (o *Object) Prune() {
	n := 0
	for _, m := range o.m {
		v, keep := pruneValue(m.val)
		if !keep {
			continue
		}
		o.m[n] = member{m.key, v}
		n++
	}
	clear(o.m[n:])
	o.m = o.m[:n]
	o.rekey()
}

// pruneValue returns the pruned value and whether it is worth keeping.
func pruneValue(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, x != ""
	case Number:
		return x, x != ""
	case *Object:
		if x == nil {
			return nil, false
		}
		x.Prune()
		return x, len(x.m) > 0
	case []any:
		n, real := 0, false
		for _, e := range x {
			if e == nil {
				x[n] = nil
				n++
				continue
			}
			if pe, ok := pruneValue(e); ok {
				x[n] = pe
				n++
				real = true
			}
		}
		clear(x[n:])
		return x[:n], real
	case []string:
		n := 0
		for _, s := range x {
			if s != "" {
				x[n] = s
				n++
			}
		}
		return x[:n], n > 0
	case []*Object:
		n := 0
		for _, e := range x {
			if e == nil {
				continue
			}
			if e.Prune(); len(e.m) > 0 {
				x[n] = e
				n++
			}
		}
		clear(x[n:])
		return x[:n], n > 0
	}
	return v, true
}

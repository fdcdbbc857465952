package fhirout

import "unsafe"

// Slab makes Objects, their members and their arrays from a few shared
// chunks instead of one heap allocation each: a mapped message builds
// dozens of small objects, and allocating them one by one (and collecting
// them) is most of the cost of building a resource.
//
// Each Object gets room for the keys its caller expects; past that room it
// grows on its own like any slice, so a wrong guess costs an allocation,
// never correctness. Memory handed out is never handed out again, so the
// objects are independent and outlive the Slab. A Slab is not safe for
// concurrent use; the zero value is ready.
type Slab struct {
	objs []Object // objs[:nobj] used
	mems []member
	arrs []any
	strs []string // the strings and Numbers boxed (see box), strs[:nstr] used
	hdrs [][]any  // the arrays' slice headers boxed, hdrs[:nhdr] used
	// Indexes rather than lengths: storing a value then writes no slice
	// header back.
	nobj, nstr, nhdr int
	// Chunk sizes learnt from what was used between Resets, so a Slab
	// reset per record allocates about one right-sized chunk of each kind.
	sizes [5]chunkSize
}

const (
	kObjects = iota
	kMembers
	kArrays
	kStrings
	kHeaders
)

type chunkSize struct{ used, next int }

// chunk is the length of a new chunk of kind k, at least need.
func (s *Slab) chunk(k, def, need int) int {
	n := s.sizes[k].next
	if n == 0 {
		n = def
	}
	return max(n, need)
}

// Chunk sizes: a VXU with one patient and two doses fills about one of each.
const (
	slabObjects = 64
	slabMembers = 256
	slabArray   = 64
	slabStrings = 64
	slabHeaders = 32
)

// Reset lets go of the current chunks (objects already made keep theirs
// alive), so the Slab holds no reference to earlier output.
func (s *Slab) Reset() {
	s.objs, s.mems, s.arrs, s.strs, s.hdrs = nil, nil, nil, nil, nil
	s.nobj, s.nstr, s.nhdr = 0, 0, 0
	s.learn()
}

// Recycle is Reset for a caller done with everything the Slab made: the
// memory is handed out again, so Objects made before are overwritten by
// the next ones. A worker that encodes each record's resources before it
// maps the next one allocates no chunk at all once the sizes are learnt
// (a chunk smaller than the size learnt is replaced on its next use).
func (s *Slab) Recycle() {
	s.learn()
	s.objs = rewindFull(s.objs, s.nobj, s.sizes[kObjects].next)
	s.mems = rewind(s.mems, s.sizes[kMembers].next)
	s.arrs = rewind(s.arrs, s.sizes[kArrays].next)
	s.strs = rewindFull(s.strs, s.nstr, s.sizes[kStrings].next)
	s.hdrs = rewindFull(s.hdrs, s.nhdr, s.sizes[kHeaders].next)
	s.nobj, s.nstr, s.nhdr = 0, 0, 0
}

// rewind empties chunk for reuse, or drops it when smaller than want.
func rewind[T any](chunk []T, want int) []T {
	if cap(chunk) < want {
		return nil
	}
	clear(chunk) // no reference to the last record's values stays behind
	return chunk[:0]
}

// rewindFull is rewind for a chunk used up to n.
func rewindFull[T any](chunk []T, n, want int) []T {
	if len(chunk) < want {
		return nil
	}
	clear(chunk[:n])
	return chunk
}

// chunkMax bounds a learnt chunk size (elements): a Slab keeps its last
// chunk of each kind for the next use, and an outsized batch should not
// leave a huge one behind. It holds an export worker's batch of persons
// (pipeline: half of a 200k convert's batches use 4,000 to 8,000
// members); at 4,096 each of those took a new members chunk (128 KiB,
// cleared): 3 % of the convert's CPU.
const chunkMax = 8192

// learn sets the next chunk sizes from what was used.
func (s *Slab) learn() {
	for k := range s.sizes {
		c := &s.sizes[k]
		if c.used > 0 {
			c.next = min(max(c.used+c.used/8, 8), chunkMax)
		}
		c.used = 0
	}
}

// Object returns an empty Object with room for n keys.
func (s *Slab) Object(n int) *Object {
	if s.nobj == len(s.objs) {
		s.objs, s.nobj = make([]Object, s.chunk(kObjects, slabObjects, 1)), 0
	}
	s.sizes[kObjects].used++
	o := &s.objs[s.nobj]
	s.nobj++
	o.m = s.members(n)
	return o
}

// Resource returns an Object whose first key is resourceType, with room
// for n keys in all.
func (s *Slab) Resource(resourceType string, n int) *Object {
	o := s.Object(max(n, 1))
	o.add("resourceType", s.String(resourceType))
	return o
}

func (s *Slab) members(n int) []member {
	if n <= 0 {
		return nil
	}
	s.sizes[kMembers].used += n
	if cap(s.mems)-len(s.mems) < n {
		s.mems = make([]member, 0, s.chunk(kMembers, slabMembers, n))
	}
	i := len(s.mems)
	s.mems = s.mems[:i+n]
	return s.mems[i : i : i+n]
}

func (s *Slab) array(n int) []any {
	s.sizes[kArrays].used += n
	if cap(s.arrs)-len(s.arrs) < n {
		s.arrs = make([]any, 0, s.chunk(kArrays, slabArray, n))
	}
	i := len(s.arrs)
	s.arrs = s.arrs[:i+n]
	return s.arrs[i : i : i+n]
}

// Child is o.Child(key), a new child coming from the slab with room for n
// keys.
func (s *Slab) Child(o *Object, key string, n int) *Object {
	i := o.index(key)
	if i >= 0 {
		if c, ok := o.m[i].val.(*Object); ok && c != nil {
			return c
		}
		c := s.Object(n)
		o.m[i].val = c
		return c
	}
	c := s.Object(n)
	o.add(key, c)
	return c
}

// Append is o.Append(key, v), a new array coming from the slab with room
// for n values.
func (s *Slab) Append(o *Object, key string, v any, n int) {
	if j := o.index(key); j >= 0 {
		arr, _ := o.m[j].val.([]any)
		if arr == nil {
			arr = s.array(max(n, 1))
		}
		o.m[j].val = s.boxArray(append(arr, v))
		return
	}
	o.add(key, s.boxArray(append(s.array(max(n, 1)), v)))
}

// String is any(v), boxed in the slab.
func (s *Slab) String(v string) any {
	if v == "" {
		return "" // needs no allocation
	}
	return box(s.str(v), stringType)
}

// Number is any(Number(v)), boxed in the slab.
func (s *Slab) Number(v string) any { return box(s.str(v), numberType) }

// Boxing. Putting a string or a slice into an interface copies it to a
// new heap block the interface points to: most of the allocations of a
// mapped record. The Slab keeps those copies in its chunks instead and
// makes the interface point there, as the runtime would to its own copy.
// The copies are never written again until Recycle, whose caller is done
// with every value the Slab made.

// eface is the layout of an empty interface: its dynamic type, and a
// pointer to the value for types that are not pointers.
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var (
	stringType = typeOf("")
	numberType = typeOf(Number(""))
	arrayType  = typeOf([]any(nil))
)

// box is an interface of type typ holding the value at p.
func box(p, typ unsafe.Pointer) (v any) {
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, p
	return v
}

// str copies v into the slab.
func (s *Slab) str(v string) unsafe.Pointer {
	if s.nstr == len(s.strs) {
		s.strs, s.nstr = make([]string, s.chunk(kStrings, slabStrings, 1)), 0
	}
	s.sizes[kStrings].used++
	p := &s.strs[s.nstr]
	*p = v
	s.nstr++
	return unsafe.Pointer(p)
}

// boxArray is any(a), boxed in the slab.
func (s *Slab) boxArray(a []any) any {
	if s.nhdr == len(s.hdrs) {
		s.hdrs, s.nhdr = make([][]any, s.chunk(kHeaders, slabHeaders, 1)), 0
	}
	s.sizes[kHeaders].used++
	p := &s.hdrs[s.nhdr]
	*p = a
	s.nhdr++
	return box(unsafe.Pointer(p), arrayType)
}

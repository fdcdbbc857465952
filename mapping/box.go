package mapping

// convertTo is convert with the value boxed: in the env's slab, or, for
// the mapping's own strings (table codes, displays and systems,
// constants), once at Load (boxes).
func (e *env) convertTo(k elemKind, s string) (any, error) {
	switch k {
	case kindBool:
		return convert(k, s)
	case kindInt, kindDecimal:
		// Checked without boxing a Number only to unbox it again.
		if err := checkNumber(k, s); err != nil {
			return nil, err
		}
		return e.slab.Number(s), nil
	}
	if v, ok := e.m.boxes.get(s); ok {
		return v, nil
	}
	return e.slab.String(s), nil
}

// boxes holds strings boxed at Load, direct-mapped by a hash of their
// length and end bytes: looking one up costs a comparison, so values read
// from the source (which mostly miss) pay almost nothing for it.
type boxes struct{ slots []boxed }

type boxed struct {
	s string
	v any
}

const boxSlots = 1024 // a power of two

func boxHash(s string) int {
	n := len(s)
	h := uint32(n)*0x9e3779b1 ^ uint32(s[0])<<8 ^ uint32(s[n-1]) ^ uint32(s[n/2])<<16
	h ^= h >> 13
	return int(h & (boxSlots - 1))
}

// add boxes s unless its slot is taken (the first string keeps it).
func (b *boxes) add(s string) {
	if s == "" {
		return
	}
	if b.slots == nil {
		b.slots = make([]boxed, boxSlots)
	}
	if sl := &b.slots[boxHash(s)]; sl.v == nil {
		sl.s, sl.v = s, s
	}
}

func (b *boxes) get(s string) (any, bool) {
	if s == "" || b.slots == nil {
		return nil, false
	}
	sl := &b.slots[boxHash(s)]
	if sl.v != nil && sl.s == s {
		return sl.v, true
	}
	return nil, false
}

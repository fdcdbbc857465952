package hl7v2

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Segment is one segment view. The zero Segment (IsZero) stands for an
// absent segment: every accessor on it returns empty values.
type Segment struct{ impl segmentImpl }

// segmentImpl points into the message's segment table, so that a Segment
// is one word to copy.
type segmentImpl struct{ *segData }

type segData struct {
	raw  []byte  // without terminator
	seps []int32 // offsets in raw of each field separator
	name string
	d    delims
	hdr  bool // MSH, FHS, BHS: field 1 is the separator, field 2 the encoding characters
	// norep: no field of the segment (beyond a header's MSH-2) holds
	// a repetition separator, so a field is its one repetition.
	norep bool
	// lazy: seps is not found yet (Parser.ParseLazy), split finds it.
	// Field looks only past the last field found, where a lazy seps
	// leads every read: the reads of a fully parsed message do not test it.
	lazy bool
	key  uint32 // nameKey(name), for fast Find
	s0   int32  // seps is m.seps[s0:s1]
	s1   int32
}

// IsZero reports the zero Segment, which stands for an absent one.
func (s Segment) IsZero() bool { return s.impl.segData == nil }

// Name is the segment name (PID, ZPI, ...).
func (s Segment) Name() string {
	if s.impl.segData == nil {
		return ""
	}
	return s.impl.name
}

// Is reports whether the segment is named name, as Name() == name but
// for a three-letter name through the packed key (nameKey) instead of a
// string compare: loops over a message's segments call it per segment.
//
// Small enough to be inlined into such loops; other names go to isName.
func (s Segment) Is(name string) bool {
	if sd := s.impl.segData; sd != nil && len(name) == 3 {
		return sd.key == nameKey3(name)
	}
	return s.isName(name)
}

// isName is Is for a name not of three letters, or the zero Segment.
func (s Segment) isName(name string) bool {
	sd := s.impl.segData
	return sd != nil && sd.name == name
}

// NumFields counts the fields sent, trailing empty ones included (for MSH,
// MSH-1 and MSH-2 count).
func (s Segment) NumFields() int {
	if s.impl.segData == nil {
		return 0
	}
	if s.impl.lazy {
		s.impl.split()
	}
	if s.impl.hdr {
		return len(s.impl.seps) + 1
	}
	return len(s.impl.seps)
}

// Raw returns the segment's bytes without its terminator.
func (s Segment) Raw() []byte {
	if s.impl.segData == nil {
		return nil
	}
	return s.impl.raw
}

// Field returns field n (1-based, as in PID-3; for MSH, MSH-1 is the field
// separator and MSH-2 the encoding characters, both returned literally:
// never split or decoded). An absent field is empty.
func (s Segment) Field(n int) Field {
	si := s.impl.segData
	if n < 1 || si == nil {
		return Field{}
	}
	k := n // index of the field among the pieces split at the separator
	literal := false
	if si.hdr {
		if n == 1 {
			return Field{fieldImpl{raw: si.raw[3:4:4], d: si.d | flagLiteral}}
		}
		k, literal = n-1, n == 2
	}
	seps := si.seps
	if k > len(seps) {
		if si.lazy {
			si.split()
			return s.Field(n)
		}
		return Field{}
	}
	start, end := int(seps[k-1])+1, len(si.raw)
	if k < len(seps) {
		end = int(seps[k])
	}
	d := si.d
	if literal {
		d |= flagLiteral
	} else if si.norep {
		d |= flagNoRep
	}
	return Field{fieldImpl{raw: si.raw[start:end:end], d: d}}
}

// FieldRep is s.Field(n).Rep(rep), without making the Field for a field
// of an ordinary segment that holds no repetition separator (most fields
// read, one call instead of two).
func (s Segment) FieldRep(n, rep int) Value {
	si := s.impl.segData
	if si == nil || si.hdr || !si.norep || n < 1 {
		return s.Field(n).Rep(rep)
	}
	if n > len(si.seps) {
		return Value{} // a lazy segment is not norep: not here
	}
	start, end := int(si.seps[n-1])+1, len(si.raw)
	if n < len(si.seps) {
		end = int(si.seps[n])
	}
	d := si.d.at(levelRep) &^ flagNoRep
	if rep != 1 || start == end {
		return Value{valueImpl{d: d}}
	}
	return Value{valueImpl{raw: si.raw[start:end:end], d: d}}
}

// Field is one field with its repetitions.
type Field struct{ impl fieldImpl }

type fieldImpl struct {
	raw []byte
	d   delims // with flagLiteral for MSH-1, MSH-2: never split or decoded
}

// NumReps counts the repetitions sent: 0 for an empty field.
func (f Field) NumReps() int {
	if len(f.impl.raw) == 0 {
		return 0
	}
	if f.impl.d.literal() || f.impl.d&flagNoRep != 0 {
		return 1
	}
	return countByte(f.impl.raw, f.impl.d.rep()) + 1
}

// Rep returns repetition i (1-based); empty when absent.
func (f Field) Rep(i int) Value {
	if f.impl.d.literal() {
		if i == 1 {
			return Value{valueImpl{raw: f.impl.raw, d: f.impl.d}}
		}
		return Value{}
	}
	d := f.impl.d.at(levelRep) &^ flagNoRep
	if f.impl.d&flagNoRep != 0 {
		// nth without the scan: the field is its only piece.
		if i != 1 || len(f.impl.raw) == 0 {
			return Value{valueImpl{d: d}}
		}
		return Value{valueImpl{raw: f.impl.raw, d: d}}
	}
	return Value{valueImpl{raw: nth(f.impl.raw, f.impl.d.rep(), i), d: d}}
}

// Raw returns the field's undecoded bytes, repetitions included.
func (f Field) Raw() []byte { return f.impl.raw }

// String decodes the whole field (repetition separators kept).
func (f Field) String() string {
	return Value{valueImpl{raw: f.impl.raw, d: f.impl.d.at(levelRep) &^ flagNoRep}}.String()
}

// Value is a view of one field repetition, component or subcomponent.
// Accessors do not allocate; String decodes escapes and allocates only the
// returned string.
//
// Component and Sub step down one level at a time. On a repetition,
// Component(i) is the i-th component and Sub(i) means Component(1).Sub(i).
// On a component, Component(1) is the component itself (a value without
// delimiters is its own first component) and Sub(i) the i-th subcomponent.
// On a subcomponent, Component(1) and Sub(1) are the value itself. Any
// other index gives an empty Value.
type Value struct{ impl valueImpl }

type valueImpl struct {
	raw []byte
	d   delims // with the level and flagLiteral (see delims.at)
}

func (v *valueImpl) level() uint8  { return v.d.level() }
func (v *valueImpl) literal() bool { return v.d.literal() }

const (
	levelRep uint8 = iota
	levelComp
	levelSub
)

// Raw returns the undecoded bytes.
func (v Value) Raw() []byte { return v.impl.raw }

// IsEmpty reports a value not sent: no bytes, or only separators of a
// lower level (as in "^^^").
func (v Value) IsEmpty() bool {
	r := v.impl.raw
	if v.impl.literal() || len(r) == 0 {
		return len(r) == 0
	}
	sub, comp := v.impl.d.sub(), v.impl.d.comp()
	for _, c := range r {
		switch {
		case c == sub && c != 0:
		case c == comp && v.impl.level() == levelRep:
		default:
			return false
		}
	}
	return true
}

// IsNull reports the explicit null "" (erase the stored value).
func (v Value) IsNull() bool {
	r := v.impl.raw
	return !v.impl.literal() && len(r) == 2 && r[0] == '"' && r[1] == '"'
}

// Component returns component i (1-based); see Value for the levels.
func (v Value) Component(i int) Value {
	if v.impl.level() != levelRep || v.impl.literal() {
		if i == 1 {
			return v
		}
		return Value{}
	}
	return Value{valueImpl{raw: nth(v.impl.raw, v.impl.d.comp(), i), d: v.impl.d.at(levelComp)}}
}

// Sub returns subcomponent i (1-based); see Value for the levels.
func (v Value) Sub(i int) Value {
	switch {
	case v.impl.level() == levelComp && !v.impl.literal():
		return Value{valueImpl{raw: nth(v.impl.raw, v.impl.d.sub(), i), d: v.impl.d.at(levelSub)}}
	case v.impl.level() == levelRep && !v.impl.literal():
		return v.Component(1).Sub(i)
	case i == 1:
		return v
	}
	return Value{}
}

// NumComponents counts the components sent: 0 when empty, 1 below the
// repetition level.
func (v Value) NumComponents() int {
	if len(v.impl.raw) == 0 {
		return 0
	}
	if v.impl.level() != levelRep || v.impl.literal() {
		return 1
	}
	return countByte(v.impl.raw, v.impl.d.comp()) + 1
}

// NumSubs counts the subcomponents sent: of component 1 on a repetition,
// 0 when empty, 1 on a subcomponent.
func (v Value) NumSubs() int {
	switch {
	case len(v.impl.raw) == 0:
		return 0
	case v.impl.literal() || v.impl.level() == levelSub:
		return 1
	case v.impl.level() == levelRep:
		return v.Component(1).NumSubs()
	}
	return countByte(v.impl.raw, v.impl.d.sub()) + 1
}

// nth returns the i-th (1-based) piece of b split at sep, or nil.
// A zero sep means the level has no separator: b is its only piece.
//
// Values are short and most reads want an early piece, so b is read
// eight bytes at a time and the separators picked out of each word (as
// appendSeps does), not a byte or a search call per separator.
func nth(b []byte, sep byte, i int) []byte {
	if i < 1 || len(b) == 0 {
		return nil
	}
	if sep == 0 {
		if i == 1 {
			return b
		}
		return nil
	}
	const low7 = 0x7f7f7f7f7f7f7f7f
	pat := uint64(sep) * 0x0101010101010101
	start, p := 0, 0
	for ; p+8 <= len(b); p += 8 {
		x := binary.LittleEndian.Uint64(b[p:p+8:p+8]) ^ pat
		for m := ^((x&low7 + low7) | x | low7); m != 0; m &= m - 1 {
			j := p + bits.TrailingZeros64(m)>>3
			if i == 1 {
				return b[start:j:j]
			}
			i--
			start = j + 1
		}
	}
	for ; p < len(b); p++ {
		if b[p] == sep {
			if i == 1 {
				return b[start:p:p]
			}
			i--
			start = p + 1
		}
	}
	if i == 1 {
		return b[start:]
	}
	return nil
}

func countByte(b []byte, c byte) int {
	if c == 0 {
		return 0
	}
	if len(b) > 64 {
		return bytes.Count(b, []byte{c})
	}
	// Eight bytes at a time, as nth.
	const low7 = 0x7f7f7f7f7f7f7f7f
	pat := uint64(c) * 0x0101010101010101
	n, p := 0, 0
	for ; p+8 <= len(b); p += 8 {
		x := binary.LittleEndian.Uint64(b[p:p+8:p+8]) ^ pat
		n += bits.OnesCount64(^((x&low7 + low7) | x | low7))
	}
	for ; p < len(b); p++ {
		if b[p] == c {
			n++
		}
	}
	return n
}

// nameKey3 is nameKey of a three-letter name (Is inlines it).
func nameKey3(name string) uint32 {
	return 3<<24 | uint32(name[0]) | uint32(name[1])<<8 | uint32(name[2])<<16
}

// nameKey packs a name of up to 3 bytes (the standard length) into one
// word; longer names get 0 and are compared as strings.
func nameKey(name string) uint32 {
	if len(name) == 3 { // most names: Find computes the key on every call
		return nameKey3(name)
	}
	if len(name) == 0 || len(name) > 3 {
		return 0
	}
	k := uint32(len(name)) << 24
	for i := 0; i < len(name); i++ {
		k |= uint32(name[i]) << (8 * i)
	}
	return k
}

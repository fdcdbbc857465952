package hl7v2

import (
	"fmt"
	"strconv"
	"strings"
)

// Path addresses values in the notation IIS admins use:
//
//	PID-5  PID-5.1  PID-5.1.1  PID-3[2].1  PID-3[*]  OBX[2]-5  OBX[*]-5.1
//
// Segment occurrence and repetition are 1-based; absent means the first;
// [*] means all (expanded by Segments.Values). A path without a component
// addresses the whole repetition (its text decoded, component separators
// kept); without a subcomponent, the whole component.
type Path struct {
	Segment   string
	SegOcc    int // 0 = first; -1 = all
	Field     int
	Rep       int // 0 = first; -1 = all
	Component int // 0 = whole repetition
	Sub       int // 0 = whole component; without Component, of component 1
}

// maxIndex bounds the numbers in a path (fields, repetitions, ...).
const maxIndex = 99999

// ParsePath parses the notation shown on Path. Segment names are 3 letters
// or digits, the first a letter; lower case is accepted and upper-cased.
func ParsePath(s string) (Path, error) {
	var p Path
	fail := func(i int, what string) (Path, error) {
		if i >= len(s) {
			return Path{}, fmt.Errorf("hl7v2: path %q: %s at end", s, what)
		}
		return Path{}, fmt.Errorf("hl7v2: path %q: %s at character %d", s, what, i+1)
	}
	if len(s) < 3 {
		return fail(len(s), "3-character segment name expected")
	}
	name := strings.ToUpper(s[:3])
	if !validSegmentName([]byte(name)) {
		return fail(0, "segment name (a letter, then 2 letters or digits) expected")
	}
	p.Segment = name
	i := 3
	var err error
	if i < len(s) && s[i] == '[' {
		if p.SegOcc, i, err = parseIndex(s, i); err != nil {
			return Path{}, err
		}
	}
	if i >= len(s) || s[i] != '-' {
		return fail(i, `"-" and a field number expected`)
	}
	i++
	if p.Field, i, err = parseNum(s, i, "field number"); err != nil {
		return Path{}, err
	}
	if i < len(s) && s[i] == '[' {
		if p.Rep, i, err = parseIndex(s, i); err != nil {
			return Path{}, err
		}
	}
	if i < len(s) && s[i] == '.' {
		if p.Component, i, err = parseNum(s, i+1, "component number"); err != nil {
			return Path{}, err
		}
		if i < len(s) && s[i] == '.' {
			if p.Sub, i, err = parseNum(s, i+1, "subcomponent number"); err != nil {
				return Path{}, err
			}
		}
	}
	if i < len(s) {
		return fail(i, fmt.Sprintf("unexpected %q", s[i]))
	}
	return p, nil
}

// parseIndex parses "[n]" or "[*]" at s[i] == '['; * gives -1.
func parseIndex(s string, i int) (int, int, error) {
	i++
	if i < len(s) && s[i] == '*' {
		i++
		if i >= len(s) || s[i] != ']' {
			return 0, 0, pathErr(s, i, `"]" expected`)
		}
		return -1, i + 1, nil
	}
	n, i, err := parseNum(s, i, "index (a number or *)")
	if err != nil {
		return 0, 0, err
	}
	if i >= len(s) || s[i] != ']' {
		return 0, 0, pathErr(s, i, `"]" expected`)
	}
	return n, i + 1, nil
}

// parseNum parses a positive decimal number at s[i].
func parseNum(s string, i int, what string) (int, int, error) {
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return 0, 0, pathErr(s, i, what+" expected")
	}
	n, err := strconv.Atoi(s[i:j])
	if err != nil || n > maxIndex {
		return 0, 0, pathErr(s, i, what+" too large")
	}
	if n == 0 {
		return 0, 0, pathErr(s, i, what+" must be 1 or more")
	}
	return n, j, nil
}

func pathErr(s string, i int, what string) error {
	if i >= len(s) {
		return fmt.Errorf("hl7v2: path %q: %s at end", s, what)
	}
	return fmt.Errorf("hl7v2: path %q: %s at character %d", s, what, i+1)
}

// String renders p in the notation ParsePath reads.
func (p Path) String() string {
	var b strings.Builder
	b.WriteString(p.Segment)
	writeIndex(&b, p.SegOcc)
	b.WriteByte('-')
	b.WriteString(strconv.Itoa(p.Field))
	writeIndex(&b, p.Rep)
	if p.Component > 0 || p.Sub > 0 {
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(max(p.Component, 1)))
		if p.Sub > 0 {
			b.WriteByte('.')
			b.WriteString(strconv.Itoa(p.Sub))
		}
	}
	return b.String()
}

func writeIndex(b *strings.Builder, n int) {
	switch {
	case n < 0:
		b.WriteString("[*]")
	case n > 0:
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(n))
		b.WriteByte(']')
	}
}

// Segments is an ordered list of segments; paths resolve against it, so a
// path can address a whole message or one ORDER group alike.
type Segments []Segment

// Find returns the n-th (1-based) segment named name; n 0 means the first.
func (s Segments) Find(name string, n int) (Segment, bool) {
	if n < 0 {
		return Segment{}, false
	}
	if n == 0 {
		n = 1
	}
	key := nameKey(name)
	for _, seg := range s {
		sd := seg.impl.segData
		if sd != nil && (key != 0 && sd.key == key || key == 0 && sd.name == name) {
			if n--; n == 0 {
				return seg, true
			}
		}
	}
	return Segment{}, false
}

// Value returns the first value at p (decoded on String); an empty Value
// when absent. [*] in p means the first.
func (s Segments) Value(p Path) Value {
	seg, ok := s.Find(p.Segment, max(p.SegOcc, 0))
	if !ok {
		return Value{}
	}
	return p.in(seg, max(p.Rep, 1))
}

// Values returns the values at p, expanding each [*]: one per segment
// occurrence (or one per repetition sent with Rep [*], none for an empty
// field). With no [*], it is at most one value, empty ones included, so
// OBX[*]-5 lines up with the OBX segments.
func (s Segments) Values(p Path) []Value {
	if p.SegOcc >= 0 {
		seg, ok := s.Find(p.Segment, p.SegOcc)
		if !ok {
			return nil
		}
		return p.appendFrom(nil, seg)
	}
	var out []Value
	key := nameKey(p.Segment)
	for _, seg := range s {
		sd := seg.impl.segData
		if sd != nil && (key != 0 && sd.key == key || key == 0 && sd.name == p.Segment) {
			out = p.appendFrom(out, seg)
		}
	}
	return out
}

func (p Path) appendFrom(out []Value, seg Segment) []Value {
	if p.Rep >= 0 {
		return append(out, p.in(seg, max(p.Rep, 1)))
	}
	f := seg.Field(p.Field)
	for r := 1; r <= f.NumReps(); r++ {
		out = append(out, p.inField(f, r))
	}
	return out
}

func (p Path) in(seg Segment, rep int) Value { return p.inField(seg.Field(p.Field), rep) }

func (p Path) inField(f Field, rep int) Value {
	v := f.Rep(rep)
	if p.Component > 0 {
		v = v.Component(p.Component)
	}
	if p.Sub > 0 { // on a repetition (no Component): component 1's, as Sub does
		v = v.Sub(p.Sub)
	}
	return v
}

package hl7v2

import (
	"errors"
	"fmt"
)

// Delimiters are the encoding characters of one message (MSH-1, MSH-2).
// Truncation is 0 when MSH-2 has no fifth character (before v2.7).
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent, Truncation byte
}

// DefaultDelimiters are |^~\& .
var DefaultDelimiters = Delimiters{'|', '^', '~', '\\', '&', 0}

// ReadDelimiters reads the delimiters of a header segment, seg beginning
// "MSH", "FHS" or "BHS" followed by the field separator and the encoding
// characters (the rest of seg is ignored; it may run past the segment).
//
// Four or five encoding characters are read as sent (the fifth is the v2.7
// truncation character). Three characters are repaired: the classic broken
// header MSH|^~&| lacks the escape character, so it becomes \ (or, when the
// third character is \, the subcomponent separator becomes &); Parse reports
// the repair in Warnings. Any other count, a repeated character, or a
// letter, digit, space, control or non-ASCII byte as a delimiter is an
// error.
func ReadDelimiters(seg []byte) (Delimiters, error) {
	d, _, err := readDelimiters(seg)
	return d, err
}

var errNoHeader = errors.New("hl7v2: segment does not start with MSH, FHS or BHS")

// readDelimiters is ReadDelimiters that also reports a repair (as a warning
// text) and the length of the header prefix through MSH-2.
func readDelimiters(seg []byte) (d Delimiters, repaired string, err error) {
	if len(seg) < 4 || !isHeaderName(seg[:3]) {
		return d, "", errNoHeader
	}
	name := headerName(seg[:3])
	fs := seg[3]
	if !usableDelimiter(fs) {
		return d, "", fmt.Errorf("hl7v2: %s-1: field separator %q is unusable", name, []byte{fs})
	}
	enc := seg[4:]
	for i, c := range enc {
		if c == fs || c == '\r' || c == '\n' {
			enc = enc[:i]
			break
		}
	}
	d.Field = fs
	switch len(enc) {
	case 4, 5:
		d.Component, d.Repetition, d.Escape, d.Subcomponent = enc[0], enc[1], enc[2], enc[3]
		if len(enc) == 5 {
			d.Truncation = enc[4]
		}
	case 3:
		d.Component, d.Repetition = enc[0], enc[1]
		if enc[2] == '\\' {
			d.Escape, d.Subcomponent = '\\', '&'
			repaired = fmt.Sprintf("%s-2: 3 encoding characters, subcomponent separator missing; assumed &", name)
		} else {
			d.Subcomponent, d.Escape = enc[2], '\\'
			repaired = fmt.Sprintf("%s-2: 3 encoding characters, escape character missing; assumed \\", name)
		}
	default:
		return Delimiters{}, "", fmt.Errorf("hl7v2: %s-2: %d encoding characters, want 4 (or 5 with truncation)", name, len(enc))
	}
	set := [...]byte{d.Field, d.Component, d.Repetition, d.Escape, d.Subcomponent, d.Truncation}
	for i, c := range set {
		if c == 0 && i == 5 {
			continue
		}
		if !usableDelimiter(c) {
			return Delimiters{}, "", fmt.Errorf("hl7v2: %s-2: encoding character %q is unusable", name, []byte{c})
		}
		for _, o := range set[i+1:] {
			if o == c {
				return Delimiters{}, "", fmt.Errorf("hl7v2: %s-2: encoding character %q used twice", name, []byte{c})
			}
		}
	}
	return d, repaired, nil
}

func isHeaderName(b []byte) bool {
	if len(b) != 3 {
		return false
	}
	s := string(b) // no allocation: compared, not kept
	return s == "MSH" || s == "FHS" || s == "BHS"
}

// headerName is the name of a header segment (isHeaderName) as a shared
// string: no allocation per message for error texts rarely written.
func headerName(b []byte) string {
	switch string(b) {
	case "FHS":
		return "FHS"
	case "BHS":
		return "BHS"
	}
	return "MSH"
}

// usableDelimiter rejects characters that would make data ambiguous.
func usableDelimiter(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return false
	case c <= ' ' || c >= 0x7f: // non-ASCII bytes occur inside UTF-8 text
		return false
	}
	return true
}

// delims packs Delimiters into one word, so that views carrying them stay
// small enough to travel in registers.
type delims uint64

func pack(d Delimiters) delims {
	return delims(d.Field) | delims(d.Component)<<8 | delims(d.Repetition)<<16 |
		delims(d.Escape)<<24 | delims(d.Subcomponent)<<32 | delims(d.Truncation)<<40
}

func (p delims) field() byte { return byte(p) }
func (p delims) comp() byte  { return byte(p >> 8) }
func (p delims) rep() byte   { return byte(p >> 16) }
func (p delims) esc() byte   { return byte(p >> 24) }
func (p delims) sub() byte   { return byte(p >> 32) }
func (p delims) trunc() byte { return byte(p >> 40) }

// The views' level and flag ride in the word's spare high bytes, so that
// a Value is 32 bytes: a larger struct is never kept in registers, and
// each copy goes through memory (a store-forwarding stall when the copy
// reads what a call's result was just spilled to).
const (
	levelShift         = 48
	levelMask   delims = 0xff << levelShift
	flagLiteral delims = 1 << 56 // MSH-1, MSH-2: never split or decoded
	flagNoRep   delims = 1 << 57 // a Field's: no repetition separator in it
)

func (p delims) level() uint8  { return uint8(p >> levelShift) }
func (p delims) literal() bool { return p&flagLiteral != 0 }

// at is p for a view at level (flagLiteral kept).
func (p delims) at(level uint8) delims { return p&^levelMask | delims(level)<<levelShift }

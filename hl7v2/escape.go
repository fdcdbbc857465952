package hl7v2

import (
	"bytes"
	"unicode/utf8"
)

// String returns the value decoded: escape sequences resolved as described
// in the package documentation, bytes that are not valid UTF-8 read as
// Latin-1. The explicit null "" gives "". Separators of lower levels stay
// as sent (a repetition's String is "Doe^John").
func (v Value) String() string {
	r := v.impl.raw
	if len(r) == 0 {
		return ""
	}
	if v.impl.literal() {
		return string(r)
	}
	if v.IsNull() {
		return ""
	}
	esc := v.impl.d.esc()
	if (esc == 0 || bytes.IndexByte(r, esc) < 0) && utf8.Valid(r) {
		return string(r)
	}
	return string(decode(make([]byte, 0, len(r)+8), r, v.impl.d))
}

// AppendDecoded appends the decoded value to dst, as String would return
// it, and returns the extended buffer; it lets callers reuse one buffer.
func (v Value) AppendDecoded(dst []byte) []byte {
	r := v.impl.raw
	if v.impl.literal() {
		return append(dst, r...)
	}
	if len(r) == 0 || v.IsNull() {
		return dst
	}
	return decode(dst, r, v.impl.d)
}

// decode appends r to dst with escapes resolved.
func decode(dst, r []byte, d delims) []byte {
	esc := d.esc()
	for len(r) > 0 {
		i := -1
		if esc != 0 {
			i = bytes.IndexByte(r, esc)
		}
		if i < 0 {
			return appendText(dst, r)
		}
		dst = appendText(dst, r[:i])
		j := bytes.IndexByte(r[i+1:], esc)
		if j < 0 { // a lone escape character stays
			return appendText(dst, r[i:])
		}
		seq := r[i+1 : i+1+j]
		next := i + 2 + j
		dst = appendEscape(dst, seq, r[i:next], d)
		r = r[next:]
	}
	return dst
}

// appendEscape resolves one escape sequence seq (between the escape
// characters; whole is the sequence with them).
func appendEscape(dst, seq, whole []byte, d delims) []byte {
	if len(seq) == 1 {
		switch seq[0] {
		case 'F':
			return append(dst, d.field())
		case 'S':
			return append(dst, d.comp())
		case 'T':
			return append(dst, d.sub())
		case 'R':
			return append(dst, d.rep())
		case 'E':
			return append(dst, d.esc())
		case 'P':
			if d.trunc() != 0 {
				return append(dst, d.trunc())
			}
		case 'H', 'N':
			return dst
		}
		return appendText(dst, whole)
	}
	if len(seq) == 0 {
		return appendText(dst, whole)
	}
	switch seq[0] {
	case 'X':
		if out, ok := appendHex(dst, seq[1:]); ok {
			return out
		}
	case '.':
		cmd := seq[1:]
		name := cmd
		for k, c := range cmd {
			if !(c >= 'a' && c <= 'z') {
				name = cmd[:k]
				break
			}
		}
		switch string(name) {
		case "br", "sp":
			return append(dst, '\n')
		case "in", "ti", "sk", "ce", "fi", "nf":
			return dst
		}
	}
	return appendText(dst, whole)
}

// appendHex decodes \Xhh...\ : any even number of hex digits. The bytes
// are kept when they are UTF-8, else read as Latin-1.
func appendHex(dst, hex []byte) ([]byte, bool) {
	if len(hex) == 0 || len(hex)%2 != 0 {
		return dst, false
	}
	var small [32]byte
	buf := small[:0]
	for k := 0; k < len(hex); k += 2 {
		hi, ok1 := unhex(hex[k])
		lo, ok2 := unhex(hex[k+1])
		if !ok1 || !ok2 {
			return dst, false
		}
		buf = append(buf, hi<<4|lo)
	}
	return appendText(dst, buf), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendText appends b; a run that is not valid UTF-8 is read as Latin-1
// (v2 feeds often send ISO-8859-1 without saying so in MSH-18).
func appendText(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for _, c := range b {
		dst = utf8.AppendRune(dst, rune(c))
	}
	return dst
}

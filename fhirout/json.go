package fhirout

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// AppendJSON appends the compact JSON encoding to dst (no trailing newline).
// Strings are escaped per RFC 8259, plus U+2028/U+2029 (JavaScript line
// terminators); invalid UTF-8 becomes U+FFFD. HTML characters are not
// escaped. Values of other Go types than the documented ones are encoded
// with encoding/json (null when that fails).
func (o *Object) AppendJSON(dst []byte) []byte {
	if o == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '{')
	// The members through one pointer each, taken once: o.m[i] would be
	// loaded and bounds-checked again for the value after every call.
	ms := o.m
	for i := range ms {
		m := &ms[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		// Keys are short element names that need no escaping. One of 4 to
		// 16 bytes, with room in dst, is read as two words (two half words
		// below 8 bytes, overlapping), tested with wordFlags and stored as
		// read; a shorter one is checked a byte at a time. Written out
		// here: as a call, this cost about what it saved.
		k := m.key
		if n, l := len(k), len(dst); n >= 4 && n <= 16 && cap(dst)-l >= 19 {
			p, d := unsafe.StringData(k), dst[l:l+19]
			if n >= 8 {
				a, b := wordAt(p, 0), wordAt(p, n-8)
				if (wordFlags(a)|wordFlags(b))&highs == 0 {
					binary.LittleEndian.PutUint64(d[1:], a)
					binary.LittleEndian.PutUint64(d[n-7:], b)
					d[0], d[n+1], d[n+2] = '"', '"', ':'
					dst = dst[:l+n+3]
					goto value
				}
			} else {
				a, b := halfAt(p, 0), halfAt(p, n-4)
				if wordFlags(uint64(a)|uint64(b)<<32)&highs == 0 {
					binary.LittleEndian.PutUint32(d[1:], a)
					binary.LittleEndian.PutUint32(d[n-3:], b)
					d[0], d[n+1], d[n+2] = '"', '"', ':'
					dst = dst[:l+n+3]
					goto value
				}
			}
		}
		if len(k) < 4 && plainShort(k) {
			dst = append(dst, '"')
			dst = append(dst, k...)
			dst = append(dst, '"', ':')
		} else {
			dst = append(appendString(dst, k), ':')
		}
	value:
		// Most members are strings: no call through appendValue's switch.
		if str, ok := m.val.(string); ok {
			// Codes, words, dates: as the keys.
			if n, l := len(str), len(dst); n >= 4 && n <= 16 && cap(dst)-l >= 18 {
				p, d := unsafe.StringData(str), dst[l:l+18]
				if n >= 8 {
					a, b := wordAt(p, 0), wordAt(p, n-8)
					if (wordFlags(a)|wordFlags(b))&highs == 0 {
						binary.LittleEndian.PutUint64(d[1:], a)
						binary.LittleEndian.PutUint64(d[n-7:], b)
						d[0], d[n+1] = '"', '"'
						dst = dst[:l+n+2]
						continue
					}
				} else {
					a, b := halfAt(p, 0), halfAt(p, n-4)
					if wordFlags(uint64(a)|uint64(b)<<32)&highs == 0 {
						binary.LittleEndian.PutUint32(d[1:], a)
						binary.LittleEndian.PutUint32(d[n-3:], b)
						d[0], d[n+1] = '"', '"'
						dst = dst[:l+n+2]
						continue
					}
				}
			}
			if len(str) < 4 && plainShort(str) {
				dst = append(dst, '"')
				dst = append(dst, str...)
				dst = append(dst, '"')
			} else {
				dst = appendString(dst, str)
			}
			continue
		}
		dst = appendValue(dst, m.val)
	}
	return append(dst, '}')
}

// plainShort reports whether s needs no escaping, a byte at a time (for
// short strings: keys, codes). The bytes' flags are OR-ed without a
// branch per byte: half the instructions of testing each one.
func plainShort(s string) bool {
	var bad byte
	for i := 0; i < len(s); i++ {
		bad |= needsEscape[s[i]]
	}
	return bad == 0
}

// halfAt is the four bytes at p+i.
func halfAt(p *byte, i int) uint32 {
	return binary.LittleEndian.Uint32((*[4]byte)(unsafe.Add(unsafe.Pointer(p), i))[:])
}

// needsEscape[c] is 1 when byte c is not printable ASCII other than '"'
// and '\\' (control characters, quotes, backslash, every byte of a
// multi-byte rune).
var needsEscape = func() (t [256]byte) {
	for c := range t {
		if c >= utf8.RuneSelf || !safeASCII[c] {
			t[c] = 1
		}
	}
	return t
}()

// MarshalJSON implements json.Marshaler.
func (o *Object) MarshalJSON() ([]byte, error) {
	return o.AppendJSON(make([]byte, 0, 512)), nil
}

// String is the compact JSON text, for debugging and tests.
func (o *Object) String() string { return string(o.AppendJSON(nil)) }

func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendString(dst, x)
	case *Object:
		return x.AppendJSON(dst)
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			// Most elements are objects: no second pass through the switch.
			if c, ok := e.(*Object); ok {
				dst = c.AppendJSON(dst)
				continue
			}
			dst = appendValue(dst, e)
		}
		return append(dst, ']')
	case bool:
		return strconv.AppendBool(dst, x)
	case Number:
		if !validNumber(string(x)) {
			// Never let a bad number break the NDJSON line: emit it as a
			// string (schema validation will flag it, not the JSON parser).
			if x == "" {
				return append(dst, "null"...)
			}
			return appendString(dst, string(x))
		}
		return append(dst, x...)
	case nil:
		return append(dst, "null"...)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case []string:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, e)
		}
		return append(dst, ']')
	case []*Object:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.AppendJSON(dst)
		}
		return append(dst, ']')
	}
	b, err := json.Marshal(v)
	if err != nil {
		return append(dst, "null"...)
	}
	return append(dst, b...)
}

// validNumber reports whether s is a JSON number (RFC 8259 grammar).
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return false
	}
	switch {
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

// safeASCII[c] is true when byte c < utf8.RuneSelf needs no escaping.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

const ones, highs = 0x0101010101010101, 0x8080808080808080

// wordAt is the eight bytes at p+i (through an array pointer: an
// unsafe.Slice would check its length each time).
func wordAt(p *byte, i int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(unsafe.Pointer(p), i))[:])
}

// wordFlags tests whether the eight bytes of w need no escaping
// (printable ASCII other than '"' and '\\'): a highs bit is set when one
// does. Per byte, w-0x20 has its high bit set below 0x20, q-1 and b-1 at
// '"' and '\\', w at non-ASCII. Below the lowest byte that needs escaping
// nothing borrows, so that byte is flagged exactly; flags above it (from
// a borrow) only repeat that the word is not plain. Hence no term needs
// masking with ^x, as the usual zero-byte test does.
func wordFlags(w uint64) uint64 {
	q, b := w^(ones*'"'), w^(ones*'\\')
	return (w - ones*0x20) | (q - ones) | (b - ones) | w
}

// plainWords is how many bytes from the start of s need no escaping, in
// whole words (wordFlags), or len(s) when none does (the tail checked
// as the last eight bytes, overlapping). Two words are tested per step,
// with the string's pointer and length in registers: most text needs no
// escaping at all.
func plainWords(s string) int {
	n := len(s)
	if n < 8 {
		return 0
	}
	p := unsafe.StringData(s)
	i := 0
	for ; i+16 <= n; i += 16 {
		if (wordFlags(wordAt(p, i))|wordFlags(wordAt(p, i+8)))&highs != 0 {
			break
		}
	}
	for ; i+8 <= n; i += 8 {
		if wordFlags(wordAt(p, i))&highs != 0 {
			return i
		}
	}
	if i == n || wordFlags(wordAt(p, n-8))&highs == 0 {
		return n
	}
	return i
}

// copyPlain copies the n >= 8 bytes at p to q a word at a time as each
// is tested (wordFlags), the last word overlapping, and says whether all
// of them need no escaping: one pass over the text instead of
// plainWords' test and then a copy. When not, what it copied is not to
// be used; it lies within the bytes the escaped text then takes (never
// shorter than the text).
// Only the two pointers, the count and the word are live in the loop:
// the compiler keeps them in registers.
func copyPlain(q, p *byte, n int) bool {
	i := 0
	for ; i+16 <= n; i += 16 {
		a, b := wordAt(p, i), wordAt(p, i+8)
		if (wordFlags(a)|wordFlags(b))&highs != 0 {
			return false
		}
		putWordAt(q, i, a)
		putWordAt(q, i+8, b)
	}
	if i+8 <= n {
		a := wordAt(p, i)
		if wordFlags(a)&highs != 0 {
			return false
		}
		putWordAt(q, i, a)
		i += 8
	}
	if i < n {
		a := wordAt(p, n-8)
		if wordFlags(a)&highs != 0 {
			return false
		}
		putWordAt(q, n-8, a)
	}
	return true
}

// putWordAt stores w as the eight bytes at p+i (see wordAt).
func putWordAt(p *byte, i int, w uint64) {
	binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Add(unsafe.Pointer(p), i))[:], w)
}

func appendString(dst []byte, s string) []byte {
	if len(s) < 8 && plainShort(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	// Most text needs no escaping: with room in dst, it is copied as it
	// is tested, in one pass.
	if n, l := len(s), len(dst); n >= 8 && cap(dst)-l >= n+2 {
		d := dst[l : l+n+2]
		if copyPlain(&d[1], unsafe.StringData(s), n) {
			d[0], d[n+1] = '"', '"'
			return dst[:l+n+2]
		}
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Most text needs no escaping: skip it a word or two at a time.
		if i += plainWords(s[i:]); i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ParseObject decodes JSON text into an Object, keeping key order. Numbers
// stay Number (their text), arrays are []any, null is nil. The text must
// hold exactly one JSON object.
func ParseObject(data []byte) (*Object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("fhirout: parse JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("fhirout: parse JSON: offset %d: want an object, got %v", dec.InputOffset(), tok)
	}
	o, err := parseObject(dec)
	if err != nil {
		return nil, fmt.Errorf("fhirout: parse JSON: offset %d: %w", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("fhirout: parse JSON: offset %d: data after the object", dec.InputOffset())
	}
	return o, nil
}

// parseObject reads members after the opening '{' up to the closing '}'.
func parseObject(dec *json.Decoder) (*Object, error) {
	o := &Object{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return o, nil
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("want a key, got %v", tok)
		}
		v, err := parseValue(dec)
		if err != nil {
			return nil, err
		}
		// A duplicate key keeps its first position and its last value,
		// like encoding/json does for maps.
		o.Set(key, v)
	}
}

var errUnexpectedEnd = errors.New("unexpected end of JSON")

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err == io.EOF {
		return nil, errUnexpectedEnd
	}
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case json.Delim:
		switch x {
		case '{':
			return parseObject(dec)
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", x)
	case json.Number:
		return Number(x), nil
	case string, bool, nil:
		return x, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

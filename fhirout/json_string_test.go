package fhirout

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// appendStringRef is the string escaping of AppendJSON one rune at a
// time, the reference for the word-at-a-time fast paths.
func appendStringRef(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\b':
			dst = append(dst, `\b`...)
		case r == '\f':
			dst = append(dst, `\f`...)
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// TestAppendStringEveryPosition puts each kind of byte needing care at
// every position of strings of 0 to 40 bytes, around the 8-byte word,
// 16-byte step and overlapping-tail boundaries, as value and as key.
func TestAppendStringEveryPosition(t *testing.T) {
	specials := []string{"\"", "\\", "\n", "\x01", "\x1f", "\x7f", "é", "\u2028", "\xff", "\xe2\x80", "漢", "😀"}
	for n := 0; n <= 40; n++ {
		base := strings.Repeat("abcdefgh", 5)[:n]
		cases := []string{base}
		for p := 0; p <= n; p++ {
			for _, sp := range specials {
				cases = append(cases, base[:p]+sp+base[p:])
				if p+2 <= n {
					cases = append(cases, base[:p]+sp+base[p+1:p+2]+sp+base[p+2:])
				}
			}
		}
		for _, s := range cases {
			want := string(appendStringRef([]byte("x"), s))
			if got := string(appendString([]byte("x"), s)); got != want {
				t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
			}
			// With room in dst, text of 8 bytes or more is copied as it
			// is tested (copyPlain), and left to the slow path when not
			// plain after all.
			if got := string(appendString(append(make([]byte, 0, 256), 'x'), s)); got != want {
				t.Fatalf("appendString(%q) into a roomy buffer = %s, want %s", s, got, want)
			}
			if got := string(appendString(append(make([]byte, 0, 1+len(s)+2), 'x'), s)); got != want {
				t.Fatalf("appendString(%q) into a buffer with room for it plain = %s, want %s", s, got, want)
			}
			o := &Object{}
			o.Set(s, nil)
			if got := string(o.AppendJSON([]byte("x"))); got != "x{"+want[1:]+":null}" {
				t.Fatalf("key %q encodes as %s, want x{%s:null}", s, got, want[1:])
			}
			// With room to spare in dst, short keys and values take
			// AppendJSON's word path.
			roomy := append(make([]byte, 0, 256), 'x')
			if got := string(o.AppendJSON(roomy)); got != "x{"+want[1:]+":null}" {
				t.Fatalf("key %q encodes as %s into a roomy buffer, want x{%s:null}", s, got, want[1:])
			}
			o.Set("k", s)
			if got := string(o.AppendJSON(roomy)); got != "x{"+want[1:]+":null,\"k\":"+want[1:]+"}" {
				t.Fatalf("value %q encodes as %s into a roomy buffer", s, got)
			}
		}
	}
}

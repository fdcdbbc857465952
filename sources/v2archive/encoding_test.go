package v2archive

import (
	"bytes"
	"testing"
)

// asciiPrefix finds the first byte >= 0x80 wherever it sits in or after
// the 16- and 8-byte steps, and none in ASCII.
func TestASCIIPrefix(t *testing.T) {
	for n := 0; n <= 40; n++ {
		b := bytes.Repeat([]byte{0x7f}, n)
		if got := asciiPrefix(b); got != n || !isASCII(b) {
			t.Fatalf("ASCII of %d bytes: %d", n, got)
		}
		for at := 0; at < n; at++ {
			for _, c := range []byte{0x80, 0xc3, 0xff} {
				b := bytes.Repeat([]byte{'A'}, n)
				b[at] = c
				if at+1 < n {
					b[n-1] = 0xff // a later one does not count
				}
				if got := asciiPrefix(b); got != at || isASCII(b) {
					t.Fatalf("%d bytes, 0x%x at %d: %d", n, c, at, got)
				}
			}
		}
	}
}

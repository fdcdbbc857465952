package fhirout

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// appendString skips plain text eight bytes at a time; every byte value
// at every position of such a word, beside bytes that could borrow into
// it, must still be escaped exactly as one byte at a time would.
func TestAppendStringWordScan(t *testing.T) {
	for _, fill := range []string{"a", " ", "\x7f", "!", "#", "[", "]", "0"} {
		for b := 0; b < 256; b++ {
			for p := 0; p < 17; p++ {
				w := []byte(strings.Repeat(fill, 17))
				w[p] = byte(b)
				roundTrip(t, string(w))
			}
		}
	}
	for _, s := range []string{
		"Quillfeather Marigold Ann 12 Larkspur Lane",
		`a long plain run then "quotes" and \backslash\ and` + "\t tab \x01 ctl",
		"unicode after eight bytes: Müller 東京 \u2028 end",
		"bad utf8 after eight: \xff\xfe tail",
		strings.Repeat("x", 64) + `"`,
	} {
		roundTrip(t, s)
	}
}

func roundTrip(t *testing.T, s string) {
	t.Helper()
	got := appendString(nil, s)
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
	}
	if want := string([]rune(s)); back != want { // invalid bytes become U+FFFD
		t.Fatalf("%q round-trips to %q", s, back)
	}
}

// wordFlags against a byte at a time, over words mixing bytes next to
// the bounds it tests (two offending bytes may borrow into each other).
func TestPlainWord(t *testing.T) {
	edge := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', 0x23, 0x5b, '\\', 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xff}
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, 8)
	for range 1 << 20 {
		want := true
		for i := range w {
			if r.IntN(4) == 0 {
				w[i] = edge[r.IntN(len(edge))]
			} else {
				w[i] = byte('a' + r.IntN(26))
			}
			want = want && w[i] < utf8.RuneSelf && safeASCII[w[i]]
		}
		if got := wordFlags(binary.LittleEndian.Uint64(w))&highs == 0; got != want {
			t.Fatalf("plain word %q = %v, want %v", w, got, want)
		}
	}
}

// plainWords against a byte at a time: the plain whole words before the
// first byte that needs escaping, at every length and position of one
// or two such bytes (a pair's words, a single word, the overlapping tail).
func TestPlainWords(t *testing.T) {
	edge := []byte{0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xff, 0x20}
	for n := 0; n <= 40; n++ {
		clean := strings.Repeat("a", n)
		if got, want := plainWords(clean), n; n >= 8 && got != want || n < 8 && got != 0 {
			t.Fatalf("plainWords(%q) = %d", clean, got)
		}
		for p := range n {
			for k, b := range edge {
				for _, q := range []int{p, p + 1 + k, n - 1} {
					if q < p || q >= n {
						continue
					}
					s := []byte(clean)
					s[p], s[q] = b, edge[(k+q)%len(edge)]
					first := strings.IndexFunc(string(s), func(r rune) bool { return r >= utf8.RuneSelf || !safeASCII[r] })
					want := 0
					switch {
					case n < 8:
					case first < 0:
						want = n
					default:
						want = first / 8 * 8
					}
					if got := plainWords(string(s)); got != want {
						t.Fatalf("plainWords(%q) = %d, want %d", s, got, want)
					}
				}
			}
		}
	}
}

package hl7v2

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// nthRef is nth by splitting: the i-th piece, nil when there is none.
func nthRef(b []byte, sep byte, i int) []byte {
	var parts [][]byte
	switch {
	case len(b) == 0:
	case sep == 0:
		parts = [][]byte{b} // no separator at this level: one piece
	default:
		parts = bytes.Split(b, []byte{sep})
	}
	if i < 1 || i > len(parts) {
		return nil
	}
	return parts[i-1]
}

// TestNth checks the word-at-a-time nth against splitting, on random
// values biased towards the separator and bytes one bit away from it,
// for every piece and some past the last; a piece other than the last
// ends at its capacity (appending to it cannot overwrite the next).
func TestNth(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte{'^', '^', '^' ^ 0x80, '^' ^ 1, '^' - 1, 0, 0xff, 'A', '&'}
	for round := 0; round < 3000; round++ {
		b := make([]byte, r.IntN(70))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		n := bytes.Count(b, []byte{'^'}) + 1
		for _, sep := range []byte{'^', 0} {
			for i := -1; i <= n+2; i++ {
				got, want := nth(b, sep, i), nthRef(b, sep, i)
				if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("nth(%q, %q, %d) = %q, want %q", b, sep, i, got, want)
				}
				if got != nil && i < n && sep != 0 && cap(got) != len(got) {
					t.Fatalf("nth(%q, %d): capacity %d past the piece", b, i, cap(got))
				}
			}
		}
	}
}

// TestCountByte checks the word-at-a-time count against bytes.Count.
func TestCountByte(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	alphabet := []byte{'~', '~', '~' ^ 0x80, '~' ^ 1, '~' - 1, 0, 0xff, 'A'}
	for round := 0; round < 3000; round++ {
		b := make([]byte, r.IntN(140))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if got, want := countByte(b, '~'), bytes.Count(b, []byte{'~'}); got != want {
			t.Fatalf("countByte(%q) = %d, want %d", b, got, want)
		}
	}
}

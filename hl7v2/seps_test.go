package hl7v2

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAppendSeps checks the word-at-a-time separator scan against a byte
// loop for every line start and end in buffers of random bytes biased
// towards the separator and bytes that differ from it in one bit.
func TestAppendSeps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'|', '|', '^', '|' ^ 0x80, '|' ^ 1, '|' - 1, 0, 0xff, 'A', '\r'}
	for round := 0; round < 200; round++ {
		data := make([]byte, r.IntN(40))
		for i := range data {
			data[i] = alphabet[r.IntN(len(alphabet))]
		}
		for ls := 0; ls <= len(data); ls++ {
			for le := ls; le <= len(data); le++ {
				var want []int32
				for p := ls; p < le; p++ {
					if data[p] == '|' {
						want = append(want, int32(p-ls))
					}
				}
				got := appendSeps([]int32{-1}, data, ls, le, '|')
				if got[0] != -1 || !slices.Equal(got[1:], want) {
					t.Fatalf("%q [%d:%d]: %v, want %v", data, ls, le, got[1:], want)
				}
			}
		}
	}
}

// TestTailWord checks tailWord against the word built byte by byte, for
// every start in slices of up to 20 bytes (the overlapping loads).
func TestTailWord(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for round := 0; round < 200; round++ {
		b := make([]byte, r.IntN(21))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		for p := max(len(b)-7, 0); p < len(b); p++ {
			var want uint64
			for i := len(b) - 1; i >= p; i-- {
				want = want<<8 | uint64(b[i])
			}
			if got := tailWord(b, p); got != want {
				t.Fatalf("tailWord(%x, %d) = %#x, want %#x", b, p, got, want)
			}
		}
	}
}

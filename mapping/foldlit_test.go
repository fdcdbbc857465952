package mapping

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// foldLiteral.equal gives what strings.EqualFold gives, for literals and
// values drawn from letters, their case partners, digits, punctuation
// next to the letters in ASCII and the runes that fold to k and s.
func TestFoldLiteralMatchesEqualFold(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "A", "k", "K", "s", "S", "z", "Z", "@", "[", "`", "{", "0", "-", " ", "\u212a", "\u017f", "é", "É", "\xff"}
	word := func() string {
		var b strings.Builder
		for range r.IntN(10) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 20000 {
		lit, x := word(), word()
		if r.IntN(3) == 0 {
			x = strings.ToUpper(lit)
		}
		l := foldLit(lit)
		if got, want := l.equal(x), strings.EqualFold(x, lit); got != want {
			t.Fatalf("foldLit(%q).equal(%q) = %v, EqualFold %v", lit, x, got, want)
		}
	}
	for _, c := range [][2]string{{"RE", "re"}, {"NA", "Na"}, {"D", "d"}, {"CP", "PA"}, {"Y", "y "}, {"998", "998"},
		{"30963-3", "30963-3"}, {"30963-3", "30963-4"}, {"30963-3", "40963-3"}, {"1234", "1234"}, {"1234", "1235"},
		{"12345678", "12345678"}, {"12345678", "12345679"}, {"123456789", "123456789"}, {"9999", "99999"}} {
		l := foldLit(c[0])
		if got, want := l.equal(c[1]), strings.EqualFold(c[1], c[0]); got != want {
			t.Errorf("%q %q: %v, want %v", c[0], c[1], got, want)
		}
	}
}

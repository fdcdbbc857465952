package match

import (
	"math"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"martha", "marhta", 0.961}, {"dwayne", "duane", 0.84}, {"dixon", "dicksonx", 0.813}, {"abc", "xyz", 0}, {"same", "same", 1},
	} {
		if got := JaroWinkler(c.a, c.b); math.Abs(got-c.want) > 0.001 {
			t.Errorf("JaroWinkler(%q, %q) = %.3f, want %.3f", c.a, c.b, got, c.want)
		}
	}
}

func TestScoreGrades(t *testing.T) {
	c := Default()
	base := Person{Given: "Elizabeth", Family: "O'Brien", BirthDate: "2016-03-14", Sex: "female", PostalCode: "53703-1201", Phone: "(608) 555-0199"}
	for _, tc := range []struct {
		name string
		p    Person
		want string
	}{
		{"same", base, Certain},
		{"case, punctuation, diacritics, nickname", Person{Given: "LIZ", Family: "OBrién", BirthDate: "2016-03-14", Sex: "female", PostalCode: "53703", Phone: "608-555-0199"}, Certain},
		{"typo in the family name", Person{Given: "Elizabeth", Family: "OBrein", BirthDate: "2016-03-14", Sex: "female", PostalCode: "53703"}, Certain},
		{"month and day swapped", Person{Given: "Elizabeth", Family: "O'Brien", BirthDate: "2016-14-03", Sex: "female"}, Probable},
		{"one digit off in the birth date", Person{Given: "Elizabeth", Family: "O'Brien", BirthDate: "2016-03-17", Sex: "female", PostalCode: "53703"}, Probable},
		{"without contact details", Person{Given: "Elizabeth", Family: "O'Brien", BirthDate: "2016-03-14", Sex: "female"}, Certain},
		{"twin sister", Person{Given: "Margaret", Family: "O'Brien", BirthDate: "2016-03-14", Sex: "female", PostalCode: "53703", Phone: "6085550199"}, NotMatch},
		{"another person", Person{Given: "John", Family: "Smith", BirthDate: "1990-01-01", Sex: "male"}, NotMatch},
		{"no birth date", Person{Given: "Elizabeth", Family: "O'Brien"}, NotMatch},
		{"shared identifier", Person{Identifiers: []Identifier{{"urn:mrn", "42"}}}, Certain},
	} {
		a := Normalize(base)
		if tc.name == "shared identifier" {
			a = Normalize(Person{Given: "X", Identifiers: []Identifier{{"urn:mrn", "42"}}})
		}
		s := c.Score(a, Normalize(tc.p))
		if got := c.Grade(s); got != tc.want {
			t.Errorf("%s: score %.3f grade %s, want %s", tc.name, s, got, tc.want)
		}
	}
}

func TestKeysShareABlock(t *testing.T) {
	a := Normalize(Person{Given: "Liz", Family: "Obrien", BirthDate: "2016-03-14"})
	b := Normalize(Person{Given: "Elizabeth", Family: "OBrian", BirthDate: "2016-03-15"})
	shared := false
	for _, k := range a.Keys() {
		for _, l := range b.Keys() {
			shared = shared || k == l
		}
	}
	if !shared {
		t.Errorf("a one-day typo in the birth date leaves no shared block: %v %v", a.Keys(), b.Keys())
	}
}

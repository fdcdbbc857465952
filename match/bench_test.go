package match

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var (
	benchGiven  = []string{"Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "William", "Mia", "Benjamin"}
	benchFamily = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas"}
)

func benchPerson(r *rand.Rand) Person {
	return Person{
		Given: benchGiven[r.IntN(len(benchGiven))], Family: benchFamily[r.IntN(len(benchFamily))] + fmt.Sprint(r.IntN(50)),
		BirthDate: fmt.Sprintf("%04d-%02d-%02d", 1950+r.IntN(75), 1+r.IntN(12), 1+r.IntN(28)), Sex: []string{"male", "female"}[r.IntN(2)],
		PostalCode: fmt.Sprintf("5%04d", r.IntN(10000)), Phone: fmt.Sprintf("608555%04d", r.IntN(10000)),
	}
}

// BenchmarkBlockedMatch is one candidate of the registry scan against a
// roster of 10,000 rows: normalize it, look its blocking keys up, score
// the rows that share one (the per-person cost of $bulk-match).
func BenchmarkBlockedMatch(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	c := Default()
	roster := make([]Normalized, 10000)
	block := map[string][]int{}
	for i := range roster {
		roster[i] = Normalize(benchPerson(r))
		for _, k := range roster[i].Keys() {
			block[k] = append(block[k], i)
		}
	}
	cands := make([]Person, 4096)
	for i := range cands {
		cands[i] = benchPerson(r)
	}
	compared := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := Normalize(cands[i%len(cands)])
		for _, k := range n.Keys() {
			for _, j := range block[k] {
				compared++
				c.Grade(c.Score(roster[j], n))
			}
		}
	}
	b.ReportMetric(float64(compared)/float64(b.N), "compared/op")
}

func BenchmarkScore(b *testing.B) {
	c := Default()
	x := Normalize(Person{Given: "Elizabeth", Family: "O'Brien", BirthDate: "2016-03-14", Sex: "female", PostalCode: "53703", Phone: "6085550199"})
	y := Normalize(Person{Given: "Liz", Family: "OBrein", BirthDate: "2016-03-14", Sex: "female", PostalCode: "53703"})
	for i := 0; i < b.N; i++ {
		c.Score(x, y)
	}
}

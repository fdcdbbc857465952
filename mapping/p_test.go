package mapping

import (
	"testing"

	"iisbridge/hl7v2"
)

func BenchmarkPartApply(b *testing.B) {
	m := Default()
	msg, _ := hl7v2.Parse([]byte(benchVXU))
	b.ReportAllocs()
	for b.Loop() {
		m.Apply(Input{Msg: msg}, false)
	}
}
func BenchmarkPartParse(b *testing.B) {
	data := []byte(benchVXU)
	b.ReportAllocs()
	for b.Loop() {
		hl7v2.Parse(data)
	}
}

package mapping

import (
	"strconv"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// An env keeps its memo frames from Apply to Apply, but not the chunk an
// outsized message grew: after one message with thousands of OBX, the
// next ordinary message leaves the env with no more than an ordinary
// message needs.
func TestFramesRetainedBounded(t *testing.T) {
	m := Default()
	small, err := hl7v2.Parse([]byte(benchVXU))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(benchVXU)
	for i := 0; i < 200; i++ {
		b.WriteString("ORC|RE||NC-DOSE-" + strconv.Itoa(i) + "^MYEHR\r")
		b.WriteString("RXA|0|1|20240310|20240310|08^Hep B^CVX|0.5|mL^milliliters^UCUM\r")
		for k := 1; k <= 10; k++ {
			b.WriteString("OBX|" + strconv.Itoa(k) + "|CE|64994-7^Vaccine funding program eligibility category^LN|" + strconv.Itoa(k) + "|V02^VFC eligible - Medicaid^HL70064||||||F\r")
		}
	}
	huge, err := hl7v2.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var e env
	e.apply(m.impl, Input{Msg: small}, false)
	e.apply(m.impl, Input{Msg: small}, false)
	ordinary := e.frameUse
	e.apply(m.impl, Input{Msg: huge}, false)
	if e.frameUse < 20*ordinary {
		t.Fatalf("the huge message used %d frame slots, an ordinary one %d: not outsized", e.frameUse, ordinary)
	}
	e.apply(m.impl, Input{Msg: small}, false) // lets the huge chunk go
	e.apply(m.impl, Input{Msg: small}, false)
	if kept, limit := cap(e.frames), max(4*ordinary, 512); kept > limit {
		t.Errorf("env keeps %d frame slots after the huge message; an ordinary one uses %d (limit %d)", kept, ordinary, limit)
	}
}

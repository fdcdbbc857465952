package mapping

import (
	"slices"
	"testing"

	"github.com/iisbridge/iisbridge/sources"
)

// Want lets the history reduction map only the doses it keeps: each ORDER
// asked alone yields exactly its own Immunizations, with the ids they have
// in a full run, and a refused resource is never built.
func TestWantSkipsResources(t *testing.T) {
	m := Default()
	msg := readMsg(t, "vxu_full.hl7")
	loc := sources.Location{Source: "vxu_full.hl7"}
	ids := func(out Output, typ string) []string {
		var s []string
		for _, r := range out.Resources {
			if r.ResourceType() == typ {
				s = append(s, r.ID())
			}
		}
		return s
	}
	all := m.Apply(Input{Msg: msg, Loc: loc}, false)
	full := ids(all, "Immunization")
	if len(full) < 2 {
		t.Fatalf("fixture should give at least 2 Immunizations, got %d", len(full))
	}
	var joined []string
	for k := range msg.Orders() {
		out := m.Apply(Input{Msg: msg, Loc: loc, Want: func(typ string, order int) bool {
			return typ == "Immunization" && order == k
		}}, false)
		if p := ids(out, "Patient"); len(p) != 0 {
			t.Fatalf("order %d: Patient built although Want refused it", k)
		}
		joined = append(joined, ids(out, "Immunization")...)
	}
	if !slices.Equal(joined, full) {
		t.Fatalf("orders mapped one at a time gave %v, a full run %v", joined, full)
	}
	none := m.Apply(Input{Msg: msg, Loc: loc, Want: func(string, int) bool { return false }}, false)
	if len(none.Resources) != 0 {
		t.Fatalf("Want refusing everything still built %d resources", len(none.Resources))
	}
}

package synthtest

import (
	"slices"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources/synth"
)

func TestMatchPatients(t *testing.T) {
	a := synth.Person{Key: "a", IISID: "S1", IDs: []synth.FacilityID{{MRN: "M1"}, {MRN: "M2"}}}
	b := synth.Person{Key: "b", IDs: []synth.FacilityID{{MRN: "M3"}}}
	if got := Keys(a); !slices.Equal(got, []string{"MR|M1", "MR|M2", "SR|S1"}) {
		t.Fatalf("Keys = %v", got)
	}
	good := map[string][]string{"MR|M1": {"p1"}, "MR|M2": {"p1"}, "SR|S1": {"p1"}, "MR|M3": {"p2"}}
	pidOf, probs := MatchPatients([]synth.Person{a, b}, good)
	if len(probs) != 0 || pidOf["a"] != "p1" || pidOf["b"] != "p2" {
		t.Fatalf("clean world: %v %v", pidOf, probs)
	}
	cases := map[string]map[string][]string{
		"split over":       {"MR|M1": {"p1"}, "MR|M2": {"p9"}, "SR|S1": {"p1"}, "MR|M3": {"p2"}},
		"on 2 Patients":    {"MR|M1": {"p1", "p2"}, "MR|M2": {"p1"}, "SR|S1": {"p1"}, "MR|M3": {"p2"}},
		"share Patient":    {"MR|M1": {"p1"}, "MR|M2": {"p1"}, "SR|S1": {"p1"}, "MR|M3": {"p1"}},
		"no Patient holds": {"MR|M1": {"p1"}, "MR|M2": {"p1"}, "SR|S1": {"p1"}},
	}
	for want, holders := range cases {
		_, probs := MatchPatients([]synth.Person{a, b}, holders)
		if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("%s: problems %v do not report it", want, probs)
		}
	}
}

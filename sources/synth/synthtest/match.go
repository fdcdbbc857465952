// Package synthtest holds what tests need to compare an export with a
// synthetic world's truth, so every test judges identity by the same rule.
package synthtest

import (
	"fmt"

	"github.com/iisbridge/iisbridge/sources/synth"
)

// Keys are the identifier keys of a truth person: "MR|<mrn>" for each
// facility MRN and "SR|<iis id>" when the IIS assigned one. A test builds
// the same keys from the Patients it exported.
func Keys(p synth.Person) []string {
	keys := make([]string, 0, len(p.IDs)+1)
	for _, id := range p.IDs {
		keys = append(keys, "MR|"+id.MRN)
	}
	if p.IISID != "" {
		keys = append(keys, "SR|"+p.IISID)
	}
	return keys
}

// MatchPatients finds the one Patient of each truth person. holders maps
// an identifier key (see Keys) to the ids of the Patients carrying it,
// each id once. It returns person key → Patient id, and a problem for
// every key on several Patients, person split over Patients, two persons
// sharing one Patient, or person with no Patient.
func MatchPatients(persons []synth.Person, holders map[string][]string) (map[string]string, []string) {
	pidOf := map[string]string{}
	personOf := map[string]string{}
	var problems []string
	for _, tp := range persons {
		for _, k := range Keys(tp) {
			h := holders[k]
			if len(h) != 1 {
				problems = append(problems, fmt.Sprintf("person %s: identifier %s on %d Patients, want 1", tp.Key, k, len(h)))
				continue
			}
			if prev := pidOf[tp.Key]; prev != "" && prev != h[0] {
				problems = append(problems, fmt.Sprintf("person %s split over Patients %s and %s", tp.Key, prev, h[0]))
			}
			pidOf[tp.Key] = h[0]
		}
		pid := pidOf[tp.Key]
		if pid == "" {
			problems = append(problems, fmt.Sprintf("person %s: no Patient holds its identifiers", tp.Key))
			continue
		}
		if other := personOf[pid]; other != "" {
			problems = append(problems, fmt.Sprintf("persons %s and %s share Patient %s", other, tp.Key, pid))
		}
		personOf[pid] = tp.Key
	}
	return pidOf, problems
}

package pipeline

import (
	"sort"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// provenance names the source records behind one resource: target the
// resource, recorded the time the bridge learned the latest of them, one
// agent per sending organization, one entity per record (what.identifier
// = MSH-10, or the row key). It carries no patient data.
func provenance(target string, msgs []*origin, recorded time.Time) *fhirout.Object {
	p := fhirout.NewResource("Provenance")
	p.Set("id", hashID("Provenance|"+target))
	p.Child("meta").Set("lastUpdated", fhirout.FormatInstant(recorded))
	p.Set("target", []any{refObject(target)})
	p.Set("recorded", fhirout.FormatInstant(recorded))
	orgs := map[string]string{}
	var keys []string
	for _, m := range msgs {
		k := m.orgKey
		if k == "" {
			k = "unknown"
		}
		if _, ok := orgs[k]; !ok {
			keys = append(keys, k)
		}
		if m.orgName != "" || orgs[k] == "" {
			orgs[k] = m.orgName
		}
	}
	sort.Strings(keys)
	var agents []any
	for _, k := range keys {
		a := fhirout.NewObject()
		c := fhirout.NewObject()
		c.Set("system", "http://terminology.hl7.org/CodeSystem/provenance-participant-type")
		c.Set("code", "author")
		a.Child("type").Set("coding", []any{c})
		who := a.Child("who")
		who.Child("identifier").Set("value", k)
		if orgs[k] != "" {
			who.Set("display", orgs[k])
		}
		agents = append(agents, a)
	}
	p.Set("agent", agents)
	var ents []any
	for _, m := range msgs {
		en := fhirout.NewObject()
		en.Set("role", "source")
		what := en.Child("what")
		if m.loc.ControlID != "" {
			what.Child("identifier").Set("value", m.loc.ControlID)
		}
		what.Set("display", m.describe())
		ents = append(ents, en)
	}
	p.Set("entity", ents)
	return p
}

package pipeline

import (
	"fmt"
	"sort"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources/index"
)

// Provenance names the source messages behind one resource: target the
// resource, recorded the time the bridge indexed the latest of them, one
// agent per sending organization, one entity per message (what.identifier
// = MSH-10). It carries no patient data.
func Provenance(target string, msgs []*index.Message, recorded time.Time) *fhirout.Object {
	p := fhirout.NewResource("Provenance")
	p.Set("id", hashID("Provenance|"+target))
	p.Child("meta").Set("lastUpdated", fhirout.FormatInstant(recorded))
	p.Set("target", []any{refObject(target)})
	p.Set("recorded", fhirout.FormatInstant(recorded))
	orgs := map[string]string{}
	var keys []string
	for _, m := range msgs {
		k := m.OrgKey
		if k == "" {
			k = "unknown"
		}
		if _, ok := orgs[k]; !ok {
			keys = append(keys, k)
		}
		if m.OrgName != "" || orgs[k] == "" {
			orgs[k] = m.OrgName
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
		if m.Loc.ControlID != "" {
			what.Child("identifier").Set("value", m.Loc.ControlID)
		}
		d := m.Type + " message"
		if m.OrgKey != "" {
			d += " from " + m.OrgKey
		}
		if !m.Time.IsZero() {
			d += " at " + m.Time.Format(time.RFC3339)
		}
		what.Set("display", fmt.Sprintf("%s (record %d)", d, m.Loc.Index))
		ents = append(ents, en)
	}
	p.Set("entity", ents)
	return p
}

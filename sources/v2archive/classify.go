package v2archive

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// classify reads what the index needs of a parsed message: the record's
// kind, time and Group evidence from MSH-7/9/21, MSA-2, QAK-2 and
// RXA-5/9/20/21 (what the message types mean), its identity keys and
// organization from the mapping's identity: section (id, under the
// identity rules c). It is the whole of what "v2" means to the index.
func classify(c sources.IdentityConfig, id sources.Identifier, m *hl7v2.Message, data []byte, r *sources.Record, who *sources.Identity) error {
	segs := m.Segments()
	msh := segs[0]
	code, trigger, _ := m.Type()
	code, trigger = strings.ToUpper(code), strings.ToUpper(trigger)
	r.Type = code + "^" + trigger
	if ts, err := hl7v2.ParseTS(msh.Field(7).Rep(1).Component(1).String()); err == nil {
		r.Time = ts.Time
	}
	if err := id.Identify(m, who); err != nil {
		return err
	}
	r.OrgKey, r.OrgName = who.OrgKey, who.OrgName
	switch code {
	case "VXU":
		r.Kind = sources.Person
		r.Keys = c.Keys(who, r.Keys)
		for _, o := range m.Orders() {
			if o.RXA.IsZero() {
				continue
			}
			// An administered dose: RXA-9 00, not a refusal or not-given
			// row (RXA-20 RE/NA), not a deletion (RXA-21 D), not 998.
			val := func(f int) string {
				return strings.ToUpper(strings.TrimSpace(o.RXA.Field(f).Rep(1).Component(1).String()))
			}
			st := val(20)
			if val(9) == "00" && val(5) != "998" && st != "RE" && st != "NA" && val(21) != "D" {
				r.Holds = true
			}
		}
	case "RSP":
		r.Answers = msaControl(segs)
		if single(segs, msh) {
			r.Kind = sources.Person
			r.Keys = c.Keys(who, r.Keys)
		} else {
			r.Kind = sources.Candidates
		}
	case "QBP":
		r.Kind = sources.Query
	default:
		r.Kind = sources.Skipped
	}
	if r.Kind == sources.Person && len(r.Keys) == 0 {
		// No usable key: the message is a person of its own, named by
		// its content so the id is stable.
		h := sha256.Sum256(data)
		r.Keys = append(r.Keys, fmt.Sprintf("%s%x", sources.PrefixLone, h[:16]))
	}
	return nil
}

func msaControl(segs hl7v2.Segments) string {
	if msa, ok := segs.Find("MSA", 1); ok {
		return strings.TrimSpace(msa.Field(2).Rep(1).String())
	}
	return ""
}

// single reports whether an RSP names exactly one person: one PID, a
// profile that is not Z31 (candidates) or Z33 (none), and a QAK-2 that
// does not say not found / too many / protected.
func single(segs hl7v2.Segments, msh hl7v2.Segment) bool {
	n := 0
	for _, s := range segs {
		if s.Name() == "PID" {
			n++
		}
	}
	if n != 1 {
		return false
	}
	prof := strings.ToUpper(msh.Field(21).Rep(1).Component(1).String())
	if prof == "Z31" || prof == "Z33" {
		return false
	}
	if qak, ok := segs.Find("QAK", 1); ok {
		switch strings.ToUpper(strings.TrimSpace(qak.Field(2).Rep(1).String())) {
		case "NF", "TM", "PD", "AE", "AR":
			return false
		}
	}
	return true
}

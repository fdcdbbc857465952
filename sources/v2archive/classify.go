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
	if f := facilityOf(msh); f != r.OrgKey {
		r.Facility = f // MSH-4 beside another org key (MSH-22): an organizations table may list either
	}
	switch code {
	case "VXU":
		r.Kind = sources.Person
		r.Keys = c.Keys(who, r.Keys)
		for _, o := range m.Orders() {
			if o.RXA.IsZero() {
				continue
			}
			val := func(f int) string {
				return strings.ToUpper(strings.TrimSpace(o.RXA.Field(f).Rep(1).Component(1).String()))
			}
			r.Evidence |= rowEvidence(val(5), val(9), val(20), val(21))
		}
		r.Evidence |= sources.Reported
		r.Holds = r.Evidence&sources.Administered != 0
	case "RSP":
		r.Answers = msaControl(segs)
		if single(segs, msh) {
			if qakStatus(segs) == "OK" {
				r.Evidence |= sources.AnswerOK
			}
			r.Kind = sources.Person
			r.Keys = c.Keys(who, r.Keys)
		} else {
			r.Kind = sources.Candidates
		}
	case "QBP":
		r.Kind = sources.Query
		if qpd, ok := segs.Find("QPD", 1); ok && trigger == "Q11" {
			r.Asked = asked(qpd)
		}
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

// rowEvidence is what one RXA shows: an administered dose (RXA-9 00,
// not refused or not given, RXA-20 RE/NA), a historical one (RXA-9 other
// than 00), a refusal (RXA-20 RE); nothing for a deletion (RXA-21 D), a
// not-given row or CVX 998 (no vaccine administered).
func rowEvidence(cvx, source, status, action string) sources.Evidence {
	if action == "D" || cvx == "998" || status == "NA" {
		return 0
	}
	switch {
	case status == "RE":
		return sources.Refusal
	case source == "00":
		return sources.Administered
	case source != "":
		return sources.Historical
	}
	return 0
}

func qakStatus(segs hl7v2.Segments) string {
	if qak, ok := segs.Find("QAK", 1); ok {
		return strings.ToUpper(strings.TrimSpace(qak.Field(2).Rep(1).String()))
	}
	return ""
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
	switch qakStatus(segs) {
	case "NF", "TM", "PD", "AE", "AR":
		return false
	}
	return true
}

// facilityOf is MSH-4 as "namespace|universal id" ("namespace" alone
// without one).
func facilityOf(msh hl7v2.Segment) string {
	hd := hl7v2.ParseHD(msh.Field(4).Rep(1))
	key := strings.TrimSpace(hd.Namespace)
	if u := strings.TrimSpace(hd.UniversalID); u != "" {
		key += "|" + u
	}
	return key
}

// asked reads the person a CDC QBP^Q11 (Z34/Z44) asks about: QPD-4 name,
// QPD-6 birth date, QPD-7 sex, QPD-8 address (ZIP), QPD-9 phone; nil
// without a name and a birth date.
func asked(qpd hl7v2.Segment) *sources.Demographics {
	n := hl7v2.ParseXPN(qpd.Field(4).Rep(1))
	dob := strings.TrimSpace(qpd.Field(6).Rep(1).Component(1).String())
	if strings.TrimSpace(n.Family) == "" || len(dob) < 8 || !sources.AllDigits(dob[:8]) {
		return nil
	}
	d := &sources.Demographics{Given: strings.TrimSpace(n.Given), Middle: strings.TrimSpace(n.Middle), Family: strings.TrimSpace(n.Family),
		BirthDate: dob[:4] + "-" + dob[4:6] + "-" + dob[6:8],
		Sex:       strings.TrimSpace(qpd.Field(7).Rep(1).Component(1).String()),
		Postal:    strings.TrimSpace(hl7v2.ParseXAD(qpd.Field(8).Rep(1)).Zip)}
	if t := hl7v2.ParseXTN(qpd.Field(9).Rep(1)); t.AreaCode != "" || t.Local != "" {
		d.Phone = t.AreaCode + t.Local
	} else {
		d.Phone = t.Number
	}
	return d
}

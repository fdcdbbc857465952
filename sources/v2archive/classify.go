package v2archive

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// classify reads the few fields the index needs of a parsed message:
// MSH-4/5/6/7/9/21/22, PID-3/5/7/8, MSA-2, QAK-2, RXA-5/9/20/21 (Group
// evidence: sources.Evidence). It is
// the whole of what "v2" means to the index: the record's kind, identity
// keys, organization, time and Group evidence.
func classify(c sources.IdentityConfig, m *hl7v2.Message, data []byte, r *sources.Record) {
	segs := m.Segments()
	msh := segs[0]
	code, trigger, _ := m.Type()
	code, trigger = strings.ToUpper(code), strings.ToUpper(trigger)
	r.Type = code + "^" + trigger
	if ts, err := hl7v2.ParseTS(msh.Field(7).Rep(1).Component(1).String()); err == nil {
		r.Time = ts.Time
	}
	r.OrgKey, r.OrgName = orgOf(msh)
	if f := facilityOf(msh); f != r.OrgKey {
		r.Facility = f
	}
	switch code {
	case "VXU":
		r.Kind = sources.Person
		if pid, ok := segs.Find("PID", 1); ok {
			r.Keys = patientKeys(c, pid, hdKey(msh.Field(4).Rep(1)), r.Keys)
		}
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
			pid, _ := segs.Find("PID", 1)
			// MRNs in an answer are the asker's (MSH-6, receiving facility).
			r.Keys = patientKeys(c, pid, hdKey(msh.Field(6).Rep(1)), r.Keys)
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

// orgOf names the sending organization: MSH-22 (XON id in .10, name in
// .1) when filled, else MSH-4 as "namespace|universal id" (the
// pipeline.Membership.OrgKey convention).
func orgOf(msh hl7v2.Segment) (key, name string) {
	xon := msh.Field(22).Rep(1)
	if !xon.IsNull() {
		if id := strings.TrimSpace(xon.Component(10).String()); id != "" {
			return id, strings.TrimSpace(xon.Component(1).String())
		}
	}
	return facilityOf(msh), hl7v2.ParseHD(msh.Field(4).Rep(1)).Namespace
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

// hdKey renders an HD as one upper-cased token: namespace, else universal id.
func hdKey(v hl7v2.Value) string {
	hd := hl7v2.ParseHD(v)
	s := hd.Namespace
	if s == "" {
		s = hd.UniversalID
	}
	return strings.ToUpper(strings.TrimSpace(s))
}

// patientKeys lists the identity keys of one PID segment. facility is the
// organization whose MRNs the PID carries (MSH-4 of a VXU, the asker for an
// RSP). Keys never leave the index: they hold PHI.
func patientKeys(c sources.IdentityConfig, pid hl7v2.Segment, facility string, dst []string) []string {
	f := pid.Field(3)
	for i := 1; i <= f.NumReps(); i++ {
		cx := hl7v2.ParseCX(f.Rep(i))
		id := strings.TrimSpace(cx.ID)
		if id == "" || id == `""` {
			continue
		}
		typ := strings.ToUpper(strings.TrimSpace(cx.IDType))
		auth := strings.ToUpper(strings.TrimSpace(cx.AssigningAuthority.Namespace))
		if auth == "" {
			auth = strings.ToUpper(strings.TrimSpace(cx.AssigningAuthority.UniversalID))
		}
		switch {
		case typ == "SR" && c.Has("iis"):
			if len(c.IISAuthorities) > 0 && !sources.ContainsFold(c.IISAuthorities, auth, cx.AssigningAuthority.UniversalID) {
				continue
			}
			if len(c.IISAuthorities) > 0 {
				auth = "" // every configured authority is the same registry
			}
			dst = append(dst, sources.PrefixIIS+auth+"|"+id)
		case c.Has("mrn") && sources.ContainsFold(c.MRNTypes, typ, ""):
			if facility == "" {
				facility = auth
			}
			if facility == "" {
				continue
			}
			dst = append(dst, sources.PrefixMRN+facility+"|"+typ+"|"+id)
		}
	}
	if c.Has("demographics") {
		if k := demoKey(c, pid); k != "" {
			dst = append(dst, k)
		}
	}
	return dst
}

func demoKey(c sources.IdentityConfig, pid hl7v2.Segment) string {
	name := hl7v2.ParseXPN(pid.Field(5).Rep(1))
	family, given := sources.NormName(name.Family), sources.NormName(name.Given)
	if family == "" || given == "" || c.Placeholder(given) {
		return ""
	}
	dob := strings.TrimSpace(pid.Field(7).Rep(1).Component(1).String())
	if len(dob) < 8 || !sources.AllDigits(dob[:8]) {
		return ""
	}
	sex := strings.ToUpper(strings.TrimSpace(pid.Field(8).Rep(1).Component(1).String()))
	if sex == "" || sex == `""` {
		return ""
	}
	return sources.PrefixDemo + family + "|" + given + "|" + dob[:8] + "|" + sex
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

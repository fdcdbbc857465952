package v2archive

import (
	"bytes"
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
// For a groupless reader (sources.Change.Groupless) it leaves out what
// only Groups read (groupEvidence: a VXU's RXA segments are then not
// split at all).
func classify(c sources.IdentityConfig, id sources.Identifier, m *hl7v2.Message, data []byte, r *sources.Record, who *sources.Identity, groupless bool) error {
	segs := m.Segments()
	msh := segs[0]
	var code, trigger string
	r.Type, code, trigger = msgType(msh)
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
	case "RSP":
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
	if !groupless {
		groupEvidence(segs, code, trigger, r)
	}
	if r.Kind == sources.Person && len(r.Keys) == 0 {
		// No usable key: the message is a person of its own, named by
		// its content so the id is stable.
		h := sha256.Sum256(data)
		r.Keys = append(r.Keys, fmt.Sprintf("%s%x", sources.PrefixLone, h[:16]))
	}
	return nil
}

// groupEvidence reads what only Groups use of a message classified as r:
// the facility, the evidence bits, the query an answer answers and what
// a query asks.
func groupEvidence(segs hl7v2.Segments, code, trigger string, r *sources.Record) {
	var fb [64]byte
	if f := appendFacility(fb[:0], segs[0]); string(f) != r.OrgKey {
		r.Facility = string(f) // MSH-4 beside another org key (MSH-22): an organizations table may list either
	}
	switch code {
	case "VXU":
		for _, s := range segs { // each RXA is one ORDER group's (m.Orders)
			if s.Is("RXA") {
				r.Evidence |= rxaEvidence(s)
			}
		}
		r.Evidence |= sources.Reported
		r.Holds = r.Evidence&sources.Administered != 0
	case "RSP":
		r.Answers = msaControl(segs)
		if r.Kind == sources.Person && qakStatus(segs) == "OK" {
			r.Evidence |= sources.AnswerOK
		}
	case "QBP":
		if qpd, ok := segs.Find("QPD", 1); ok && trigger == "Q11" {
			r.Asked = asked(qpd)
		}
	}
}

// msgType reads MSH-9: "CODE^TRIGGER" and its two parts, upper-cased,
// in one string.
func msgType(msh hl7v2.Segment) (typ, code, trigger string) {
	v := msh.Field(9).Rep(1)
	var a [32]byte
	b := v.Component(1).AppendDecoded(a[:0])
	n := len(b)
	b = v.Component(2).AppendDecoded(append(b, '^'))
	if !isASCII(b) {
		code, trigger = strings.ToUpper(string(b[:n])), strings.ToUpper(string(b[n+1:]))
		return code + "^" + trigger, code, trigger
	}
	upperASCII(b)
	typ = string(b)
	return typ, typ[:n], typ[n+1:]
}

// upperASCII upper-cases the ASCII letters of b in place (strings.ToUpper
// when b is ASCII).
func upperASCII(b []byte) {
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
}

// appendTrimmed appends v.String() without the white space around it
// (strings.TrimSpace) to dst.
func appendTrimmed(dst []byte, v hl7v2.Value) []byte {
	n := len(dst)
	dst = v.AppendDecoded(dst)
	return dst[:n+copy(dst[n:], bytes.TrimSpace(dst[n:]))]
}

// rxaEvidence is rowEvidence of an RXA's CVX (RXA-5), source (RXA-9),
// completion status (RXA-20) and action code (RXA-21), read into a
// buffer on the stack.
func rxaEvidence(rxa hl7v2.Segment) sources.Evidence {
	var a [64]byte
	var at [5]int
	b := a[:0]
	for i, f := range [4]int{5, 9, 20, 21} {
		b = appendTrimmed(b, rxa.FieldRep(f, 1).Component(1))
		at[i+1] = len(b)
	}
	// ASCII letters only: a value with other letters upper-cases to none
	// of the codes rowEvidence tests (they hold no I or S, the only ASCII
	// capitals of other letters: ı, ſ).
	upperASCII(b)
	return rowEvidence(b[at[0]:at[1]], b[at[1]:at[2]], b[at[2]:at[3]], b[at[3]:at[4]])
}

// rowEvidence is what one RXA shows (its codes trimmed, upper-cased): an
// administered dose (RXA-9 00, not refused or not given, RXA-20 RE/NA),
// a historical one (RXA-9 other than 00), a refusal (RXA-20 RE); nothing
// for a deletion (RXA-21 D), a not-given row or CVX 998 (no vaccine
// administered).
func rowEvidence(cvx, source, status, action []byte) sources.Evidence {
	if string(action) == "D" || string(cvx) == "998" || string(status) == "NA" {
		return 0
	}
	switch {
	case string(status) == "RE":
		return sources.Refusal
	case string(source) == "00":
		return sources.Administered
	case len(source) != 0:
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

// appendFacility appends MSH-4 as "namespace|universal id" ("namespace"
// alone without one) to dst.
func appendFacility(dst []byte, msh hl7v2.Segment) []byte {
	hd := msh.Field(4).Rep(1) // HD: namespace ^ universal id ^ its type
	dst = appendTrimmed(dst, hd.Component(1))
	n := len(dst)
	if dst = appendTrimmed(append(dst, '|'), hd.Component(2)); len(dst) == n+1 {
		dst = dst[:n]
	}
	return dst
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

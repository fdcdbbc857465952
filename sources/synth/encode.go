package synth

import "strconv"

// enc appends ER7 text. Segments end with the file's terminator; text
// goes out as UTF-8 or, for "latin1" files, as ISO-8859-1 bytes.
type enc struct {
	b      []byte
	start  int // where this message begins in b (the window's arena)
	term   string
	latin1 bool
}

// newEnc starts a message in the arena of the window being generated:
// one growing buffer instead of an allocation or two per message. Only
// one message is encoded at a time.
func (w *world) newEnc(ec encodeCtx) *enc {
	return &enc{b: w.arena, start: len(w.arena), term: ec.term, latin1: ec.latin1}
}

// take ends the message and returns its bytes (capacity clipped, so a
// later message never writes into them).
func (w *world) take(e *enc) []byte {
	w.arena = e.b
	return e.b[e.start:len(e.b):len(e.b)]
}

func (e *enc) s(str string) {
	if e.latin1 {
		for i := 0; i < len(str); i++ {
			if str[i] >= 0x80 {
				for _, r := range str {
					if r < 0x100 {
						e.b = append(e.b, byte(r))
					} else {
						e.b = append(e.b, '?')
					}
				}
				return
			}
		}
	}
	e.b = append(e.b, str...)
}

func (e *enc) f(str string) { e.b = append(e.b, '|'); e.s(str) }
func (e *enc) end()         { e.b = append(e.b, e.term...) }
func (e *enc) date(d day)   { e.b = appendDate(e.b, d) }
func (e *enc) ts(t int64)   { e.b = appendTS(e.b, t) }

// msh writes MSH-1..MSH-23. charset goes to MSH-18.
func (e *enc) msh(app, fac, rapp, rfac string, ts int64, typ, ctrl, ackA, ackB, charset, profile, org22, org23 string) {
	e.b = append(e.b, `MSH|^~\&`...)
	e.f(app)
	e.f(fac)
	e.f(rapp)
	e.f(rfac)
	e.b = append(e.b, '|')
	e.ts(ts)
	e.b = append(e.b, '|')
	e.f(typ)
	e.f(ctrl)
	e.b = append(e.b, "|P|2.5.1|||"...)
	e.s(ackA)
	e.f(ackB)
	e.b = append(e.b, '|')
	e.f(charset)
	e.b = append(e.b, "||"...)
	e.f(profile)
	e.f(org22)
	e.f(org23)
	for e.b[len(e.b)-1] == '|' {
		e.b = e.b[:len(e.b)-1]
	}
	e.end()
}

func (p *person) charset(ec encodeCtx) string {
	switch {
	case ec.latin1:
		return "8859/1"
	case p.nonASCII:
		return "UNICODE UTF-8"
	}
	return ""
}

func (f *facility) msh22() string {
	if f.OrgID == "" {
		return ""
	}
	return f.nameEsc + "^^^^^" + iisNS + "^XX^^^" + f.OrgID
}

const iisMSH4 = iisNS + "^" + iisOID + "^ISO"

func (e *enc) name(n name, typ string) {
	e.s(n.Family)
	e.b = append(e.b, '^')
	e.s(n.Given)
	e.b = append(e.b, '^')
	e.s(n.Middle)
	e.b = append(e.b, "^^^^"...)
	e.s(typ)
}

func (e *enc) addr(a address) {
	e.s(a.Street)
	e.b = append(e.b, "^^"...)
	e.s(a.City)
	e.b = append(e.b, '^')
	e.s(a.State)
	e.b = append(e.b, '^')
	e.s(a.Zip)
	e.b = append(e.b, "^USA^L^^"...)
	e.s(a.County)
}

func (e *enc) phone(ph string) {
	if ph == "" {
		return
	}
	e.b = append(e.b, "^PRN^PH^^^"...)
	e.s(ph[:3])
	e.b = append(e.b, '^')
	e.s(ph[3:])
}

// pid writes PID (and PD1, NK1 when full) from a snapshot.
func (p *person) pid(e *enc, s *pidSnap, setID int, full bool) {
	s.full = full
	e.b = append(e.b, "PID|"...)
	e.b = strconv.AppendInt(e.b, int64(setID), 10)
	e.b = append(e.b, "||"...)
	for i, mr := range s.mrs {
		if i > 0 {
			e.b = append(e.b, '~')
		}
		e.s(mr[1])
		e.b = append(e.b, "^^^"...)
		e.s(mr[0])
		e.b = append(e.b, "^MR"...)
	}
	if s.sr != "" {
		if len(s.mrs) > 0 {
			e.b = append(e.b, '~')
		}
		e.s(s.sr)
		e.b = append(e.b, "^^^"+iisNS+"^SR"...)
	}
	e.b = append(e.b, "||"...)
	e.name(s.nm, "L")
	e.b = append(e.b, '|')
	e.s(s.mom.Family)
	e.b = append(e.b, '^')
	e.s(s.mom.Given)
	e.b = append(e.b, "^^^^^M|"...)
	e.date(s.dob)
	e.b = append(e.b, '|')
	e.b = append(e.b, s.sex)
	e.b = append(e.b, "||"...)
	e.s(p.race.Code)
	e.b = append(e.b, '^')
	e.s(p.race.Text)
	e.b = append(e.b, "^CDCREC|"...)
	e.addr(s.addr)
	e.b = append(e.b, "||"...)
	e.phone(s.phone)
	e.b = append(e.b, "|||||||||"...)
	e.s(p.eth.Code)
	e.b = append(e.b, '^')
	e.s(p.eth.Text)
	e.b = append(e.b, "^CDCREC"...)
	if p.twinNo > 0 {
		e.b = append(e.b, "||Y|"...)
		e.b = strconv.AppendInt(e.b, int64(p.twinNo), 10)
	}
	e.end()
	if !full {
		return
	}
	if p.adult {
		e.b = append(e.b, "PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|"...)
		e.date(p.dob)
		e.b = append(e.b, "|||A"...)
		e.end()
		return
	}
	e.b = append(e.b, "PD1|||||||||||02^Reminder/Recall - any method^HL70215|N|"...)
	e.date(p.dob)
	e.b = append(e.b, "|||A|"...)
	e.date(p.dob)
	e.end()
	e.b = append(e.b, "NK1|1|"...)
	e.s(p.baseFam)
	e.b = append(e.b, '^')
	e.s(s.mom.Given)
	e.b = append(e.b, "^^^^^L|MTH^Mother^HL70063|"...)
	e.addr(s.addr)
	e.b = append(e.b, '|')
	e.phone(s.phone)
	e.end()
}

func (e *enc) provider(i int) {
	pr := providers[i]
	e.s(pr.NPI)
	e.b = append(e.b, '^')
	e.s(pr.Family)
	e.b = append(e.b, '^')
	e.s(pr.Given)
	e.b = append(e.b, "^^^^^^CMS&2.16.840.1.113883.3.249&ISO^L^^^NPI"...)
}

func (e *enc) orc(filler, ns string, prov int) {
	e.b = append(e.b, "ORC|RE||"...)
	e.s(filler)
	e.b = append(e.b, '^')
	e.s(ns)
	if prov >= 0 {
		e.b = append(e.b, "|||||||||"...)
		e.provider(prov)
	}
	e.end()
}

func (e *enc) cvx(c string) {
	e.s(c)
	e.b = append(e.b, '^')
	if v := vaccines[c]; v != nil {
		e.s(v.Name)
	} else if c == "998" {
		e.s("no vaccine administered")
	} else {
		e.s("hepatitis A vaccine, pediatric/adolescent dosage, 2 dose schedule")
	}
	e.b = append(e.b, "^CVX"...)
}

// visMulti is the GS1 document code of the multi-vaccine VIS.
const visMulti = "253088698300026411121116"

// rxaGiven writes the full ORDER of a dose as its giver reports it.
func (p *person) orderGiven(e *enc, d *dose, rw row, f *facility) {
	v := vaccines[d.cvx]
	prov := d.provider
	if d.status != "CP" {
		prov = -1
	}
	e.orc(rw.filler, f.NS, prov)
	e.b = append(e.b, "RXA|0|1|"...)
	e.date(d.date)
	e.b = append(e.b, "||"...)
	e.cvx(d.cvx)
	switch d.status {
	case "RE":
		e.b = append(e.b, "|999||||||||||||"...)
		e.s(d.reason.Code)
		e.b = append(e.b, '^')
		e.s(d.reason.Text)
		e.b = append(e.b, "^NIP002||RE|A"...)
		e.end()
		return
	case "NA":
		e.b = append(e.b, "|999||||||||||||||NA|A"...)
		e.end()
		return
	}
	e.f(v.Dose)
	e.b = append(e.b, "|mL^mL^UCUM||00^New immunization record^NIP001|"...)
	e.provider(d.provider)
	e.b = append(e.b, "|^^^"...)
	e.s(f.NS)
	e.b = append(e.b, "||||"...)
	e.s(rw.lot)
	e.f(d.exp)
	e.b = append(e.b, '|')
	e.s(d.mvx.Code)
	e.b = append(e.b, '^')
	e.s(d.mvx.Name)
	e.b = append(e.b, "^MVX|||CP|"...)
	e.s(rw.action)
	e.end()
	rt := routes[v.Route]
	e.b = append(e.b, "RXR|"...)
	e.s(rt.Code)
	e.b = append(e.b, '^')
	e.s(rt.Text)
	e.b = append(e.b, "^NCIT^"...)
	e.s(v.Route)
	e.b = append(e.b, '^')
	e.s(routeText[v.Route])
	e.b = append(e.b, "^HL70162"...)
	if d.site != "" {
		e.b = append(e.b, '|')
		e.s(d.site)
		e.b = append(e.b, '^')
		e.s(sites[d.site])
		e.b = append(e.b, "^HL70163"...)
	}
	e.end()
	if rw.action != "A" {
		return
	}
	e.b = append(e.b, "OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|"...)
	e.s(d.vfc.Code)
	e.b = append(e.b, '^')
	e.s(d.vfc.Text)
	e.b = append(e.b, "^HL70064||||||F|||"...)
	e.date(d.date)
	e.b = append(e.b, "|||VXC40^Eligibility captured at the immunization level^CDCPHINVS"...)
	e.end()
	if d.vfc.Code == "V01" {
		e.b = append(e.b, "OBX|2|CE|30963-3^Vaccine funding source^LN|2|PHC70^Private funds^CDCPHINVS||||||F"...)
	} else {
		e.b = append(e.b, "OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC1^Federal funds^CDCPHINVS||||||F"...)
	}
	e.end()
	if d.multiVIS {
		e.b = append(e.b, "OBX|3|CE|69764-9^Document type^LN|3|"+visMulti+"^Multivaccine VIS^cdcgs1vis||||||F"...)
		e.end()
		e.b = append(e.b, "OBX|4|TS|29769-7^Date vaccine information statement presented^LN|3|"...)
		e.date(d.date)
		e.b = append(e.b, "||||||F"...)
		e.end()
		return
	}
	e.b = append(e.b, "OBX|3|CE|30956-7^vaccine type^LN|3|"...)
	e.s(v.Group)
	e.b = append(e.b, '^')
	e.s(v.GroupName)
	e.b = append(e.b, "^CVX||||||F"...)
	e.end()
	e.b = append(e.b, "OBX|4|TS|29768-9^Date vaccine information statement published^LN|3|"...)
	e.s(v.VISDate)
	e.b = append(e.b, "||||||F"...)
	e.end()
	e.b = append(e.b, "OBX|5|TS|29769-7^Date vaccine information statement presented^LN|3|"...)
	e.date(d.date)
	e.b = append(e.b, "||||||F"...)
	e.end()
}

// orderHistory writes a historical (RXA-9 01) or IIS-recorded row.
func (e *enc) orderHistory(rw row, ns string) {
	e.orc(rw.filler, ns, -1)
	e.b = append(e.b, "RXA|0|1|"...)
	e.date(rw.date)
	e.b = append(e.b, "||"...)
	e.cvx(rw.cvx)
	e.b = append(e.b, "|999|||"...)
	if rw.rxa9 == "00" {
		e.b = append(e.b, "00^New immunization record^NIP001||||||"...)
	} else {
		e.b = append(e.b, "01^Historical information - source unspecified^NIP001||||||"...)
	}
	e.s(rw.lot)
	e.b = append(e.b, "||"...)
	if rw.mvx != "" {
		e.s(rw.mvx)
		e.b = append(e.b, "^^MVX"...)
	}
	e.b = append(e.b, "|||CP|A"...)
	e.end()
}

func (e *enc) order998(d day, ns string) {
	e.rxa998(d, ns)
	e.b = append(e.b, "OBX|1|CE|59784-9^Disease with presumed immunity^LN|1|38907003^Varicella infection^SCT||||||F"...)
	e.end()
}

// rxa998 writes the ORC and RXA of a patient-level ORDER ("998 no vaccine
// administered", not administered): the carrier of immunity and forecast
// OBX, never a dose.
func (e *enc) rxa998(d day, ns string) {
	e.orc("9999", ns, -1)
	e.b = append(e.b, "RXA|0|1|"...)
	e.date(d)
	e.b = append(e.b, '|')
	e.date(d)
	e.b = append(e.b, "|998^no vaccine administered^CVX|999||||||||||||||NA|A"...)
	e.end()
}

func (p *person) vxuIDs(fac int) ([][2]string, string) {
	f := p.w.facs[fac]
	mrs := [][2]string{{f.NS, p.mrnAt(fac)}}
	sr := ""
	if p.sr != "" && !p.noSR && (f.srAware || p.knowsSR[fac]) {
		sr = p.sr
	}
	return mrs, sr
}

func (p *person) newVXU(fac int, ts int64, ec encodeCtx, rows []row, hist, given []*dose, level998 bool) *message {
	f := p.w.facs[fac]
	mrs, sr := p.vxuIDs(fac)
	m := &message{kind: "VXU", profile: "Z22", ctrl: p.ctrl(f.NS), ts: ts, sender: fac, rows: rows, linkOrg: -1,
		pid: p.snap(mrs, sr, f.Kind == kindClinic)}
	e := p.w.newEnc(ec)
	e.msh(f.App, f.msh4, iisApp, iisMSH4, ts, "VXU^V04^VXU_V04", m.ctrl, "ER", "AL", p.charset(ec), "Z22^CDCPHINVS", f.msh22(), iisNS)
	p.pid(e, m.pid, 1, f.Kind == kindClinic)
	n := len(hist)
	for i := range hist {
		e.orderHistory(rows[i], f.NS)
	}
	for i, d := range given {
		p.orderGiven(e, d, rows[n+i], f)
	}
	if level998 {
		e.order998(localDay(ts), f.NS)
	}
	m.data = p.w.take(e)
	return m
}

func (p *person) newChangeVXU(fac int, ts int64, ec encodeCtx, rw row, a *action) *message {
	f := p.w.facs[fac]
	mrs, sr := p.vxuIDs(fac)
	m := &message{kind: "VXU", profile: "Z22", ctrl: p.ctrl(f.NS), ts: ts, sender: fac, rows: []row{rw}, linkOrg: -1,
		pid: p.snap(mrs, sr, f.Kind == kindClinic)}
	e := p.w.newEnc(ec)
	e.msh(f.App, f.msh4, iisApp, iisMSH4, ts, "VXU^V04^VXU_V04", m.ctrl, "ER", "AL", p.charset(ec), "Z22^CDCPHINVS", f.msh22(), iisNS)
	p.pid(e, m.pid, 1, false)
	d := a.d
	if d == nil { // unseen delete: a made-up dose record
		d = &dose{cvx: rw.cvx, date: rw.date, status: "CP", mvx: mvxMSD, exp: isoCompact(rw.date + 400), site: "RD", vfc: vfcCodes[0]}
	}
	p.orderGiven(e, d, rw, f)
	m.data = p.w.take(e)
	return m
}

func (p *person) newACK(vxu *message, fac int, ec encodeCtx) *message {
	f := p.w.facs[fac]
	m := &message{kind: "ACK", profile: "Z23", ctrl: p.ctrl(iisNS), ts: vxu.ts, sender: -1, linkOrg: -1}
	e := p.w.newEnc(ec)
	e.msh(iisApp, iisMSH4, f.App, f.msh4, vxu.ts, "ACK^V04^ACK", m.ctrl, "NE", "NE", "", "Z23^CDCPHINVS", "", "")
	e.b = append(e.b, "MSA|AA|"...)
	e.s(vxu.ctrl)
	e.end()
	m.data = p.w.take(e)
	return m
}

func qpdName(z44 bool) string {
	if z44 {
		return "Z44^Request Evaluated History and Forecast^CDCPHINVS"
	}
	return "Z34^Request Immunization History^CDCPHINVS"
}

// qpd writes the QPD segment (also echoed in the RSP).
func (e *enc) qpd(z44 bool, tag string, mrs [][2]string, nm, mom name, dob day, sex byte, a *address, phone string) {
	e.b = append(e.b, "QPD|"...)
	e.s(qpdName(z44))
	e.f(tag)
	e.b = append(e.b, '|')
	for i, mr := range mrs {
		if i > 0 {
			e.b = append(e.b, '~')
		}
		e.s(mr[1])
		e.b = append(e.b, "^^^"...)
		e.s(mr[0])
		e.b = append(e.b, "^MR"...)
	}
	e.b = append(e.b, '|')
	e.name(nm, "L")
	e.b = append(e.b, '|')
	if mom.Family != "" {
		e.s(mom.Family)
		e.b = append(e.b, '^')
		e.s(mom.Given)
		e.b = append(e.b, "^^^^^M"...)
	}
	e.b = append(e.b, '|')
	e.date(dob)
	e.b = append(e.b, '|')
	e.b = append(e.b, sex)
	if a != nil {
		e.b = append(e.b, '|')
		e.addr(*a)
		e.b = append(e.b, '|')
		e.phone(phone)
	}
	e.end()
}

func (p *person) newQBP(fac int, ts int64, ec encodeCtx, z44, withMR bool) *message {
	f := p.w.facs[fac]
	profile := "Z34"
	if z44 {
		profile = "Z44"
	}
	m := &message{kind: "QBP", profile: profile, ctrl: p.ctrl(f.NS), ts: ts, sender: fac, linkOrg: -1}
	var mrs [][2]string
	if withMR {
		mrs = [][2]string{{f.NS, p.mrnAt(fac)}}
	}
	e := p.w.newEnc(ec)
	e.msh(f.App, f.msh4, iisApp, iisMSH4, ts, "QBP^Q11^QBP_Q11", m.ctrl, "ER", "AL", p.charset(ec), profile+"^CDCPHINVS", f.msh22(), iisNS)
	e.qpd(z44, "Q"+m.ctrl, mrs, p.nm, p.momMaid, p.dob, p.sex, &p.addr, p.phone)
	e.b = append(e.b, "RCP|I|5^RD&records&HL70126|R^real-time^HL70394"...)
	e.end()
	m.data = p.w.take(e)
	m.pid = nil
	return m
}

func (p *person) newRSP(fac int, ts int64, ec encodeCtx, q *message, z44, withMR bool) *message {
	f := p.w.facs[fac]
	profile := "Z32"
	if z44 {
		profile = "Z42"
	}
	var mrs [][2]string
	if withMR {
		mrs = [][2]string{{f.NS, p.mrnAt(fac)}}
	}
	m := &message{kind: "RSP", profile: profile, ctrl: p.ctrl(iisNS), ts: ts, sender: -1, linkOrg: -1,
		pid: p.snap(mrs, p.sr, true)}
	e := p.w.newEnc(ec)
	e.msh(iisApp, iisMSH4, f.App, f.msh4, ts, "RSP^K11^RSP_K11", m.ctrl, "NE", "NE", p.charset(ec), profile+"^CDCPHINVS", iisNS, f.msh22())
	e.b = append(e.b, "MSA|AA|"...)
	e.s(q.ctrl)
	e.end()
	e.b = append(e.b, "QAK|"...)
	e.s("Q" + q.ctrl)
	e.b = append(e.b, "|OK|"...)
	e.s(qpdName(z44))
	e.end()
	e.qpd(z44, "Q"+q.ctrl, mrs, p.nm, p.momMaid, p.dob, p.sex, &p.addr, p.phone)
	p.pid(e, m.pid, 1, true)
	series := map[string]int{}
	for _, d := range p.doses {
		if !d.reported || d.deleted || d.status != "CP" {
			continue
		}
		rw := row{cvx: d.cvx, date: d.date, rxa9: "01", status: "CP", action: "A", filler: p.iisID(d)}
		if d.reported00 {
			rw.rxa9, rw.lot, rw.mvx = "00", d.lot, d.mvx.Code
		}
		m.rows = append(m.rows, rw)
		e.orderHistory(rw, iisNS)
		if z44 {
			v := vaccines[d.cvx]
			series[v.Group]++
			e.b = append(e.b, "OBX|1|CE|30956-7^vaccine type^LN|1|"...)
			e.s(v.Group)
			e.b = append(e.b, '^')
			e.s(v.GroupName)
			e.b = append(e.b, "^CVX||||||F"...)
			e.end()
			e.b = append(e.b, "OBX|2|CE|59779-9^Immunization Schedule used^LN|1|VXC16^ACIP^CDCPHINVS||||||F"...)
			e.end()
			e.b = append(e.b, "OBX|3|NM|30973-2^Dose number in series^LN|1|"...)
			e.b = strconv.AppendInt(e.b, int64(series[v.Group]), 10)
			e.b = append(e.b, "||||||F"...)
			e.end()
			e.b = append(e.b, "OBX|4|ID|59781-5^Dose validity^LN|1|Y||||||F"...)
			e.end()
		}
	}
	if z44 {
		today := localDay(ts)
		e.rxa998(today, iisNS)
		e.b = append(e.b, "OBX|1|CE|30956-7^vaccine type^LN|1|88^influenza, unspecified formulation^CVX||||||F"...)
		e.end()
		e.b = append(e.b, "OBX|2|CE|59779-9^Immunization Schedule used^LN|1|VXC16^ACIP^CDCPHINVS||||||F"...)
		e.end()
		e.b = append(e.b, "OBX|3|DT|30980-7^Date vaccine due^LN|1|"...)
		e.date(today + 30)
		e.b = append(e.b, "||||||F"...)
		e.end()
		e.b = append(e.b, "OBX|4|DT|30981-5^Earliest date to give^LN|1|"...)
		e.date(today)
		e.b = append(e.b, "||||||F"...)
		e.end()
		e.b = append(e.b, "OBX|5|CE|59783-1^Status in immunization series^LN|1|LA13421-5^Due^LN||||||F"...)
		e.end()
	}
	m.data = p.w.take(e)
	return m
}

package synth

import (
	"fmt"
	"slices"
	"strconv"
)

const (
	actVisit = iota
	actUpdate
	actDelete
	actUnseenDelete
	actNameChange
	actMove
)

type action struct {
	ts   int64
	kind int
	fac  int // -2 = the person's primary clinic at that time
	cvx  []string
	d    *dose
	ord  int // insertion order, ties
}

// encodeCtx says how the file a person lands in wants bytes: segment
// terminator and character set.
type encodeCtx struct {
	term   string
	latin1 bool
}

// simulate plays the person's life over the time span and leaves the
// resulting traffic in p.events, in time order.
func (p *person) simulate(ec encodeCtx) error {
	w, r := p.w, p.rng
	var acts []*action
	nextOrd := 0
	add := func(a *action) {
		a.ord = nextOrd
		nextOrd++
		acts = append(acts, a)
	}
	taken := map[day]bool{}
	visit := func(d day, fac int, cvx ...string) {
		for taken[d] {
			d++
		}
		if d > w.endDay || d < w.startDay {
			return
		}
		ts := tsAt(d, 8*3600+r.IntN(9*3600))
		if ts-3600 < w.startTS || ts+4*3600 > w.endTS { // room for the query before and the report after
			return
		}
		taken[d] = true
		add(&action{ts: ts, kind: actVisit, fac: fac, cvx: cvx})
	}
	outside := func(d day, cvx string) {
		p.doses = append(p.doses, &dose{ord: len(p.doses), cvx: cvx, date: d, fac: -1, status: "CP"})
	}
	hpv := func(d day) string {
		if y, _, _ := civil(d); y < 2017 {
			return "62"
		}
		return "165"
	}
	sched := schedule
	if p.adult {
		sched = nil
		if r.Float64() < 0.15 {
			sched = []step{{int(w.startDay-p.dob) + r.IntN(int(w.endDay-w.startDay)), []string{"115"}}}
		}
	}
	for _, st := range sched {
		d := p.dob + day(st.AgeDays+r.IntN(21))
		if d > w.endDay {
			continue
		}
		cvx := slices.Clone(st.CVX)
		for i, c := range cvx {
			if c == "HPV" {
				cvx[i] = hpv(d)
			}
		}
		if d < w.startDay {
			for _, c := range cvx {
				outside(d, c)
			}
			continue
		}
		visit(d, -2, cvx...)
	}
	sy, _, _ := civil(w.startDay)
	ey, _, _ := civil(w.endDay)
	for y := sy - 2; y <= ey; y++ {
		d := dayOf(y, 10, 1) + day(r.IntN(75))
		if d < p.dob+183 || d > w.endDay {
			continue
		}
		if d < w.startDay {
			if r.Float64() < 0.5 {
				outside(d, "88")
			}
			continue
		}
		pFlu, pPharm := 0.55, 0.5
		if p.adult {
			pFlu, pPharm = 0.45, 0.75
		}
		if r.Float64() < pFlu {
			if p.ageYears(d) >= 3 && len(w.pharmacies) > 0 && r.Float64() < pPharm {
				visit(d, w.pharmacies[r.IntN(len(w.pharmacies))], "141")
			} else {
				visit(d, -2, "150")
			}
		}
	}
	pCovid := 0.3
	if p.adult {
		pCovid = 0.45
	}
	if r.Float64() < pCovid {
		d := w.startDay + day(r.IntN(min(365, int(w.endDay-w.startDay))))
		if p.ageYears(d) >= 12 {
			site := -2
			switch {
			case len(w.mvs) > 0:
				site = w.mvs[r.IntN(len(w.mvs))]
			case len(w.pharmacies) > 0:
				site = w.pharmacies[r.IntN(len(w.pharmacies))]
			}
			if r.Float64() < 0.7 {
				visit(d, site, "208")
				if r.Float64() < 0.6 {
					visit(d+21, site, "208")
				}
			} else {
				visit(d, site, "207")
			}
		}
	}
	slices.SortStableFunc(p.doses, func(a, b *dose) int { return int(a.date - b.date) })
	for i, d := range p.doses {
		d.ord = i
	}
	span := w.endTS - w.startTS
	if r.Float64() < 0.10 {
		add(&action{ts: w.startTS + r.Int64N(span), kind: actNameChange})
	}
	if r.Float64() < 0.15 {
		add(&action{ts: w.startTS + r.Int64N(span), kind: actMove})
	}

	for len(acts) > 0 {
		i := 0
		for j, a := range acts {
			if a.ts < acts[i].ts || a.ts == acts[i].ts && a.ord < acts[i].ord {
				i = j
			}
		}
		a := acts[i]
		acts = slices.Delete(acts, i, i+1)
		var err error
		switch a.kind {
		case actVisit:
			err = p.doVisit(a, ec, add)
		case actUpdate, actDelete, actUnseenDelete:
			err = p.doChange(a, ec)
		case actNameChange:
			p.nm.Family = p.baseFam + "-" + familiesASCII[r.IntN(len(familiesASCII))]
			p.refreshASCII()
			if p.msgSeq > 0 {
				p.needLink = true
			}
		case actMove:
			p.addr, p.phone = p.newAddress()
			if len(w.clinics) > 1 && r.Float64() < 0.5 {
				for {
					c := w.clinics[r.IntN(len(w.clinics))]
					if c != p.primary {
						p.primary = c
						break
					}
				}
			}
		}
		if err != nil {
			return fmt.Errorf("person %s: %w", p.key, err)
		}
	}
	return nil
}

func (p *person) nextTS(ts int64) int64 {
	if ts <= p.lastTS {
		ts = p.lastTS + 1
	}
	p.lastTS = ts
	return ts
}

// facilityWithMR picks where a message must come from right after a name
// change so that it still links to the person's earlier traffic by MR.
func (p *person) facilityWithMR(want int) int {
	if p.mrn[want] != "" {
		return want
	}
	if p.mrn[p.primary] != "" {
		return p.primary
	}
	for f, m := range p.mrn {
		if m != "" {
			return f
		}
	}
	return want
}

func (p *person) doVisit(a *action, ec encodeCtx, add func(*action)) error {
	w, r := p.w, p.rng
	fac := a.fac
	if fac == -2 {
		fac = p.primary
	}
	if p.needLink {
		fac = p.facilityWithMR(fac)
	}
	f := w.facs[fac]
	vday := localDay(a.ts)

	// Many sites ask the IIS first (Z34 history, clinics Z44 with forecast).
	if !p.noSR && p.sr != "" && !p.needLink {
		pq := 0.25
		if f.Kind != kindClinic {
			pq = 0.45
		}
		if r.Float64() < pq {
			qts := a.ts - int64(300+r.IntN(1800))
			if qts > p.lastTS && localDay(qts) == vday {
				if err := p.query(fac, qts, ec); err != nil {
					return err
				}
			}
		}
	}

	var rows []row
	var hist []*dose
	firstHere := p.mrn[fac] == ""
	if f.Kind == kindClinic && (firstHere && r.Float64() < f.historyOnFirst || r.Float64() < f.historyAt) {
		for _, d := range p.doses {
			if d.status == "CP" && !d.deleted && d.fac != fac && d.date < vday {
				hist = append(hist, d)
				rows = append(rows, row{cvx: d.cvx, date: d.date, rxa9: "01", status: "CP", action: "A", filler: p.histID(d)})
			}
		}
	}
	var given []*dose
	for _, c := range a.cvx {
		v := vaccines[c]
		d := &dose{ord: len(p.doses), cvx: c, date: vday, fac: fac, status: "CP"}
		d.filler = p.giverID(d)
		switch x := r.Float64(); {
		case x < 0.035:
			d.status = "RE"
			d.reason = refusalReasons[r.IntN(len(refusalReasons))]
		case x < 0.045:
			d.status = "NA"
		default:
			d.mvx = v.MVX[r.IntN(len(v.MVX))]
			d.lot = p.lotNumber(d.mvx)
			d.exp = isoCompact(vday + day(200+r.IntN(500)))
			d.site = p.siteFor(v, vday)
			d.provider = r.IntN(len(providers))
			d.vfc = vfcCodes[r.IntN(len(vfcCodes))]
			d.multiVIS = len(a.cvx) > 2
		}
		p.doses = append(p.doses, d)
		given = append(given, d)
		rw := row{cvx: c, date: vday, status: d.status, action: "A", filler: d.filler, lot: d.lot, mvx: d.mvx.Code, exp: d.exp, given: d}
		switch d.status {
		case "CP":
			rw.rxa9 = "00"
		case "RE":
			rw.reason = d.reason.Code
		}
		rows = append(rows, rw)
	}
	level998 := f.Kind == kindClinic && r.Float64() < 0.04
	if level998 {
		rows = append(rows, row{cvx: "998", date: vday, status: "NA", action: "A"})
	}

	ts := p.nextTS(a.ts + int64(600+r.IntN(3*3600)))
	m := p.newVXU(fac, ts, ec, rows, hist, given, level998)
	for _, d := range hist {
		d.reported = true
	}
	for _, d := range given {
		if d.status == "CP" {
			d.reported, d.reported00 = true, true
		}
	}
	ev := &event{ts: ts, p: p, msgs: []*message{m}}
	if r.Float64() < 0.05 {
		ev.msgs = append(ev.msgs, p.newACK(m, fac, ec))
	}
	if err := p.emit(ev); err != nil {
		return err
	}
	if p.sr == "" && !p.noSR {
		p.sr = p.srValue() // the IIS registers the person on the first report
	}

	// Later corrections by the giver: a lot-number fix (U) or a deletion (D).
	var cp []*dose
	for _, d := range given {
		if d.status == "CP" {
			cp = append(cp, d)
		}
	}
	if len(cp) > 0 {
		later := ts + int64(1+r.IntN(30))*secondsADay + int64(r.IntN(3600))
		switch x := r.Float64(); {
		case x < 0.06 && later < w.endTS:
			add(&action{ts: later, kind: actUpdate, d: cp[r.IntN(len(cp))]})
		case x < 0.09 && later < w.endTS:
			add(&action{ts: later, kind: actDelete, d: cp[r.IntN(len(cp))]})
		}
	}
	if !w.unseenPlanned && f.Kind == kindClinic {
		if later := ts + 3*secondsADay; later < w.endTS {
			w.unseenPlanned = true
			add(&action{ts: later, kind: actUnseenDelete, fac: fac})
		}
	}
	return nil
}

func isoCompact(d day) string { return string(appendDate(nil, d)) }

func (p *person) lotNumber(m mvx) string {
	const letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
	b := []byte(m.LotPrefix)
	for i := 0; i < 2; i++ {
		b = append(b, letters[p.rng.IntN(len(letters))])
	}
	return string(strconv.AppendInt(b, int64(1000+p.rng.IntN(9000)), 10))
}

func (p *person) siteFor(v *vaccine, d day) string {
	if v.Oral {
		return ""
	}
	left := p.rng.IntN(2) == 0
	switch {
	case int(d-p.dob) < 3*365 && left:
		return "LT"
	case int(d-p.dob) < 3*365:
		return "RT"
	case left:
		return "LD"
	}
	return "RD"
}

// doChange sends a VXU holding a single U or D row.
func (p *person) doChange(a *action, ec encodeCtx) error {
	var rw row
	var fac int
	switch a.kind {
	case actUpdate, actDelete:
		d := a.d
		if d.deleted {
			return nil
		}
		fac = d.fac
		rw = row{cvx: d.cvx, date: d.date, rxa9: "00", status: "CP", action: "U", filler: d.filler, mvx: d.mvx.Code, exp: d.exp, given: d}
		if a.kind == actUpdate {
			d.lot = p.lotNumber(d.mvx)
		} else {
			rw.action = "D"
			d.deleted = true
		}
		rw.lot = d.lot
	case actUnseenDelete:
		fac = a.fac
		// A deletion of a dose this sender never reported (id never used).
		cvx, dd := "83", localDay(a.ts)-200
		for p.hasDose(cvx, dd) {
			dd--
		}
		rw = row{cvx: cvx, date: dd, rxa9: "00", status: "CP", action: "D", filler: strconv.Itoa(90000000 + p.idx), lot: "ZZ9999", mvx: "MSD"}
	}
	ts := p.nextTS(a.ts)
	m := p.newChangeVXU(fac, ts, ec, rw, a)
	return p.emit(&event{ts: ts, p: p, msgs: []*message{m}})
}

func (p *person) hasDose(cvx string, d day) bool {
	for _, x := range p.doses {
		if x.cvx == cvx && x.date == d {
			return true
		}
	}
	return false
}

// query sends QBP Z34/Z44 from fac and the IIS's single-match answer.
func (p *person) query(fac int, qts int64, ec encodeCtx) error {
	r := p.rng
	f := p.w.facs[fac]
	z44 := f.Kind == kindClinic && r.Float64() < 0.7
	withMR := r.Float64() < 0.9
	qts = p.nextTS(qts)
	q := p.newQBP(fac, qts, ec, z44, withMR)
	rsp := p.newRSP(fac, qts, ec, q, z44, withMR)
	if u := p.w.cfg.UnansweredQueries; u > 0 && r.Float64() < u {
		// The answer is missing from the log: the query alone, linking
		// the asker only through its demographics.
		q.linkOrg, q.linkTS = fac, qts
		return p.emit(&event{ts: qts, p: p, msgs: []*message{q}})
	}
	rsp.linkOrg, rsp.linkTS = fac, qts
	p.knowsSR[fac] = true
	return p.emit(&event{ts: qts, p: p, msgs: []*message{q, rsp}})
}

// emit checks the identity rules on the messages that carry a PID, then
// queues the event.
func (p *person) emit(ev *event) error {
	for _, m := range ev.msgs {
		if m.pid == nil {
			continue
		}
		keys := []string{p.demoKeyOf(m.pid)}
		for _, mr := range m.pid.mrs {
			keys = append(keys, "mr|"+mr[0]+"|"+mr[1])
		}
		if m.pid.sr != "" {
			keys = append(keys, "sr|"+m.pid.sr)
		}
		linked := len(p.seen) == 0
		for _, k := range keys {
			if p.seen[k] {
				linked = true
			}
		}
		if !linked {
			return fmt.Errorf("%s %s links to none of the person's earlier messages", m.kind, m.ctrl)
		}
		for _, k := range keys {
			p.seen[k] = true
		}
		p.needLink = false
	}
	ev.seq = len(p.events)
	p.events = append(p.events, ev)
	return nil
}

func (p *person) demoKeyOf(s *pidSnap) string {
	return "demo|" + s.nm.Family + "|" + s.nm.Given + "|" + isoDate(s.dob) + "|" + string(s.sex)
}

func (p *person) snap(mrs [][2]string, sr string, withPhone bool) *pidSnap {
	s := &pidSnap{mrs: mrs, sr: sr, nm: p.nm, mom: p.momMaid, dob: p.dob, sex: p.sex, addr: p.addr}
	if withPhone {
		s.phone = p.phone
	}
	return s
}

func (p *person) ctrl(ns string) string {
	p.msgSeq++
	return ns + "." + strconv.Itoa(p.idx+1) + "." + strconv.Itoa(p.msgSeq)
}

package synth

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

type facility struct {
	idx                       int
	NS, Name, Kind, App, OID  string
	OrgID                     string // MSH-22 XON-10; empty = MSH-22 not sent
	nameEsc                   string // Name with HL7 escapes
	msh4                      string // HD: NS^OID^ISO
	srAware                   bool   // puts the IIS id beside its MRN once the IIS has one
	historyOnFirst, historyAt float64
}

// orgKey follows pipeline.Membership.OrgKey: MSH-22 id, else MSH-4
// "namespace|universal id".
func (f *facility) orgKey() string {
	if f.OrgID != "" {
		return f.OrgID
	}
	return f.NS + "|" + f.OID
}

type world struct {
	cfg                      Config
	seed                     uint64
	facs                     []*facility
	clinics, pharmacies, mvs []int
	startTS, endTS           int64
	startDay, endDay         day
	// Key spaces: [latin][adult]. Children and adults have disjoint birth
	// date ranges and the two family lists are disjoint, so the four
	// permutations never hand out the same (family, given, birth date).
	dobLo         [2]day
	dobSpan       [2]uint64
	perms         [2][2]*perm
	draws         [2][2]uint64
	nextPerson    int
	unseenPlanned bool
	arena         []byte // encoded messages of the current window
	outsiderSeq   int
}

func newWorld(cfg Config) *world {
	w := &world{cfg: cfg, seed: uint64(cfg.Seed)}
	w.startTS, w.endTS = cfg.Start.Unix(), cfg.End.Unix()
	w.startDay, w.endDay = localDay(w.startTS), localDay(w.endTS)
	w.dobLo[0] = w.startDay - 18*365
	w.dobSpan[0] = uint64(w.endDay - 30 - w.dobLo[0])
	w.dobLo[1] = w.startDay - 80*365
	w.dobSpan[1] = uint64(w.dobLo[0] - w.dobLo[1])
	g := uint64(len(givenA))
	for li, fams := range [][]string{familiesASCII, familiesLatin} {
		for ai := range 2 {
			w.perms[li][ai] = newPerm(w.dobSpan[ai]*uint64(len(fams))*g, splitmix(w.seed^uint64(0xa5c11+li*2+ai)))
		}
	}
	for i := 0; i < cfg.Facilities; i++ {
		n := facilityNames[i]
		f := &facility{idx: i, NS: n.NS, Name: n.Name, Kind: n.Kind, App: n.App,
			OID: facOIDPrefix + strconv.Itoa(i+1)}
		f.nameEsc = strings.ReplaceAll(f.Name, "&", `\T\`)
		f.msh4 = f.NS + "^" + f.OID + "^ISO"
		switch f.Kind {
		case kindClinic:
			w.clinics = append(w.clinics, i)
			f.historyOnFirst, f.historyAt = 0.5, 0.08
			f.srAware = i%4 == 0
			if i%4 == 0 || i%4 == 2 && i >= 4 {
				f.OrgID = "IL" + strconv.Itoa(1000+i*37)
			}
		case kindPharmacy:
			w.pharmacies = append(w.pharmacies, i)
			if i%2 == 1 {
				f.OrgID = "IL" + strconv.Itoa(1000+i*37)
			}
		case kindMassVax:
			w.mvs = append(w.mvs, i)
		}
		w.facs = append(w.facs, f)
	}
	return w
}

// adultShare of persons are adults (flu, COVID, Tdap; mostly single-dose
// pharmacy visits), the rest children on the childhood schedule.
const adultShare = 0.4

type name struct{ Family, Given, Middle string }

type address struct{ Street, City, State, Zip, County string }

type dose struct {
	ord      int
	cvx      string
	date     day
	fac      int // giver; -1 = outside the archive (before the span)
	filler   string
	status   string // CP, RE, NA
	lot, exp string
	mvx      mvx
	site     string
	vfc      code
	provider int
	reason   code
	multiVIS bool

	reported   bool // some emitted message carried it (the IIS knows it)
	reported00 bool // its giver reported it as 00
	deleted    bool
}

type person struct {
	w        *world
	idx      int
	key      string
	rng      *rand.Rand
	latin    bool
	baseFam  string
	nm       name
	sex      byte
	dob      day
	momMaid  name
	addr     address
	phone    string // 10 digits
	race     code
	eth      code
	primary  int
	noSR     bool
	sr       string
	mrn      []string
	knowsSR  []bool
	doses    []*dose
	twin     *person
	twinNo   int // 1 or 2 for twins
	adult    bool
	nonASCII bool

	seen     map[string]bool // link keys of emitted PID messages
	needLink bool
	msgSeq   int
	lastTS   int64
	events   []*event
}

func (w *world) newPerson(latin bool, twinOf *person) *person {
	idx := w.nextPerson
	w.nextPerson++
	p := &person{w: w, idx: idx, key: fmt.Sprintf("P%06d", idx+1), latin: latin,
		rng:     rand.New(rand.NewPCG(w.seed, uint64(idx)*0x9e3779b97f4a7c15+1)),
		mrn:     make([]string, len(w.facs)),
		knowsSR: make([]bool, len(w.facs)),
		seen:    map[string]bool{},
	}
	r := p.rng
	var g givenName
	if twinOf != nil {
		gi := slices.IndexFunc(givenA, func(x givenName) bool { return x.Name == twinOf.nm.Given })
		g = givenB[gi]
		p.baseFam, p.dob = twinOf.baseFam, twinOf.dob
		p.twin, twinOf.twin = twinOf, p
		p.adult = twinOf.adult
		twinOf.twinNo, p.twinNo = 1, 2
	} else {
		li, ai := 0, 0
		fams := familiesASCII
		if latin {
			li, fams = 1, familiesLatin
		}
		if r.Float64() < adultShare {
			ai = 1
			p.adult = true
		}
		x := w.perms[li][ai].at(w.draws[li][ai])
		w.draws[li][ai]++
		p.dob = w.dobLo[ai] + day(x%w.dobSpan[ai])
		x /= w.dobSpan[ai]
		p.baseFam = fams[x%uint64(len(fams))]
		g = givenA[x/uint64(len(fams))]
	}
	p.sex = g.Sex
	p.nm = name{Family: p.baseFam, Given: g.Name, Middle: p.pickMiddle()}
	if twinOf != nil {
		p.momMaid, p.addr, p.phone = twinOf.momMaid, twinOf.addr, twinOf.phone
		p.race, p.eth, p.primary, p.noSR = twinOf.race, twinOf.eth, twinOf.primary, twinOf.noSR
	} else {
		p.momMaid = name{Family: familiesASCII[r.IntN(len(familiesASCII))], Given: pickSex(r, 'F').Name}
		p.addr, p.phone = p.newAddress()
		p.race = races[r.IntN(len(races))]
		p.eth = ethnicities[r.IntN(len(ethnicities))]
		p.primary = w.clinics[r.IntN(len(w.clinics))]
		p.noSR = r.Float64() < 0.25
	}
	p.refreshASCII()
	return p
}

func pickSex(r *rand.Rand, sex byte) givenName {
	for {
		g := givenA[r.IntN(len(givenA))]
		if g.Sex == sex {
			return g
		}
	}
}

func (p *person) pickMiddle() string {
	for {
		g := pickSex(p.rng, p.sex)
		if g.Name != p.nm.Given {
			return g.Name
		}
	}
}

func (p *person) newAddress() (address, string) {
	r := p.rng
	c := cities[r.IntN(len(cities))]
	a := address{Street: strconv.Itoa(10+r.IntN(9980)) + " " + streets[r.IntN(len(streets))],
		City: c.Name, State: jurisdictionState, Zip: c.Zip, County: c.County}
	n := r.IntN(100) // 555-0100..0199: numbers reserved for fiction
	return a, c.Area + "55501" + string(rune('0'+n/10)) + string(rune('0'+n%10))
}

func (p *person) refreshASCII() {
	p.nonASCII = false
	for _, s := range []string{p.nm.Family, p.nm.Given, p.nm.Middle, p.momMaid.Family, p.momMaid.Given} {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				p.nonASCII = true
				return
			}
		}
	}
}

// mrnAt returns (assigning if needed) the person's MRN at facility f.
// MRNs are injective in the person index per facility, so two persons
// never share (facility, MR).
func (p *person) mrnAt(f int) string {
	if p.mrn[f] == "" {
		switch p.w.facs[f].Kind {
		case kindClinic:
			p.mrn[f] = strconv.Itoa(5000000 + p.idx*17 + f)
		case kindPharmacy:
			p.mrn[f] = "RX" + strconv.Itoa(100000+p.idx*31+f)
		default:
			p.mrn[f] = "MV-" + strconv.Itoa(200000+p.idx)
		}
	}
	return p.mrn[f]
}

func (p *person) srValue() string { return strconv.Itoa(7000000 + p.idx*13) }

func (p *person) giverID(d *dose) string { return strconv.Itoa(10000000 + p.idx*100 + d.ord) }
func (p *person) histID(d *dose) string  { return "H" + strconv.Itoa(10000000+p.idx*100+d.ord) }
func (p *person) iisID(d *dose) string   { return "IIS-" + strconv.Itoa(30000000+p.idx*100+d.ord) }

func (p *person) ageYears(d day) int { return int(d-p.dob) / 365 }

// event is one unit of traffic: a VXU (optionally followed by the IIS's
// ACK) or a QBP with its RSP. Events never split when a message target
// cuts a file short.
type event struct {
	ts   int64
	p    *person
	seq  int
	msgs []*message
}

type message struct {
	kind, profile, ctrl string
	ts                  int64
	data                []byte
	sender              int // facility index; -1 = the IIS
	pid                 *pidSnap
	rows                []row
	linkOrg             int // the asker a query links to the person (RSP; QBP without its answer); -1 none
	linkTS              int64
}

type pidSnap struct {
	mrs   [][2]string // (facility NS, MRN)
	sr    string
	nm    name
	mom   name
	dob   day
	sex   byte
	addr  address
	phone string
	full  bool // PD1 (and NK1 for a child) follow the PID
}

type row struct {
	cvx, rxa9, status, action, filler, lot, mvx string
	reason                                      string
	exp                                         string // RXA-16 (YYYYMMDD) of a given dose
	date                                        day
	given                                       *dose // the dose of an ORDER its giver wrote in full (orderGiven)
}

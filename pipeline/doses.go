package pipeline

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
)

// doseRec is one Immunization as one message reported it.
type doseRec struct {
	obj     *fhirout.Object
	msg     *origin
	ord     int    // position of the record in the person's history
	sender  string // organization key of the message
	fill    fillID // ORC-3 (FILL identifier)
	cvx     string // vaccine code, CVX table form when CVX
	date    string // occurrence day
	rank    int    // 2 administered (00) in a VXU, 1 historical VXU, 0 RSP copy
	deleted bool   // RXA-21 D (status entered-in-error)
	// keyTail is tailWord(content()): records of other vaccines or days
	// mostly differ in it, so groups are told apart without comparing
	// strings.
	keyTail uint64
	// firstOrd is, for the latest record of a live chain, the ord of the
	// chain's first record (set by the reduction).
	firstOrd int
}

func (d *doseRec) content() string { return d.cvx + "|" + d.date }

// contentTail is tailWord(d.content()), without building it.
func (d *doseRec) contentTail() uint64 {
	if len(d.date) >= 8 {
		return tailWord(d.date)
	}
	var b [17]byte // the last 8 bytes of the CVX, "|" and a date under 8
	n := copy(b[:], d.cvx[max(len(d.cvx)-8, 0):])
	b[n] = '|'
	n += 1 + copy(b[n+1:], d.date)
	return tailWord(string(b[max(n-8, 0):n]))
}

// tailWord is the last eight bytes of s (all of s when shorter) as a
// number: strings that differ mostly differ in it (ORC-3 ids and dates
// of one person mostly share their length, and differ at the end), so
// comparing it first spares most string comparisons. Equal strings have
// equal tails.
func tailWord(s string) uint64 {
	n := len(s)
	if n < 8 {
		var w uint64
		for i := 0; i < n; i++ {
			w = w<<8 | uint64(s[i])
		}
		return w
	}
	s = s[n-8:]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// hasContent says content() is key, without building it.
func (d *doseRec) hasContent(key string) bool {
	n := len(d.cvx)
	return len(key) == n+1+len(d.date) && key[:n] == d.cvx && key[n] == '|' && key[n+1:] == d.date
}

// dose is the reduced state of one dose of a person.
type dose struct {
	key         string          // CVX|date
	obj         *fhirout.Object // the winning record's resource
	win         *doseRec        // the record whose state is the dose's
	records     []*doseRec      // every record behind it
	lastUpdated time.Time
	deleted     bool
	deletedAt   time.Time
}

// idRecord is the record whose mapped id is the dose's: the first to
// arrive (index order; a relational person's rows in mapping order) of
// those reporting the dose's vaccine and day. It stays the same as
// updates arrive, where the winning record does not (an id following it
// would change, and the old one would never be listed deleted). Under
// the default mapping, whose id hashes Patient id, vaccine and day, every
// record of the dose's content gives the same id.
func (d *dose) idRecord() *doseRec {
	var first *doseRec
	for _, r := range d.records {
		if !r.hasContent(d.key) {
			continue // a record of a chain later moved to this vaccine or day
		}
		if first == nil || r.msg.seq < first.msg.seq || r.msg.seq == first.msg.seq && r.ord < first.ord {
			first = r
		}
	}
	if first == nil { // not reached: a dose's key is one of its records' content
		first = d.win
	}
	return first
}

// unseenDelete is a D record that matches no dose.
type unseenDelete struct{ rec *doseRec }

// fillID is a dose's identifier (ORC-3): its system and value, kept
// apart rather than joined per record; ok false when there is none or it
// is unusable. Identifiers that print alike as system|value are one
// (newFillID).
type fillID struct {
	sys, val string
	ok       bool
	tail     uint64 // tailWord(val)
}

// newFillID is the fillID of system and value: when either holds a "|",
// the two joined as the value, so that ids printing alike stay equal.
func newFillID(sys, val string) fillID {
	if strings.IndexByte(sys, '|') >= 0 || strings.IndexByte(val, '|') >= 0 {
		val = sys + "|" + val
		return fillID{val: val, ok: true, tail: tailWord(val)}
	}
	return fillID{sys, val, true, tailWord(val)}
}

// is says f == o, comparing the values' tails first, then the values: a
// person's fill ids mostly share their system and differ at the end of
// their value, which == (field by field, a call) compares last.
func (f fillID) is(o fillID) bool {
	return f.tail == o.tail && f.val == o.val && f.sys == o.sys && f.ok == o.ok
}

// doseFields are what the reduction reads from one mapped Immunization.
type doseFields struct {
	fill             fillID
	cvx, date        string
	primary, deleted bool
}

func (f doseFields) rec(obj *fhirout.Object, m *origin, ord int, rsp bool) *doseRec {
	d := new(doseRec)
	f.fillRec(d, obj, m, ord, rsp)
	return d
}

// fillRec sets *d to the record rec returns.
func (f doseFields) fillRec(d *doseRec, obj *fhirout.Object, m *origin, ord int, rsp bool) {
	*d = doseRec{obj: obj, msg: m, ord: ord, sender: m.orgKey, fill: f.fill, cvx: f.cvx, date: f.date, deleted: f.deleted}
	d.keyTail = d.contentTail()
	switch {
	case rsp:
		d.rank = 0
	case f.primary:
		d.rank = 2
	default:
		d.rank = 1
	}
}

// doseSpec is what the dose reducer reads of a mapped resource, as the
// mapping declares it (its reduce: section): element paths, never
// element names in Go.
type doseSpec struct {
	doseID, vaccine, day, deleted, primary *mapping.ElementPath
	vaccineSystem                          string // the coding system compared numerically (CVX)
}

func newDoseSpec(red mapping.Reduction) doseSpec {
	el := red.Elements
	return doseSpec{doseID: el["dose_id"], vaccine: el["vaccine"], day: el["day"], deleted: el["deleted"],
		primary: el["primary"], vaccineSystem: el["vaccine_system"].String()}
}

// read reads the dose's identity (the sender's dose id: an Identifier),
// vaccine (Codings: the one of vaccineSystem wins, else the first as
// system#code) and day (a dateTime's date) from a mapped resource.
func (s doseSpec) read(obj *fhirout.Object) doseFields {
	var d doseFields
	var room [4]any // the values of one path: no allocation for the usual few
	codings := s.vaccine.AppendValues(room[:0], obj)
	for _, c := range codings {
		co, _ := c.(*fhirout.Object)
		if str(co, "system") == s.vaccineSystem && str(co, "code") != "" {
			d.cvx = normCVX(str(co, "code"))
			break
		}
	}
	if d.cvx == "" && len(codings) > 0 {
		co, _ := codings[0].(*fhirout.Object)
		d.cvx = str(co, "system") + "#" + str(co, "code")
	}
	d.date = s.day.String1(obj)
	if len(d.date) > 10 && d.date[4] == '-' {
		d.date = d.date[:10]
	}
	for _, id := range s.doseID.AppendValues(room[:0], obj) {
		io, _ := id.(*fhirout.Object)
		d.fill = newFillID(str(io, "system"), str(io, "value"))
	}
	d.deleted = s.deleted.Holds(obj)
	d.primary = s.primary.Holds(obj)
	return d
}

// normCVX compares CVX numerically and renders the table form (045 → 45,
// 3 → 03).
func normCVX(s string) string {
	if canonCVX(s) {
		return s // the usual code, as the table writes it: no copy
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return strings.TrimSpace(s)
	}
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// canonCVX says s is a CVX code in table form: two digits or more, a
// leading 0 only before one other digit.
func canonCVX(s string) bool {
	if len(s) < 2 || s[0] == '0' && len(s) != 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// reduceDoses turns every record of one person (oldest first) into one
// dose per CVX + day in its latest state.
//
// Records with the same sender and ORC-3 form a chain (an order and its
// RXA-21 U updates and D delete); its latest record is its state. Records
// without a usable ORC-3 chain on sender + CVX + day. Chains are grouped
// by CVX + day (the IIS practice: one person, one vaccine, one day is one
// dose). The dose is the best live record: administered (00) from the
// giver beats historical (01) copies, which beat RSP copies; later beats
// earlier. The dose is deleted when a chain of the group ended in D after
// the latest administered record of the group. A D that matches no chain
// and no dose is returned as unseen.
func reduceDoses(recs []*doseRec) (doses []*dose, unseen []unseenDelete) {
	return new(doseScratch).reduce(recs)
}

// A fill id in one message (reduceDoses).
type fillKey struct {
	seq  int64
	fill fillID
}

// chainKey names a chain (reduceDoses); struct keys: no string is built
// per record.
type chainKey struct {
	byFill           bool
	sender, id, date string // the fill id's system and value, or the CVX and date when none
	// tail is the fill id's, or the record's keyTail when none (each a
	// function of the fields above)
	tail uint64
}

// is says k == o, comparing the fields that tell a person's chains
// apart first (see fillID.is).
func (k chainKey) is(o chainKey) bool {
	return k.tail == o.tail && k.date == o.date && k.id == o.id && k.sender == o.sender && k.byFill == o.byFill
}

type doseChain struct {
	key  chainKey
	recs []*doseRec
}

// doseGroup is the chains of one CVX + day.
type doseGroup struct {
	key  string     // CVX|date
	tail uint64     // tailWord(key)
	by   groupKey   // the CVX and date of the record that made it
	live []*doseRec // latest record of each live chain
	dels []*doseRec // final D of each deleted chain
	all  []*doseRec
}

type groupKey struct{ cvx, date string }

// scanMax is the most chains, and groups, a person's reduction finds by
// scanning them rather than hashing: a person has a handful of doses, and
// a scan over a few beats hashing struct keys; past it the maps keep a
// long history linear.
const scanMax = 24

// scanRunMax is the longest run of one message's records whose reused
// fill ids are found by comparing each with the others (dropReusedFills).
const scanRunMax = 32

// doseScratch is the memory of reduceDoses, reused by a worker person
// after person: what it returns is valid until its next reduce.
type doseScratch struct {
	seen   map[fillKey]int
	chains map[chainKey]int // index in chainBuf
	order  []int
	groups map[groupKey]int // index in groupBuf
	byKey  map[string]int
	gorder []int
	// chainMap, groupMap: the chains (groups) are found in the maps.
	chainMap, groupMap bool
	chainBuf           []doseChain
	groupBuf           []doseGroup
	doseBuf            []dose
	doses              []*dose
	recBuf             []doseRec
	recs               []*doseRec
}

// records returns n records for a person's Immunizations, valid until
// the next call.
func (s *doseScratch) records(n int) []*doseRec {
	clear(s.recBuf)
	if cap(s.recBuf) < n {
		s.recBuf = make([]doseRec, n)
	}
	s.recBuf = s.recBuf[:n]
	s.recs = s.recs[:0]
	for i := range s.recBuf {
		s.recs = append(s.recs, &s.recBuf[i])
	}
	return s.recs
}

// reset empties s for the next person; maps grown by an outsized person
// are dropped rather than cleared slot by slot ever after.
func (s *doseScratch) reset() {
	const big = 1024
	if s.chains == nil || len(s.chains) > big || len(s.groups) > big {
		s.seen, s.chains, s.groups, s.byKey = nil, map[chainKey]int{}, map[groupKey]int{}, map[string]int{}
		s.chainBuf, s.groupBuf, s.doseBuf = nil, nil, nil
	} else {
		clear(s.doseBuf)
		clear(s.seen)
		clear(s.chains)
		clear(s.groups)
		clear(s.byKey)
	}
	s.order, s.gorder, s.doses = s.order[:0], s.gorder[:0], s.doses[:0]
}

// chain returns the i-th chain of the person, emptied.
func (s *doseScratch) chain(i int, k chainKey) *doseChain {
	if i == len(s.chainBuf) {
		s.chainBuf = append(s.chainBuf, doseChain{})
	}
	c := &s.chainBuf[i]
	clear(c.recs)
	c.key, c.recs = k, c.recs[:0]
	return c
}

// dropReusedFills drops the fill id of records sharing it with another
// order of their message: such an id is no id (some senders put the
// patient id there).
func (s *doseScratch) dropReusedFills(recs []*doseRec, scan bool) {
	if scan && messageRuns(recs) {
		for i, r := range recs {
			if !r.fill.ok {
				continue
			}
			// The first record of an id drops it from the others of its
			// message, which follow it.
			reused := false
			for _, q := range recs[i+1:] {
				if q.msg.seq != r.msg.seq {
					break
				}
				if q.fill.is(r.fill) {
					q.fill, reused = fillID{}, true
				}
			}
			if reused {
				r.fill = fillID{}
			}
		}
		return
	}
	for _, r := range recs {
		if r.fill.ok {
			if s.seen == nil {
				s.seen = map[fillKey]int{}
			}
			s.seen[fillKey{r.msg.seq, r.fill}]++
		}
	}
	for _, r := range recs {
		if r.fill.ok && s.seen[fillKey{r.msg.seq, r.fill}] > 1 {
			r.fill = fillID{}
		}
	}
}

// messageRuns says each message's records follow one another in recs, in
// runs of at most scanRunMax.
func messageRuns(recs []*doseRec) bool {
	run := 0
	for i, r := range recs {
		if i > 0 && r.msg.seq != recs[i-1].msg.seq {
			if r.msg.seq < recs[i-1].msg.seq {
				return false
			}
			run = 0
		}
		if run++; run > scanRunMax {
			return false
		}
	}
	return true
}

// chainOf returns the index of the chain named k, -1 when none.
func (s *doseScratch) chainOf(k chainKey) int {
	if s.chainMap {
		if ci, ok := s.chains[k]; ok {
			return ci
		}
		return -1
	}
	for ci := range s.order {
		if s.chainBuf[ci].key.is(k) {
			return ci
		}
	}
	return -1
}

// addChain appends the chain named k, the maps taking over from scanning
// past scanMax chains.
func (s *doseScratch) addChain(k chainKey) int {
	ci := len(s.order)
	if !s.chainMap && ci == scanMax {
		for i := range s.order {
			s.chains[s.chainBuf[i].key] = i
		}
		s.chainMap = true
	}
	s.chain(ci, k)
	if s.chainMap {
		s.chains[k] = ci
	}
	s.order = append(s.order, ci)
	return ci
}

// group returns the group of r's vaccine and day, made when new. Values
// that print alike (a "|" in a code) are one dose, as their Immunization
// ids would be.
func (s *doseScratch) group(r *doseRec) *doseGroup {
	if !s.groupMap {
		for _, gi := range s.gorder {
			if g := &s.groupBuf[gi]; g.tail == r.keyTail && r.hasContent(g.key) {
				return g
			}
		}
		if len(s.gorder) < scanMax {
			return s.newGroup(r.content(), r.keyTail, groupKey{r.cvx, r.date})
		}
		for _, gi := range s.gorder {
			g := &s.groupBuf[gi]
			s.byKey[g.key], s.groups[g.by] = gi, gi
		}
		s.groupMap = true
	}
	k := groupKey{r.cvx, r.date}
	gi, ok := s.groups[k]
	if !ok {
		key := r.content()
		if gi, ok = s.byKey[key]; !ok {
			g := s.newGroup(key, r.keyTail, k)
			gi = len(s.gorder) - 1
			s.byKey[key] = gi
			s.groups[k] = gi
			return g
		}
		s.groups[k] = gi
	}
	return &s.groupBuf[gi]
}

// newGroup appends an empty group of key (tail its tailWord), made by a
// record of by.
func (s *doseScratch) newGroup(key string, tail uint64, by groupKey) *doseGroup {
	gi := len(s.gorder)
	if gi == len(s.groupBuf) {
		s.groupBuf = append(s.groupBuf, doseGroup{})
	}
	g := &s.groupBuf[gi]
	clear(g.live)
	clear(g.dels)
	clear(g.all)
	*g = doseGroup{key: key, tail: tail, by: by, live: g.live[:0], dels: g.dels[:0], all: g.all[:0]}
	s.gorder = append(s.gorder, gi)
	return g
}

func (s *doseScratch) reduce(recs []*doseRec) (doses []*dose, unseen []unseenDelete) {
	return s.reduceBy(recs, true)
}

// reduceBy is reduce, finding chains and groups by scanning them when
// scan (up to scanMax), else in the maps from the start.
func (s *doseScratch) reduceBy(recs []*doseRec, scan bool) (doses []*dose, unseen []unseenDelete) {
	s.reset()
	s.chainMap, s.groupMap = !scan, !scan
	s.dropReusedFills(recs, scan)
	for _, r := range recs {
		k := chainKey{byFill: true, sender: r.sender, id: r.fill.sys, date: r.fill.val, tail: r.fill.tail}
		if !r.fill.ok {
			k = chainKey{sender: r.sender, id: r.cvx, date: r.date, tail: r.keyTail}
		}
		ci := s.chainOf(k)
		if ci < 0 {
			ci = s.addChain(k)
		}
		c := &s.chainBuf[ci]
		c.recs = append(c.recs, r)
	}
	get := s.group
	for _, ci := range s.order {
		c := &s.chainBuf[ci]
		last := c.recs[len(c.recs)-1]
		var lastLive *doseRec
		for _, r := range c.recs {
			if !r.deleted {
				lastLive = r
			}
		}
		switch {
		case !last.deleted:
			g := get(last)
			g.live = append(g.live, last)
			last.firstOrd = c.recs[0].ord
			g.all = append(g.all, c.recs...)
		case lastLive != nil:
			g := get(lastLive)
			g.dels = append(g.dels, last)
			g.all = append(g.all, c.recs...)
		case !last.fill.ok:
			// A D without ORC-3 deletes by content.
			g := get(last)
			g.dels = append(g.dels, last)
			g.all = append(g.all, c.recs...)
		case last.msg.rows:
			// A deleted row is the registry's own word: it deletes its
			// dose whatever else was read.
			g := get(last)
			g.dels = append(g.dels, last)
			g.all = append(g.all, c.recs...)
		default:
			// D for an order this sender never reported: a warning, and
			// nothing is deleted (matching is on sender + ORC-3).
			for _, r := range c.recs {
				unseen = append(unseen, unseenDelete{r})
			}
		}
	}
	if cap(s.doseBuf) < len(s.gorder) {
		s.doseBuf = make([]dose, len(s.gorder))
	}
	s.doseBuf = s.doseBuf[:len(s.gorder)]
	for i, gi := range s.gorder {
		g := &s.groupBuf[gi]
		if len(g.live) == 0 && len(g.dels) == 0 {
			continue
		}
		d := &s.doseBuf[i]
		*d = dose{key: g.key, records: g.all}
		for _, r := range g.all {
			if r.msg.at.After(d.lastUpdated) {
				d.lastUpdated = r.msg.at
			}
		}
		lastGiver := -1
		for _, r := range g.live {
			if r.rank == 2 && r.ord > lastGiver {
				lastGiver = r.ord
			}
		}
		var del *doseRec
		for _, r := range g.dels {
			if r.ord > lastGiver && (del == nil || r.ord > del.ord) {
				del = r
			}
		}
		if del != nil && del.msg.rows && len(g.live) > 0 {
			del = nil // a live row of the dose: the registry holds it
		}
		if del != nil || len(g.live) == 0 {
			if del == nil {
				del = g.dels[len(g.dels)-1]
			}
			d.deleted, d.deletedAt = true, del.msg.at
			d.obj, d.win = del.obj, del
		} else {
			best := g.live[0]
			for _, r := range g.live[1:] {
				// The latest record wins, but among historical copies
				// from several reporters the first reporter's chain
				// stays (the truth's rule; the dose's identifier keeps
				// naming one reporter as others repeat it).
				later := r.ord > best.ord
				if r.rank == 1 && r.sender != best.sender {
					later = r.firstOrd < best.firstOrd
				}
				if r.rank > best.rank || r.rank == best.rank && later {
					best = r
				}
			}
			d.obj, d.win = best.obj, best
		}
		s.doses = append(s.doses, d)
	}
	doses = s.doses
	slices.SortFunc(doses, func(a, b *dose) int { return strings.Compare(a.key, b.key) })
	return doses, unseen
}

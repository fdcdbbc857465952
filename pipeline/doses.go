package pipeline

import (
	"sort"
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
	fill    string // ORC-3 (FILL identifier), "" when unusable
	cvx     string // vaccine code, CVX table form when CVX
	date    string // occurrence day
	rank    int    // 2 administered (00) in a VXU, 1 historical VXU, 0 RSP copy
	deleted bool   // RXA-21 D (status entered-in-error)
}

func (d *doseRec) content() string { return d.cvx + "|" + d.date }

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
		if r.content() != d.key {
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

// doseFields are what the reduction reads from one mapped Immunization.
type doseFields struct {
	fill, cvx, date  string
	primary, deleted bool
}

func (f doseFields) rec(obj *fhirout.Object, m *origin, ord int, rsp bool) *doseRec {
	d := &doseRec{obj: obj, msg: m, ord: ord, sender: m.orgKey, fill: f.fill, cvx: f.cvx, date: f.date, deleted: f.deleted}
	switch {
	case rsp:
		d.rank = 0
	case f.primary:
		d.rank = 2
	default:
		d.rank = 1
	}
	return d
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
	codings := s.vaccine.Values(obj)
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
	for _, id := range s.doseID.Values(obj) {
		io, _ := id.(*fhirout.Object)
		d.fill = str(io, "system") + "|" + str(io, "value")
	}
	d.deleted = s.deleted.Holds(obj)
	d.primary = s.primary.Holds(obj)
	return d
}

// normCVX compares CVX numerically and renders the table form (045 → 45,
// 3 → 03).
func normCVX(s string) string {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return strings.TrimSpace(s)
	}
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
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
	// A fill id reused by several orders of one message is no id (some
	// senders put the patient id there).
	type fillKey struct {
		seq  int64
		fill string
	}
	var seen map[fillKey]int
	for _, r := range recs {
		if r.fill != "" {
			if seen == nil {
				seen = map[fillKey]int{}
			}
			seen[fillKey{r.msg.seq, r.fill}]++
		}
	}
	// Struct keys: no string is built per record.
	type chainKey struct {
		byFill           bool
		sender, id, date string // id: the fill id, or the CVX (with date) when none
	}
	type chain struct {
		recs []*doseRec
	}
	chains := map[chainKey]*chain{}
	var order []chainKey
	for _, r := range recs {
		if r.fill != "" && seen[fillKey{r.msg.seq, r.fill}] > 1 {
			r.fill = ""
		}
		k := chainKey{byFill: true, sender: r.sender, id: r.fill}
		if r.fill == "" {
			k = chainKey{sender: r.sender, id: r.cvx, date: r.date}
		}
		c := chains[k]
		if c == nil {
			c = &chain{}
			chains[k] = c
			order = append(order, k)
		}
		c.recs = append(c.recs, r)
	}
	type group struct {
		key      string     // CVX|date
		live     []*doseRec // latest record of each live chain
		dels     []*doseRec // final D of each deleted chain
		all      []*doseRec
		firstOrd int
	}
	type groupKey struct{ cvx, date string }
	groups := map[groupKey]*group{}
	byKey := map[string]*group{}
	var gorder []*group
	get := func(r *doseRec, ord int) *group {
		k := groupKey{r.cvx, r.date}
		g := groups[k]
		if g == nil {
			// Values that print alike (a "|" in a code) are one dose, as
			// their Immunization ids would be.
			key := r.content()
			if g = byKey[key]; g == nil {
				g = &group{key: key, firstOrd: ord}
				byKey[key] = g
				gorder = append(gorder, g)
			}
			groups[k] = g
		}
		return g
	}
	first := map[*doseRec]int{} // a live chain's latest record → the ord of the chain's first record
	for _, k := range order {
		c := chains[k]
		last := c.recs[len(c.recs)-1]
		var lastLive *doseRec
		for _, r := range c.recs {
			if !r.deleted {
				lastLive = r
			}
		}
		switch {
		case !last.deleted:
			g := get(last, c.recs[0].ord)
			g.live = append(g.live, last)
			first[last] = c.recs[0].ord
			g.all = append(g.all, c.recs...)
		case lastLive != nil:
			g := get(lastLive, c.recs[0].ord)
			g.dels = append(g.dels, last)
			g.all = append(g.all, c.recs...)
		case last.fill == "":
			// A D without ORC-3 deletes by content.
			g := get(last, c.recs[0].ord)
			g.dels = append(g.dels, last)
			g.all = append(g.all, c.recs...)
		case last.msg.rows:
			// A deleted row is the registry's own word: it deletes its
			// dose whatever else was read.
			g := get(last, c.recs[0].ord)
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
	for _, g := range gorder {
		if len(g.live) == 0 && len(g.dels) == 0 {
			continue
		}
		d := &dose{key: g.key, records: g.all}
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
					later = first[r] < first[best]
				}
				if r.rank > best.rank || r.rank == best.rank && later {
					best = r
				}
			}
			d.obj, d.win = best.obj, best
		}
		doses = append(doses, d)
	}
	sort.Slice(doses, func(i, j int) bool { return doses[i].key < doses[j].key })
	return doses, unseen
}

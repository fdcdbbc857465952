package mapping

import "github.com/iisbridge/iisbridge/fhirout"

// Room: how many keys each object a rule makes will hold, and how many
// values each array, worked out at Load so fhirout.Slab can reserve the
// exact space instead of growing slices key by key. The numbers are upper
// bounds from the rules (a rule that gives no value leaves its room
// unused); a foreach may write more, and the slice then simply grows.

// keySet collects the distinct keys rules write into one object.
type keySet []string

func (k *keySet) add(key string) {
	for _, s := range *k {
		if s == key {
			return
		}
	}
	*k = append(*k, key)
}

// topKeys adds the keys rules write directly into the object they share
// (a block without a target writes into that object too).
func topKeys(rules []*rule, k *keySet) {
	for _, r := range rules {
		switch {
		case r.tgt != nil:
			k.add(r.tgt.steps[0].key)
		case r.children != nil:
			topKeys(r.children, k)
		}
	}
}

// sizeRules fills in the room of every step of rules that share one
// object, then of their children.
func sizeRules(rules []*rule) {
	var sibs []*rule // rules writing into this object, blocks flattened
	var flatten func([]*rule)
	flatten = func(rs []*rule) {
		for _, r := range rs {
			if r.tgt != nil {
				sibs = append(sibs, r)
			} else if r.children != nil {
				flatten(r.children)
			}
		}
	}
	flatten(rules)
	for _, r := range sibs {
		steps := r.tgt.steps
		for i := range steps {
			st := &steps[i]
			if i < len(steps)-1 {
				// The object made here holds the next keys of every sibling
				// sharing this prefix.
				var k keySet
				for _, o := range sibs {
					if samePrefix(o.tgt.steps, steps, i) {
						k.add(o.tgt.steps[i+1].key)
					}
				}
				st.room = len(k)
			} else if r.children != nil {
				var k keySet
				topKeys(r.children, &k)
				st.room = len(k)
			}
			if st.idx == -2 {
				// Values appended to this array by the siblings; a foreach
				// appends per item.
				n := 0
				for _, o := range sibs {
					if samePrefix(o.tgt.steps, steps, i) && o.tgt.steps[i].idx == -2 {
						n++
						if o.foreach != nil {
							n++
						}
					}
				}
				st.arr = n
			}
		}
	}
	for _, r := range rules {
		if r.children != nil {
			sizeRules(r.children)
		}
	}
}

// samePrefix reports whether a's steps 0..i have the keys of b's.
func samePrefix(a, b []step, i int) bool {
	if len(a) <= i {
		return false
	}
	for j := 0; j <= i; j++ {
		if a[j].key != b[j].key {
			return false
		}
	}
	return true
}

// resourceRoom is the key count of a resource's top object: resourceType,
// id and the keys of its rules.
func resourceRoom(rules []*rule) int {
	var k keySet
	topKeys(rules, &k)
	return 2 + len(k)
}

// Learnt room. The numbers above are upper bounds: most rules of a
// resource give nothing for a given record (the default mapping's
// Patient reserves 16 keys and a typical VXU's Patient fills 11; over a
// VXU, 250 members are reserved for 158 used). A record that keeps its
// Output (Mapping.Apply) allocates what it reserves, so the env learns,
// per site (a target step or a resource's object), the most keys and
// values the objects and arrays made there held, and reserves that
// instead. A record holding more grows the slice on its own (fhirout's
// slices are cut to their room), and the next record learnt from (see
// roomsSample) raises the room. Only capacities change: the output is
// the same.

// numberSites gives every step of rules (and the resource object) its
// site, and returns the resource object's.
func (c *compiler) numberSites(rules []*rule) int {
	var walk func([]*rule)
	walk = func(rs []*rule) {
		for _, r := range rs {
			if r.tgt != nil {
				for i := range r.tgt.steps {
					if st := &r.tgt.steps[i]; st.site == 0 { // a target shared through a YAML alias: once
						st.site = c.m.nSites
						c.m.nSites++
					}
				}
			}
			walk(r.children)
		}
	}
	walk(rules)
	c.m.nSites++
	return c.m.nSites - 1
}

// roomUse is the most an object (keys) and an array (values) made at a
// site held.
type roomUse struct{ keys, vals int32 }

// madeAt is an object or array made at a site, noted while learning.
type madeAt struct {
	site int
	obj  *fhirout.Object // the object, or the array's parent
	key  string          // the array's key; "" for an object
}

// roomsLearnt is how many records an env learns from before it samples
// one record in roomsSample (a record larger than those seen is rare, and
// costs only the growth of the slices it fills past their room).
const (
	roomsLearnt = 16
	roomsSample = 64
)

// startRooms prepares the learnt room for a record of m.
func (e *env) startRooms(m *mappingImpl) {
	if e.roomsOf != m || len(e.rooms) != m.nSites {
		e.rooms, e.roomsOf, e.records = make([]roomUse, m.nSites), m, 0
	}
	e.records++
	e.learning = e.records <= roomsLearnt || e.records%roomsSample == 0
	clear(e.madeLog)
	e.madeLog = e.madeLog[:0]
}

// keys is the room of an object made at site: the most learnt, else the
// bound from the rules.
func (e *env) keys(site, room int) int {
	if site < len(e.rooms) {
		if k := e.rooms[site].keys; k > 0 {
			return int(k)
		}
	}
	return room
}

// vals is keys for an array.
func (e *env) vals(site, arr int) int {
	if site < len(e.rooms) {
		if k := e.rooms[site].vals; k > 0 {
			return int(k)
		}
	}
	return arr
}

// note records an object (key "") or the array at obj's key made at site,
// when learning.
func (e *env) note(site int, obj *fhirout.Object, key string) {
	if e.learning && site > 0 && site < len(e.rooms) {
		e.madeLog = append(e.madeLog, madeAt{site, obj, key})
	}
}

// learnRooms updates the learnt room from the objects noted.
func (e *env) learnRooms() {
	for i := range e.madeLog {
		m := &e.madeLog[i]
		u := &e.rooms[m.site]
		if m.key == "" {
			u.keys = max(u.keys, int32(m.obj.Len()))
		} else {
			u.vals = max(u.vals, int32(arrayLen(m.obj, m.key)))
		}
	}
	clear(e.madeLog)
	e.madeLog = e.madeLog[:0]
}

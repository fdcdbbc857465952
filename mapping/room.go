package mapping

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

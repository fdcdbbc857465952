package hl7v2

// Order is one ORDER group. Absent segments are zero Segments (IsZero).
type Order struct {
	ORC, RXA, RXR Segment
	OBX           []Segment
	All           Segments // every segment of the group in order, ORC first
}

// OrderSegments are the segments of the VXU_V04 / RSP_K11 ORDER group
// (v2.5.1 to v2.8): ORC [{PRT}] [{TQ1 [{TQ2}]}] RXA [{PRT}] [RXR]
// [{OBX [{PRT}] [{NTE}]}]. PRT (participation) is v2.7+. Z-segments may
// sit in a group too. Do not modify.
var OrderSegments = []string{"ORC", "PRT", "TQ1", "TQ2", "RXA", "RXR", "OBX", "NTE"}

// InOrder says whether a segment of this name belongs in an ORDER group:
// one of OrderSegments or a Z-segment.
func InOrder(name string) bool {
	switch name {
	case "ORC", "PRT", "TQ1", "TQ2", "RXA", "RXR", "OBX", "NTE":
		return true
	}
	return len(name) > 0 && name[0] == 'Z'
}

// Orders returns the ORDER groups of a VXU^V04 / RSP^K11 message (the
// structure of OrderSegments): each RXA with its own ORC (the one before
// it, if not already used), and the PRT/TQ1/TQ2 between them, RXR and the
// OBX/NTE/PRT/Z segments that follow it up to the next ORC or RXA.
//
// Segments before the first ORC or RXA (PID, PD1, NK1, ...) belong to no
// group; so does an ORC that no RXA follows before the next ORC, RXA or
// patient-level segment. A group ends at the next ORC or RXA and at any
// standard segment that cannot sit in an ORDER (PID starts another patient
// in an RSP); PRT, TQ1/TQ2, RXR, OBX, NTE, Z-segments and unknown segments
// stay in the group.
//
// Orders is computed on the first call and remembered: every call returns
// the same slice, and it is safe for concurrent use like the rest of the
// Message. The slice, and the OBX and All slices of its Orders, are shared
// (they view the message's segment table): do not modify them.
func (m *Message) Orders() []Order {
	m.ordersOnce.Do(func() { m.orders = m.computeOrders() })
	return m.orders
}

// Name keys of the segments Orders looks at.
var (
	keyORC = nameKey("ORC")
	keyRXA = nameKey("RXA")
	keyRXR = nameKey("RXR")
	keyOBX = nameKey("OBX")
	keyNTE = nameKey("NTE")
	keyTQ1 = nameKey("TQ1")
	keyTQ2 = nameKey("TQ2")
	keyPRT = nameKey("PRT")
)

// computeOrders splits the message into ORDER groups. It allocates the
// result only: All and, when a group's OBX segments are adjacent (the
// usual case), OBX are views of the segment table; OBX segments split by
// NTE or other segments are gathered in one array shared by the message.
func (m *Message) computeOrders() []Order {
	segs := m.impl.segs
	nRXA := 0
	for _, s := range segs {
		if s.impl.segData != nil && s.impl.key == keyRXA {
			nRXA++
		}
	}
	if nRXA == 0 {
		return nil
	}
	out := make([]Order, 0, nRXA)
	var spill []Segment // OBX of groups whose OBX are not adjacent
	orc := -1           // index of an ORC not yet used by an RXA
	start := -1         // first segment of the open group, -1 when none
	obx0 := -1          // index in segs of the group's first OBX while they are adjacent
	var cur Order
	closeGroup := func(end int) {
		if start >= 0 {
			cur.All = segs[start:end:end]
			out = append(out, cur)
		}
		start, obx0, cur = -1, -1, Order{}
	}
	for i, s := range segs {
		if s.IsZero() {
			continue
		}
		switch s.impl.key {
		case keyORC:
			closeGroup(i)
			orc = i
		case keyRXA:
			closeGroup(i)
			start = i
			if orc >= 0 {
				start = orc
				cur.ORC = segs[orc]
				orc = -1
			}
			cur.RXA = s
		case keyRXR:
			if start >= 0 && cur.RXR.IsZero() {
				cur.RXR = s
			}
		case keyOBX:
			if start < 0 {
				break
			}
			switch n := len(cur.OBX); {
			case n == 0:
				obx0 = i
				cur.OBX = segs[i : i+1 : i+1]
			case obx0 >= 0 && obx0+n == i:
				cur.OBX = segs[obx0 : i+1 : i+1]
			default:
				if obx0 >= 0 { // first gap in this group: move its OBX to spill
					if spill == nil {
						spill = make([]Segment, 0, countOBX(segs[i:])+n)
					}
					spill = append(spill, cur.OBX...)
					obx0 = -1
				}
				spill = append(spill, s)
				cur.OBX = spill[len(spill)-n-1 : len(spill) : len(spill)]
			}
		case keyNTE, keyTQ1, keyTQ2, keyPRT:
		default:
			if _, known := segmentNames[s.impl.name]; known && s.impl.name[0] != 'Z' {
				closeGroup(i)
				orc = -1
			}
		}
	}
	closeGroup(len(segs))
	if len(out) == 0 {
		return nil
	}
	return out
}

// countOBX counts the OBX segments of segs.
func countOBX(segs Segments) int {
	n := 0
	for _, s := range segs {
		if s.impl.segData != nil && s.impl.key == keyOBX {
			n++
		}
	}
	return n
}

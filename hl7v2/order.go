package hl7v2

// Order is one ORDER group. Absent segments are zero Segments (IsZero).
type Order struct {
	ORC, RXA, RXR Segment
	OBX           []Segment
	All           Segments // every segment of the group in order, ORC first
}

// Orders returns the ORDER groups of a VXU^V04 / RSP^K11 message: each RXA
// with its own ORC (the one before it, if not already used), RXR and the
// OBX/NTE/Z segments that follow it up to the next ORC or RXA.
//
// Segments before the first ORC or RXA (PID, PD1, NK1, ...) belong to no
// group; so does an ORC that no RXA follows before the next ORC, RXA or
// patient-level segment. A group ends at the next ORC or RXA and at any
// standard segment that cannot sit in an ORDER (PID starts another patient
// in an RSP); TQ1/TQ2, RXR, OBX, NTE, Z-segments and unknown segments stay
// in the group. Orders is computed on each call.
func (m *Message) Orders() []Order {
	segs := m.impl.segs
	var out []Order
	orc := -1   // index of an ORC not yet used by an RXA
	start := -1 // first segment of the open group, -1 when none
	var cur Order
	closeGroup := func(end int) {
		if start >= 0 {
			cur.All = segs[start:end:end]
			out = append(out, cur)
		}
		start, cur = -1, Order{}
	}
	for i, s := range segs {
		if s.IsZero() {
			continue
		}
		switch s.impl.name {
		case "ORC":
			closeGroup(i)
			orc = i
		case "RXA":
			closeGroup(i)
			start = i
			if orc >= 0 {
				start = orc
				cur.ORC = segs[orc]
				orc = -1
			}
			cur.RXA = s
		case "RXR":
			if start >= 0 && cur.RXR.IsZero() {
				cur.RXR = s
			}
		case "OBX":
			if start >= 0 {
				cur.OBX = append(cur.OBX, s)
			}
		case "NTE", "TQ1", "TQ2":
		default:
			if _, known := segmentNames[s.impl.name]; known && s.impl.name[0] != 'Z' {
				closeGroup(i)
				orc = -1
			}
		}
	}
	closeGroup(len(segs))
	return out
}

package hl7v2

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// ordersVXU8 has 8 ORDER groups; groups 2 and 4 have OBX split by NTE and
// Z segments, group 3 has adjacent OBX, the others none.
var ordersVXU8 = strings.Join([]string{
	"MSH|^~\\&|A|B|C|D|20240425||VXU^V04^VXU_V04|1|P|2.5.1",
	"PID|1||5014335^^^SJPEDS^MR||JORDAN^ZOE",
	"ORC|RE||1", "RXA|0|1|20221016||08^HepB^CVX",
	"ORC|RE||2", "RXA|0|1|20221218||20^DTaP^CVX", "RXR|C28161", "OBX|1|CE|a", "NTE|1|x", "OBX|2|CE|b", "OBX|3|CE|c", "ZOB|1", "OBX|4|CE|d",
	"ORC|RE||3", "RXA|0|1|20221218||10^IPV^CVX", "RXR|C28161", "OBX|1|CE|e", "OBX|2|CE|f", "NTE|1|y",
	"ORC|RE||4", "RXA|0|1|20221218||49^Hib^CVX", "OBX|1|CE|g", "NTE|1|z", "OBX|2|CE|h",
	"ORC|RE||5", "RXA|0|1|20221218||133^PCV13^CVX",
	"ORC|RE||6", "RXA|0|1|20221218||116^Rota^CVX", "OBX|1|CE|i",
	"ORC|RE||7", "RXA|0|1|20240211||08^HepB^CVX",
	"ORC|RE||8", "RXA|0|1|20240425||83^HepA^CVX", "RXR|C28161", "OBX|1|CE|j", "OBX|2|CE|k",
}, "\r") + "\r"

// ordersRef is the straightforward ORDER split (one append per OBX) that
// computeOrders must agree with.
func ordersRef(m *Message) []Order {
	segs := m.Segments()
	var out []Order
	orc, start := -1, -1
	var cur Order
	closeGroup := func(end int) {
		if start >= 0 {
			cur.All = segs[start:end:end]
			out = append(out, cur)
		}
		start, cur = -1, Order{}
	}
	for i, s := range segs {
		switch s.Name() {
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
			if _, known := segmentNames[s.Name()]; known && s.Name()[0] != 'Z' {
				closeGroup(i)
				orc = -1
			}
		}
	}
	closeGroup(len(segs))
	return out
}

// sameOrders reports whether two splits hold the same segments (the same
// segment views, compared by identity), whatever their slices' capacities.
func sameOrders(a, b []Order) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ORC != y.ORC || x.RXA != y.RXA || x.RXR != y.RXR ||
			(x.OBX == nil) != (y.OBX == nil) || !slices.Equal(x.OBX, y.OBX) || !slices.Equal(x.All, y.All) {
			return false
		}
	}
	return true
}

func TestOrdersMatchReference(t *testing.T) {
	inputs := []string{ordersVXU8}
	for _, f := range []string{"vxu_v04.hl7", "rsp_k11_z32.hl7", "rsp_k11_z42.hl7", "vxu_231.hl7", "qbp_q11.hl7", "ack.hl7"} {
		inputs = append(inputs, string(readTestdata(t, f)))
	}
	const h = "MSH|^~\\&|A\r"
	for _, body := range []string{
		"ORC|RE\rRXA|0\rOBX|1\rNTE|1\rOBX|2\rORC|RE\rRXA|0\rOBX|1\rOBX|2\rNTE|1\rOBX|3",
		"RXA|0\rOBX|1\rPID|1\rOBX|2\rRXA|0\rNTE|1\rOBX|1\rZZZ|1\rOBX|2\rRXA|0\rOBX|1",
		"OBX|1\rRXA|0\rOBX|1\rXYZ|1\rOBX|2\rRXR|a\rOBX|3",
		"PID|1\rPD1|",
	} {
		inputs = append(inputs, h+body)
	}
	for i, in := range inputs {
		m, err := Parse([]byte(in))
		if err != nil {
			continue
		}
		if got, want := m.Orders(), ordersRef(m); !sameOrders(got, want) {
			t.Errorf("input %d: orders %q, want %q", i, orderShape(got), orderShape(want))
		}
	}
}

func TestOrdersSplitOBX(t *testing.T) {
	m := mustParse(t, ordersVXU8)
	orders := m.Orders()
	if len(orders) != 8 {
		t.Fatalf("%d orders", len(orders))
	}
	var got []string
	for _, o := range orders {
		var ids []string
		for _, s := range o.OBX {
			ids = append(ids, s.Field(3).String())
		}
		got = append(got, strings.Join(ids, ""))
	}
	if g := strings.Join(got, ","); g != ",abcd,ef,gh,,i,,jk" {
		t.Errorf("OBX-3 per order = %q", g)
	}
	// Shared slices are capped: appending to one never writes into another.
	o := orders[1].OBX
	_ = append(o, Segment{})
	if orders[2].OBX[0].Field(3).String() != "e" || orders[3].OBX[0].Field(3).String() != "g" {
		t.Error("append to an OBX slice overwrote another order's")
	}
	if cap(orders[1].OBX) != len(orders[1].OBX) || cap(orders[2].OBX) != len(orders[2].OBX) {
		t.Error("OBX slices not capped at their length")
	}
}

func TestOrdersRemembered(t *testing.T) {
	m := mustParse(t, ordersVXU8)
	a, b := m.Orders(), m.Orders()
	if &a[0] != &b[0] {
		t.Error("Orders computed twice")
	}
	if n := testing.AllocsPerRun(100, func() { m.Orders() }); n != 0 {
		t.Errorf("Orders allocates %v times once computed", n)
	}
	if n := testing.AllocsPerRun(100, func() { m.computeOrders() }); n != 2 {
		t.Errorf("computing Orders with split OBX allocates %v times, want 2", n)
	}
	v := mustParse(t, string(readTestdata(t, "vxu_v04.hl7")))
	if n := testing.AllocsPerRun(100, func() { v.computeOrders() }); n != 1 {
		t.Errorf("computing Orders allocates %v times, want 1: adjacent OBX are views", n)
	}
	if m := mustParse(t, "MSH|^~\\&|A\rPID|1"); m.Orders() != nil || m.Orders() != nil {
		t.Error("no orders: want nil")
	}
}

// TestOrdersConcurrent has readers race for the first call; run with -race.
func TestOrdersConcurrent(t *testing.T) {
	for range 20 {
		m := mustParse(t, ordersVXU8)
		want := ordersRef(m)
		var wg sync.WaitGroup
		res := make([][]Order, 8)
		for g := range res {
			wg.Go(func() { res[g] = m.Orders() })
		}
		wg.Wait()
		for g := range res {
			if !sameOrders(res[g], want) || &res[g][0] != &res[0][0] {
				t.Fatalf("reader %d saw other orders", g)
			}
		}
	}
}

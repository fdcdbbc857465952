package hl7v2

import (
	"strings"
	"testing"
)

// orderShape renders orders as "ORC RXA RXR OBX OBX | ..." listing All,
// with "-" for groups lacking an ORC.
func orderShape(orders []Order) string {
	var groups []string
	for _, o := range orders {
		var names []string
		if o.ORC.IsZero() {
			names = append(names, "-")
		}
		for _, s := range o.All {
			names = append(names, s.Name())
		}
		groups = append(groups, strings.Join(names, " "))
	}
	return strings.Join(groups, " | ")
}

func TestOrdersTestdata(t *testing.T) {
	for _, tc := range []struct{ file, shape string }{
		{"vxu_v04.hl7", "ORC RXA RXR OBX OBX OBX OBX NTE ZVX | ORC RXA"},
		{"rsp_k11_z32.hl7", "ORC RXA | ORC RXA RXR OBX ZRX | - RXA RXR"},
		{"rsp_k11_z42.hl7", "ORC RXA OBX OBX OBX OBX | ORC RXA OBX OBX OBX OBX NTE"},
		{"vxu_231.hl7", "- RXA | - RXA"},
		{"qbp_q11.hl7", ""},
		{"ack.hl7", ""},
	} {
		m, err := Parse(readTestdata(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := orderShape(m.Orders()); got != tc.shape {
			t.Errorf("%s: orders %q, want %q", tc.file, got, tc.shape)
		}
	}
}

func TestOrdersFields(t *testing.T) {
	m, err := Parse(readTestdata(t, "vxu_v04.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	o := m.Orders()
	if len(o) != 2 {
		t.Fatalf("%d orders", len(o))
	}
	first := o[0]
	if got := first.ORC.Field(3).Rep(1).Component(1).String(); got != "IZ-783-1" {
		t.Errorf("ORC-3.1 = %q", got)
	}
	if got := first.RXA.Field(5).Rep(1).Component(1).String(); got != "08" {
		t.Errorf("RXA-5.1 = %q", got)
	}
	if got := first.RXR.Field(2).Rep(1).Component(1).String(); got != "RT" {
		t.Errorf("RXR-2.1 = %q", got)
	}
	if len(first.OBX) != 4 || first.OBX[3].Field(1).String() != "4" {
		t.Errorf("OBX = %d", len(first.OBX))
	}
	// Paths resolve against a group: OBX[*] are this order's OBX only.
	p, _ := ParsePath("OBX[*]-3.1")
	var codes []string
	for _, v := range first.All.Values(p) {
		codes = append(codes, v.String())
	}
	if got := strings.Join(codes, " "); got != "64994-7 30956-7 29768-9 29769-7" {
		t.Errorf("OBX[*]-3.1 in order 1 = %q", got)
	}
	second := o[1]
	if !second.RXR.IsZero() || len(second.OBX) != 0 || second.All.Value(Path{Segment: "RXA", Field: 20}).String() != "NA" {
		t.Errorf("second order: %q", orderShape(o[1:]))
	}
	if v := second.All.Value(Path{Segment: "OBX", Field: 5}); !v.IsEmpty() {
		t.Error("second order sees the first order's OBX")
	}
}

func TestOrdersShapes(t *testing.T) {
	const h = "MSH|^~\\&|A\r"
	for _, tc := range []struct{ name, body, shape string }{
		{"patient segments outside", "PID|1\rPD1|\rNK1|1\rOBX|1\rORC|RE\rRXA|0", "ORC RXA"},
		{"RXA without ORC", "PID|1\rRXA|0\rRXR|x\rOBX|1\rRXA|0", "- RXA RXR OBX | - RXA"},
		{"ORC used once", "ORC|RE\rRXA|0\rRXA|0", "ORC RXA | - RXA"},
		{"orphan ORC skipped", "ORC|RE|1\rORC|RE|2\rRXA|0", "ORC RXA"},
		{"orphan ORC at end", "ORC|RE\rRXA|0\rORC|RE", "ORC RXA"},
		{"TQ1 between ORC and RXA", "ORC|RE\rTQ1|1\rRXA|0\rRXR|x", "ORC TQ1 RXA RXR"},
		{"Z segments anywhere", "ZPI|1\rORC|RE\rZOR|1\rRXA|0\rZRA|1\rRXR|x\rZRR|1\rOBX|1\rNTE|1\rZOB|1", "ORC ZOR RXA ZRA RXR ZRR OBX NTE ZOB"},
		{"second RXR kept in All only", "ORC|RE\rRXA|0\rRXR|a\rRXR|b", "ORC RXA RXR RXR"},
		{"RSP two patients", "MSA|AA\rQAK|1|OK\rQPD|Z34\rPID|1\rORC|RE\rRXA|0\rPID|2\rORC|RE\rRXA|0\rOBX|1", "ORC RXA | ORC RXA OBX"},
		{"ORC then PID orphan", "ORC|RE\rPID|1\rRXA|0", "- RXA"},
		{"unknown segment stays", "ORC|RE\rRXA|0\rXYZ|1\rOBX|1", "ORC RXA XYZ OBX"},
		{"no orders", "PID|1\rPD1|", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, h+tc.body)
			orders := m.Orders()
			if got := orderShape(orders); got != tc.shape {
				t.Errorf("orders %q, want %q", got, tc.shape)
			}
			for _, o := range orders {
				if o.RXA.IsZero() || o.RXA.Name() != "RXA" {
					t.Error("order without RXA")
				}
				if !o.ORC.IsZero() && o.All[0].Name() != "ORC" {
					t.Error("ORC not first in All")
				}
				for _, obx := range o.OBX {
					if obx.Name() != "OBX" {
						t.Error("non-OBX in OBX")
					}
				}
			}
		})
	}
	m := mustParse(t, h+"ORC|RE\rRXA|0\rRXR|a\rRXR|b")
	if got := m.Orders()[0].RXR.Field(1).String(); got != "a" {
		t.Errorf("RXR = %q, want the first", got)
	}
}

// TestOrdersV28PRT: v2.8 puts PRT (participation) between ORC and RXA and
// after OBX; they stay in the ORDER, whose ORC is kept (ms-fhir-converter
// 001 shape: a patient-level OBX/PRT/NTE before the first ORC).
func TestOrdersV28PRT(t *testing.T) {
	msg := "MSH|^~\\&|A|B|C|D|20210818||VXU^V04^VXU_V04|1|P|2.8\r" +
		"PID|1||P1^^^X^MR||DOE^JANE||20200101|F\r" +
		"OBX|1|NM|8867-4^heartrate^LN||60\r" +
		"PRT|1|AD||AD^Admitting Provider^HL70912\r" +
		"NTE|1||note\r" +
		"ORC|RE|4422|13696|||||||||654^Thomas\r" +
		"PRT||AD||AD||PPT\r" +
		"TQ1|1\r" +
		"RXA|0|1|20210818||49281021588^TENIVAC^NDC|0.5\r" +
		"PRT||AD||AP\r" +
		"RXR|C28161^Intramuscular^NCIT\r" +
		"OBX|1|CE|30963-3^Vaccine Funding Source^LN|1|PHC70\r" +
		"PRT||CO||CP\r" +
		"NTE|1||after\r" +
		"ORC|RE||13697\r" +
		"RXA|0|1|20210818||08^HepB^CVX\r"
	m, err := Parse([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := "ORC PRT TQ1 RXA PRT RXR OBX PRT NTE | ORC RXA"
	if got := orderShape(m.Orders()); got != want {
		t.Fatalf("orders %q, want %q", got, want)
	}
	o := m.Orders()[0]
	if got := o.ORC.Field(3).Rep(1).Component(1).String(); got != "13696" {
		t.Errorf("ORC-3 = %q: the ORC before PRT was lost", got)
	}
	if got := o.ORC.Field(12).Rep(1).Component(1).String(); got != "654" {
		t.Errorf("ORC-12 = %q", got)
	}
	if len(o.OBX) != 1 || o.RXR.IsZero() {
		t.Errorf("OBX %d, RXR zero %v", len(o.OBX), o.RXR.IsZero())
	}
	for _, name := range OrderSegments {
		if !InOrder(name) {
			t.Errorf("InOrder(%s) false", name)
		}
	}
	if InOrder("PID") || !InOrder("ZVX") {
		t.Error("InOrder: PID in, or Z-segment out")
	}
}

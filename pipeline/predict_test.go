package pipeline

import (
	"strings"
	"testing"

	"iisbridge/hl7v2"
)

// TestReadV2Keys: the allocation-free reading of an ORDER group's key
// values agrees with a plain string reading (the earlier code) on the
// forms that matter: none-values, the patient's own id, spaces, case,
// escapes, empty and null fields.
func TestReadV2Keys(t *testing.T) {
	ref := func(o hl7v2.Order, pid hl7v2.Segment) (fill string, deleted, primary, ok bool) {
		spaced := false
		if !o.ORC.IsZero() {
			v := o.ORC.Field(3).Rep(1).Component(1)
			f := value(v)
			spaced = !v.IsEmpty() && !v.IsNull() && v.String() != f
			p := value(pid.Field(3).Rep(1).Component(1))
			if !strings.EqualFold(f, "0") && !strings.EqualFold(f, "9999") && !strings.EqualFold(f, p) {
				fill = f
			}
		}
		a := value(o.RXA.Field(21).Rep(1).Component(1))
		s := value(o.RXA.Field(9).Rep(1).Component(1))
		deleted, primary = a == "D", s == "00"
		ok = !spaced && (a == "D" || !strings.EqualFold(a, "D")) && (s == "00" || !strings.EqualFold(s, "00"))
		return
	}
	orc3 := []string{"", "D1", " D1 ", "0", "9999", "mr7", "MR7", `A\T\B`, `""`, "NC-1^EHR"}
	rxa21 := []string{"", "A", "D", "d", " D", `""`}
	rxa9 := []string{"", "00", "01", " 00", "00^New^NIP001", `""`}
	// Every outcome must occur, or the comparison proves little.
	var seen struct{ fill, deleted, primary, refused bool }
	for _, c := range orc3 {
		for _, a := range rxa21 {
			for _, s := range rxa9 {
				data := "MSH|^~\\&|EHR|CLINIC|IIS|ST|20240101||VXU^V04|1|P|2.5.1\r" +
					"PID|1||MR7^^^CLINIC^MR||DOE^JO\r" +
					"ORC|RE||" + c + "\r" +
					"RXA|0|1|20240101||08^HepB^CVX|0.5|||" + s + "||||||||||||" + a + "\r"
				msg, err := hl7v2.Parse([]byte(data))
				if err != nil {
					t.Fatal(err)
				}
				segs := msg.Segments()
				msh, _ := segs.Find("MSH", 1)
				pid, _ := segs.Find("PID", 1)
				o := msg.Orders()[0]
				mk := readMsgKeys(msh, pid, "")
				got := readV2Keys(o, &mk, make([]byte, 0, 8))
				fill, del, prim, ok := ref(o, pid)
				if got.fill != fill || got.deleted != del || got.primary != prim || got.ok != ok {
					t.Errorf("ORC-3 %q RXA-21 %q RXA-9 %q: got fill %q deleted %v primary %v ok %v, want %q %v %v %v",
						c, a, s, got.fill, got.deleted, got.primary, got.ok, fill, del, prim, ok)
				}
				seen.fill = seen.fill || fill != ""
				seen.deleted = seen.deleted || del
				seen.primary = seen.primary || prim
				seen.refused = seen.refused || !ok
			}
		}
	}
	if !seen.fill || !seen.deleted || !seen.primary || !seen.refused {
		t.Fatalf("the cases miss an outcome: %+v", seen)
	}
}

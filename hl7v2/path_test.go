package hl7v2

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Path
		str  string // canonical String, when it differs from in
	}{
		{"PID-5", Path{Segment: "PID", Field: 5}, ""},
		{"PID-5.1", Path{Segment: "PID", Field: 5, Component: 1}, ""},
		{"PID-5.1.1", Path{Segment: "PID", Field: 5, Component: 1, Sub: 1}, ""},
		{"PID-3[2].1", Path{Segment: "PID", Field: 3, Rep: 2, Component: 1}, ""},
		{"PID-3[*]", Path{Segment: "PID", Field: 3, Rep: -1}, ""},
		{"RXA-5.1", Path{Segment: "RXA", Field: 5, Component: 1}, ""},
		{"OBX[2]-5", Path{Segment: "OBX", SegOcc: 2, Field: 5}, ""},
		{"OBX[*]-5.1", Path{Segment: "OBX", SegOcc: -1, Field: 5, Component: 1}, ""},
		{"OBX[*]-5[*].1.2", Path{Segment: "OBX", SegOcc: -1, Field: 5, Rep: -1, Component: 1, Sub: 2}, ""},
		{"MSH-1", Path{Segment: "MSH", Field: 1}, ""},
		{"NK1-2", Path{Segment: "NK1", Field: 2}, ""},
		{"ZPI-12", Path{Segment: "ZPI", Field: 12}, ""},
		{"pid-5", Path{Segment: "PID", Field: 5}, "PID-5"},
		{"PID[1]-3[1]", Path{Segment: "PID", SegOcc: 1, Field: 3, Rep: 1}, ""},
		{"PID-007", Path{Segment: "PID", Field: 7}, "PID-7"},
	} {
		p, err := ParsePath(tc.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tc.in, err)
			continue
		}
		if p != tc.want {
			t.Errorf("ParsePath(%q) = %+v, want %+v", tc.in, p, tc.want)
		}
		want := tc.str
		if want == "" {
			want = tc.in
		}
		if s := p.String(); s != want {
			t.Errorf("String(%+v) = %q, want %q", p, s, want)
		}
		if back, err := ParsePath(p.String()); err != nil || back != p {
			t.Errorf("round trip of %q: %+v, %v", tc.in, back, err)
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "3-character segment name expected at end"},
		{"PI", "3-character segment name expected at end"},
		{"P-D-5", "segment name (a letter, then 2 letters or digits) expected at character 1"},
		{"1AB-5", "segment name (a letter, then 2 letters or digits) expected at character 1"},
		{"PID", `"-" and a field number expected at end`},
		{"PID5", `"-" and a field number expected at character 4`},
		{"PIDX-5", `"-" and a field number expected at character 4`},
		{"PID-", "field number expected at end"},
		{"PID-x", "field number expected at character 5"},
		{"PID-0", "field number must be 1 or more at character 5"},
		{"PID-5.", "component number expected at end"},
		{"PID-5.0", "component number must be 1 or more at character 7"},
		{"PID-5.1.", "subcomponent number expected at end"},
		{"PID-5.1.1.1", `unexpected '.' at character 10`},
		{"PID-3[", "index (a number or *) expected at end"},
		{"PID-3[]", "index (a number or *) expected at character 7"},
		{"PID-3[2", `"]" expected at end`},
		{"PID-3[*x]", `"]" expected at character 8`},
		{"PID-3[0]", "index (a number or *) must be 1 or more at character 7"},
		{"OBX[-1]-5", "index (a number or *) expected at character 5"},
		{"PID-5 ", `unexpected ' ' at character 6`},
		{"PID-99999999999999999999", "field number too large at character 5"},
		{"PID-100000", "field number too large at character 5"},
	} {
		_, err := ParsePath(tc.in)
		if err == nil {
			t.Errorf("ParsePath(%q) succeeded, want error %q", tc.in, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePath(%q) error %q, want %q", tc.in, err, tc.want)
		}
	}
}

func TestPathSubWithoutComponent(t *testing.T) {
	p := Path{Segment: "PID", Field: 3, Sub: 2}
	if s := p.String(); s != "PID-3.1.2" {
		t.Errorf("String = %q", s)
	}
	m := mustParse(t, "MSH|^~\\&|A\rPID|1||a&b^c")
	if got := m.Segments().Value(p).String(); got != "b" {
		t.Errorf("Value = %q, want b", got)
	}
}

func TestFind(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A\rOBX|1\rNTE|1\rOBX|2\rZLONGNAME|z\r")
	segs := m.Segments()
	for _, tc := range []struct {
		name string
		n    int
		ok   bool
		id   string
	}{
		{"OBX", 1, true, "1"},
		{"OBX", 0, true, "1"},
		{"OBX", 2, true, "2"},
		{"OBX", 3, false, ""},
		{"OBX", -1, false, ""},
		{"PID", 1, false, ""},
		{"ZLONGNAME", 1, true, "z"},
		{"ZLONGNAMX", 1, false, ""},
		{"", 1, false, ""},
	} {
		s, ok := segs.Find(tc.name, tc.n)
		if ok != tc.ok || s.Field(1).String() != tc.id || s.IsZero() == ok {
			t.Errorf("Find(%s, %d) = %q, %v", tc.name, tc.n, s.Field(1).String(), ok)
		}
	}
}

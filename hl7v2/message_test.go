package hl7v2

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, data string) *Message {
	t.Helper()
	m, err := Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func val(t testing.TB, s Segments, path string) string {
	t.Helper()
	p, err := ParsePath(path)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", path, err)
	}
	return s.Value(p).String()
}

func TestParseVXU(t *testing.T) {
	m, err := Parse(readTestdata(t, "vxu_v04.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	if w := m.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	var names []string
	for _, s := range m.Segments() {
		names = append(names, s.Name())
	}
	want := "MSH SFT PID PD1 NK1 ORC RXA RXR OBX OBX OBX OBX NTE ZVX ORC RXA"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("segments = %s\nwant %s", got, want)
	}
	if c, tr, st := m.Type(); c != "VXU" || tr != "V04" || st != "VXU_V04" {
		t.Errorf("Type = %s %s %s", c, tr, st)
	}
	if id := m.ControlID(); id != "MSG20230105-0001" {
		t.Errorf("ControlID = %q", id)
	}
	if m.Delimiters() != DefaultDelimiters {
		t.Errorf("Delimiters = %+v", m.Delimiters())
	}
	segs := m.Segments()
	for _, tc := range []struct{ path, want string }{
		{"MSH-1", "|"},
		{"MSH-2", `^~\&`},
		{"MSH-3", "MYEHR2.5"},
		{"MSH-9", "VXU^V04^VXU_V04"},
		{"MSH-9.2", "V04"},
		{"MSH-21.1", "Z22"},
		{"PID-3", "PA123456^^^MYEHR^MR"},
		{"PID-3[2].1", "998877"},
		{"PID-3[2].5", "SR"},
		{"PID-5.1", "Quillfeather"},
		{"PID-5.1.1", "Quillfeather"},
		{"PID-7", "20221104"},
		{"PID-13[2].4", "marigold.parent@example.org"},
		{"RXA-5.1", "08"},
		{"OBX[2]-5.1", "107"},
		{"OBX[4]-5", "20230105"},
		{"OBX[5]-5", ""},
		{"NTE-3", "Parent asked about fever & fussiness; handout given\nsee chart"},
		{"PID-99", ""},
		{"PV1-2", ""},
	} {
		if got := val(t, segs, tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestValuesExpand(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A\rPID|1||a^^^X^MR~b^^^Y^SR~c\rOBX|1||x|\rOBX|2||y|\rOBX|3||\r")
	strs := func(vs []Value) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.String())
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"PID-3[*].1", []string{"a", "b", "c"}},
		{"PID-3[*]", []string{"a^^^X^MR", "b^^^Y^SR", "c"}},
		{"PID-3.1", []string{"a"}},
		{"PID-4[*]", []string{}},
		{"OBX[*]-3", []string{"x", "y", ""}},
		{"OBX[2]-3", []string{"y"}},
		{"OBX[4]-3", []string{}},
		{"NK1[*]-2", []string{}},
	} {
		p, err := ParsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strs(m.Segments().Values(p)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Values(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// Is agrees with Name() == name, for packed and longer names alike.
func TestSegmentIs(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A\rPID|1\rZX|2\rZLONG|3\r")
	names := []string{"MSH", "PID", "ZX", "ZLONG", "", "P", "PI", "PIDX", "pid", "ZXX"}
	for _, seg := range append(m.Segments(), Segment{}) {
		for _, name := range names {
			if got, want := seg.Is(name), !seg.IsZero() && seg.Name() == name; got != want {
				t.Errorf("%q.Is(%q) = %v, want %v", seg.Name(), name, got, want)
			}
		}
	}
}

// FieldRep gives what Field(n).Rep(rep) gives, for segments with and
// without repetitions, headers, and fields past the last.
func TestFieldRep(t *testing.T) {
	msgs := []string{
		"MSH|^~\\&|A|B||\rPID|1||123^^^X~456^^^Y||DOE^JOHN||\rZX|a||c^d|\"\"|\rOBX|1|CE|x^y^z||~|\r",
		string(readTestdata(t, "vxu_v04.hl7")),
	}
	for _, data := range msgs {
		m := mustParse(t, data)
		for _, seg := range append(m.Segments(), Segment{}) {
			for n := -1; n <= seg.NumFields()+2; n++ {
				for rep := 0; rep <= 3; rep++ {
					got, want := seg.FieldRep(n, rep), seg.Field(n).Rep(rep)
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s.FieldRep(%d, %d) = %#v, want %#v", seg.Name(), n, rep, got, want)
					}
				}
			}
		}
	}
}

package hl7v2

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// describe lists what a reader can learn of m through its accessors:
// the error, warnings, type and every value at every level, with the
// segments' fields read first as the last field (+1), then by FieldRep,
// then in order: a lazily parsed segment is split by whichever read
// comes first.
func describe(m *Message, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	code, trigger, structure := m.Type()
	fmt.Fprintf(&b, "%q %s^%s^%s %q %v\n", m.Warnings(), code, trigger, structure, m.ControlID(), m.Delimiters())
	segs := m.Segments()
	for i := len(segs) - 1; i >= 0; i-- { // against the order, as a reader jumps to PID or RXA
		s := segs[i]
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "%s last+1 %q\n", s.Name(), s.Field(40).Raw())
		case 1:
			fmt.Fprintf(&b, "%s rep %q %q\n", s.Name(), s.FieldRep(3, 1).Raw(), s.FieldRep(1, 2).Raw())
		}
	}
	for _, s := range segs {
		fmt.Fprintf(&b, "%s %d %q %v\n", s.Name(), s.NumFields(), s.Raw(), s.Is(s.Name()))
		for i := 1; i <= s.NumFields()+1; i++ {
			f := s.Field(i)
			fmt.Fprintf(&b, " %d %q %d %q\n", i, f.Raw(), f.NumReps(), f.String())
			for r := 1; r <= f.NumReps()+1; r++ {
				v := f.Rep(r)
				fmt.Fprintf(&b, "  %d %q %q %v %v %q\n", r, v.Raw(), v.String(), v.IsEmpty(), v.IsNull(), s.FieldRep(i, r).Raw())
				for c := 1; c <= v.NumComponents()+1; c++ {
					cv := v.Component(c)
					fmt.Fprintf(&b, "   %d %q", c, cv.String())
					for k := 1; k <= cv.NumSubs()+1; k++ {
						fmt.Fprintf(&b, " %q", cv.Sub(k).String())
					}
					b.WriteByte('\n')
				}
			}
		}
	}
	for _, o := range m.Orders() {
		fmt.Fprintf(&b, "order %q %q %q %d %d\n", o.ORC.Raw(), o.RXA.Raw(), o.RXR.Raw(), len(o.OBX), len(o.All))
	}
	return b.String()
}

// checkLazy fails unless a message parsed by ParseLazy (with lazy, a
// Parser reused message after message) reads as Parse's in every way.
func checkLazy(t *testing.T, lazy *Parser, data []byte) {
	t.Helper()
	want := describe(Parse(data))
	if got := describe(lazy.ParseLazy(data)); got != want {
		t.Fatalf("lazily parsed %q reads\n%s\nparsed whole\n%s", data, got, want)
	}
}

func TestParseLazyIsParse(t *testing.T) {
	var lazy Parser
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	var n int
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range splitMessages(b) {
			checkLazy(t, &lazy, raw)
			n++
		}
	}
	for _, s := range lazyCases {
		checkLazy(t, &lazy, []byte(s))
		n++
	}
	t.Logf("%d messages", n)
}

// lazyCases are messages whose parse turns on the field separators: a
// header without fields, MSH-2 holding the repetition separator and
// none after, names found by the first separator, MLLP end bytes,
// lines of other things.
var lazyCases = []string{
	"MSH|^~\\&|A\rPID|1||\\X41\\\\.br\\\\T\\",
	"MSH|^~&|A\nOBX|1",
	"MSH*!#$%@*A\rZZZ*1*a!b%c#d",
	"\xef\xbb\xbfMSH|^~\\&#|\r\n\r\nRXA|0|\\P\\",
	"MSH|^~\\&|A\rWHOOPS||x\rfree text\r",
	"MSH|^~\\&\rPID\rPID|\r|\rPIDX\rPID1|a\rMSH\r",
	"MSH|^~\\&|A~B|C\rPID|1|a~b|c^d&e\x1c\rRXA|0|1\x1c",
	"MSH|^~\\&\r",
	"MSH|^~\\&|\rBHS|^~\\&|x~y\rFHS\rZ12|~\r  OBX|1\r\x0bORC|RE\r",
	"MSH|^~\\&|" + strings.Repeat("x|", 200) + "\rNTE|" + strings.Repeat("y~", 100),
}

func FuzzParseLazy(f *testing.F) {
	for _, s := range lazyCases {
		f.Add([]byte(s))
	}
	var lazy Parser
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLazy(t, &lazy, data)
	})
}

// ParseLazy's Message is Parse's, fields not found yet aside.
func TestParseLazyMessage(t *testing.T) {
	var p Parser
	data := []byte("MSH|^~\\&|A\rPID|1||x~y\r")
	m, err := p.ParseLazy(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range m.Segments() {
		if !s.impl.lazy || len(s.impl.seps) != 0 {
			t.Fatalf("%s: fields found before a read", s.Name())
		}
	}
	pid := m.Segments()[1]
	if got := pid.Field(3).Rep(2).String(); got != "y" || pid.impl.lazy {
		t.Fatalf("PID-3[2] %q, lazy %v", got, pid.impl.lazy)
	}
	if m.Segments()[0].impl.lazy == false {
		t.Fatal("MSH split by a read of PID")
	}
	full, _ := Parse(data)
	m.Segments()[0].NumFields()
	for i, s := range m.Segments() {
		ls, fs := *s.impl.segData, *full.Segments()[i].impl.segData
		ls.s0, ls.s1, fs.s0, fs.s1 = 0, 0, 0, 0
		if !reflect.DeepEqual(ls, fs) {
			t.Fatalf("%s split lazily %+v, parsed %+v", s.Name(), ls, fs)
		}
	}
}

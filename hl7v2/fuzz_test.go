package hl7v2

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.hl7"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "PID-3[*].4.1")
	}
	for _, s := range []string{
		"MSH|^~\\&|A\rPID|1||\\X41\\\\.br\\\\T\\",
		"MSH|^~&|A\nOBX|1",
		"MSH*!#$%@*A\rZZZ*1*a!b%c#d",
		"\xef\xbb\xbfMSH|^~\\&#|\r\n\r\nRXA|0|\\P\\",
		"MSH|^~\\&|A\rWHOOPS||x\rfree text\r",
	} {
		f.Add([]byte(s), "OBX[*]-5[2].1.1")
	}
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		if p, err := ParsePath(path); err == nil {
			if back, err := ParsePath(p.String()); err != nil || back != p {
				t.Fatalf("path %q: String %q does not round-trip: %+v %v", path, p.String(), back, err)
			}
		}
		m, err := Parse(data)
		if err != nil {
			return
		}
		walk(m)
		m.Warnings()
		orders := m.Orders()
		for _, o := range orders {
			if o.RXA.Name() != "RXA" {
				t.Fatal("order without RXA")
			}
		}
		if !sameOrders(orders, ordersRef(m)) {
			t.Fatalf("orders %q, want %q", orderShape(orders), orderShape(ordersRef(m)))
		}
		if n := countSegments(m, "RXA"); n != len(orders) {
			t.Fatalf("%d RXA but %d orders", n, len(orders))
		}
		checkSplit(t, m)
		if p, err := ParsePath(path); err == nil {
			segs := m.Segments()
			_ = segs.Value(p).String()
			for _, v := range segs.Values(p) {
				_ = v.String()
				ParseCX(v)
				ParseXPN(v)
				ParseXCN(v)
			}
		}
	})
}

func FuzzParseTS(f *testing.F) {
	for _, s := range []string{"2023", "20230105143012.113-0700", "20180531144917033", "20111301", "+0", "2023010514-0007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTS(s)
		if ref, rerr := parseTSRef(s); sameTS(ts, err, ref, rerr) != nil {
			t.Fatalf("ParseTS(%q) differs from the reference: %v", s, sameTS(ts, err, ref, rerr))
		}
		if err != nil {
			return
		}
		if ts.Precision < PrecYear || ts.Precision > PrecFraction {
			t.Fatalf("ParseTS(%q): precision %d", s, ts.Precision)
		}
		date := ts.FHIRDate()
		if _, err := time.Parse("2006-01-02"[:len(date)], date); err != nil || len(date) != 4 && len(date) != 7 && len(date) != 10 {
			t.Fatalf("ParseTS(%q).FHIRDate() = %q", s, date)
		}
		dt := ts.FHIRDateTime(nil)
		if ts.Precision >= PrecHour {
			back, err := time.Parse(time.RFC3339Nano, dt)
			if err != nil || !back.Equal(ts.Time) {
				t.Fatalf("ParseTS(%q).FHIRDateTime() = %q (%v), instant %v", s, dt, err, ts.Time)
			}
		} else if dt != date {
			t.Fatalf("ParseTS(%q): FHIRDateTime %q without time differs from FHIRDate %q", s, dt, date)
		}
		ParseNM(s)
	})
}

// checkSplit verifies that the pieces of every level join back into their
// parent's raw bytes, and that String always returns UTF-8.
func checkSplit(t *testing.T, m *Message) {
	d := m.Delimiters()
	for _, s := range m.Segments() {
		raw := s.Raw()
		if bytes.ContainsAny(raw, "\r\n") {
			t.Fatalf("segment %q holds a line break", s.Name())
		}
		parts := [][]byte{[]byte(s.Name())}
		first := 1
		if s.impl.hdr {
			first = 2
		}
		for i := first; i <= s.NumFields(); i++ {
			f := s.Field(i)
			parts = append(parts, f.Raw())
			if f.impl.d.literal() {
				continue
			}
			// Rep reads a field of a segment without repetition
			// separators whole, without nth: the same pieces.
			for r := 0; r <= f.NumReps()+1; r++ {
				if got, want := f.Rep(r).Raw(), nthRef(f.Raw(), d.Repetition, r); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
					t.Fatalf("%s-%d: Rep(%d) is %q, want %q", s.Name(), i, r, got, want)
				}
			}
			var reps [][]byte
			for r := 1; r <= f.NumReps(); r++ {
				v := f.Rep(r)
				reps = append(reps, v.Raw())
				var comps [][]byte
				for c := 1; c <= v.NumComponents(); c++ {
					cv := v.Component(c)
					comps = append(comps, cv.Raw())
					var subs [][]byte
					for k := 1; k <= cv.NumSubs(); k++ {
						sv := cv.Sub(k)
						subs = append(subs, sv.Raw())
						if !utf8.ValidString(sv.String()) {
							t.Fatalf("%s-%d: String is not UTF-8", s.Name(), i)
						}
					}
					if got := bytes.Join(subs, []byte{d.Subcomponent}); !bytes.Equal(got, cv.Raw()) {
						t.Fatalf("%s-%d: subcomponents join to %q, not %q", s.Name(), i, got, cv.Raw())
					}
				}
				if got := bytes.Join(comps, []byte{d.Component}); !bytes.Equal(got, v.Raw()) {
					t.Fatalf("%s-%d: components join to %q, not %q", s.Name(), i, got, v.Raw())
				}
				if !utf8.ValidString(v.String()) {
					t.Fatalf("%s-%d: String is not UTF-8", s.Name(), i)
				}
			}
			if got := bytes.Join(reps, []byte{d.Repetition}); !bytes.Equal(got, f.Raw()) {
				t.Fatalf("%s-%d: repetitions join to %q, not %q", s.Name(), i, got, f.Raw())
			}
		}
		if got := bytes.Join(parts, []byte{d.Field}); !bytes.Equal(got, raw) && s.NumFields() > 0 {
			t.Fatalf("%s: fields join to %q, not %q", s.Name(), got, raw)
		}
	}
}

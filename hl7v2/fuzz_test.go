package hl7v2

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
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
		if n := countSegments(m, "RXA"); n != len(orders) {
			t.Fatalf("%d RXA but %d orders", n, len(orders))
		}
		for _, s := range m.Segments() {
			if bytes.ContainsAny(s.Raw(), "\r\n") {
				t.Fatalf("segment %q holds a line break", s.Name())
			}
			for i := 1; i <= s.NumFields(); i++ {
				if v := s.Field(i).Rep(1); !utf8.ValidString(v.String()) && !v.impl.literal {
					t.Fatalf("%s-%d: String is not UTF-8", s.Name(), i)
				}
			}
		}
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
		if err != nil {
			return
		}
		if ts.Precision < PrecYear || ts.Precision > PrecFraction {
			t.Fatalf("ParseTS(%q): precision %d", s, ts.Precision)
		}
		ts.FHIRDate()
		ts.FHIRDateTime(nil)
		ParseNM(s)
	})
}

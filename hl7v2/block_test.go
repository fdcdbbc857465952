package hl7v2

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseSegmentCounts parses messages of 1 to 80 segments, across every
// block size and past the largest, with each line ending (mixed endings
// make the table outgrow its first guess) and with or without a final
// terminator.
func TestParseSegmentCounts(t *testing.T) {
	for n := 1; n <= 80; n++ {
		for _, mode := range []string{"\r", "\n", "\r\n", "mixed"} {
			for _, final := range []bool{true, false} {
				var b strings.Builder
				b.WriteString("MSH|^~\\&|A")
				for i := 1; i < n; i++ {
					eol := mode
					if mode == "mixed" {
						eol = []string{"\r", "\n"}[i%2]
					}
					fmt.Fprintf(&b, "%sOBX|%d|ST|x^y", eol, i)
				}
				if final {
					b.WriteString("\r")
				}
				m, err := Parse([]byte(b.String()))
				if err != nil {
					t.Fatal(err)
				}
				segs := m.Segments()
				if len(segs) != n || cap(segs) != n {
					t.Fatalf("%d segments %q final %v: len %d cap %d", n, mode, final, len(segs), cap(segs))
				}
				for i, s := range segs[1:] {
					if s.Name() != "OBX" || s.Field(1).String() != fmt.Sprint(i+1) || s.Field(3).Rep(1).Component(2).String() != "y" {
						t.Fatalf("%d segments %q: segment %d is %q", n, mode, i+2, s.Raw())
					}
				}
				if m.ControlID() != "" || segs[0].Field(3).String() != "A" {
					t.Fatalf("%d segments: MSH %q", n, segs[0].Raw())
				}
			}
		}
	}
}

package hl7v2

import (
	"testing"
)

// mapped reports the segments the benchmarks touch: those a mapping reads.
func mapped(s Segment) bool {
	switch s.Name() {
	case "MSH", "PID", "ORC", "RXA", "RXR", "OBX":
		return true
	}
	return false
}

// accessAll reads every field of the mapped segments, as Raw.
func accessAll(m *Message) int {
	n := 0
	for _, s := range m.Segments() {
		if !mapped(s) {
			continue
		}
		for i := 1; i <= s.NumFields(); i++ {
			n += len(s.Field(i).Raw())
		}
	}
	return n
}

// walkAll reads every repetition and component of the mapped segments, as
// Raw, with the indexed accessors.
func walkAll(m *Message) int {
	n := 0
	for _, s := range m.Segments() {
		if !mapped(s) {
			continue
		}
		for i := 1; i <= s.NumFields(); i++ {
			f := s.Field(i)
			for r := 1; r <= f.NumReps(); r++ {
				v := f.Rep(r)
				for c := 1; c <= v.NumComponents(); c++ {
					n += len(v.Component(c).Raw())
				}
			}
		}
	}
	return n
}

// stringAll decodes every field of the mapped segments.
func stringAll(m *Message) int {
	n := 0
	for _, s := range m.Segments() {
		if !mapped(s) {
			continue
		}
		for i := 1; i <= s.NumFields(); i++ {
			n += len(s.Field(i).String())
		}
	}
	return n
}

func TestAccessDoesNotAllocate(t *testing.T) {
	m, err := Parse(readTestdata(t, "vxu_v04.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	segs := m.Segments()
	p, _ := ParsePath("PID-3[2].4")
	allocs := testing.AllocsPerRun(100, func() {
		accessAll(m)
		walkAll(m)
		segs.Value(p).Raw()
		segs.Find("OBX", 3)
		m.Segments()[2].Name()
		m.Segments()[13].Name()
		segs.Value(p).IsEmpty()
		segs.Value(p).IsNull()
	})
	if allocs != 0 {
		t.Errorf("field access allocates %.1f times per walk", allocs)
	}
	// String of a plain value allocates only the result.
	v := segs.Value(Path{Segment: "PID", Field: 5, Component: 1})
	if a := testing.AllocsPerRun(100, func() { _ = v.String() }); a > 1 {
		t.Errorf("String allocates %.1f times", a)
	}
	buf := make([]byte, 0, 64)
	e := segs.Value(Path{Segment: "NTE", Field: 3})
	if a := testing.AllocsPerRun(100, func() { buf = e.AppendDecoded(buf[:0]) }); a != 0 {
		t.Errorf("AppendDecoded into a large enough buffer allocates %.1f times", a)
	}
}

func TestParseAllocations(t *testing.T) {
	data := readTestdata(t, "vxu_v04.hl7")
	// The Message with its segment table and Segments, the field table,
	// and the name of the one Z-segment (standard names are shared).
	if a := testing.AllocsPerRun(100, func() { Parse(data) }); a > 3 {
		t.Errorf("Parse allocates %.1f times, want at most 3", a)
	}
}

func BenchmarkParse(b *testing.B) {
	data := readTestdata(b, "vxu_v04.hl7")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParser is BenchmarkParse into a reused Parser.
func BenchmarkParser(b *testing.B) {
	data := readTestdata(b, "vxu_v04.hl7")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var p Parser
	for b.Loop() {
		if _, err := p.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAndAccessVXU(b *testing.B) {
	data := readTestdata(b, "vxu_v04.hl7")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		accessAll(m)
	}
}

func BenchmarkParseAndStringVXU(b *testing.B) {
	data := readTestdata(b, "vxu_v04.hl7")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		stringAll(m)
	}
}

func BenchmarkParseAndWalkVXU(b *testing.B) {
	data := readTestdata(b, "vxu_v04.hl7")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		walkAll(m)
	}
}

func BenchmarkFieldAccess(b *testing.B) {
	m, err := Parse(readTestdata(b, "vxu_v04.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	segs := m.Segments()
	paths := []Path{}
	for _, s := range []string{"PID-3[2].1", "PID-5.1", "PID-7", "RXA-5.1", "RXA-3", "OBX[3]-5", "ORC-3.1", "MSH-10"} {
		p, err := ParsePath(s)
		if err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, p := range paths {
			n += len(segs.Value(p).Raw())
		}
	}
	if n == 0 {
		b.Fatal("no data")
	}
}

func BenchmarkOrders(b *testing.B) {
	m, err := Parse(readTestdata(b, "rsp_k11_z32.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.computeOrders() // Orders remembers its result: measure the work
	}
}

// BenchmarkOrdersVXU8 splits a VXU of 8 ORDER groups, some with OBX split
// by an NTE.
func BenchmarkOrdersVXU8(b *testing.B) {
	m, err := Parse([]byte(ordersVXU8))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.computeOrders()
	}
}

// BenchmarkParseTS reads the timestamps a VXU carries: dates, MSH-7 with
// an offset, a fraction and a half-hour offset.
func BenchmarkParseTS(b *testing.B) {
	in := []string{"20221016", "20240425102854-0600", "20240211", "20180531144917.033", "20240425102854+0530", "202404"}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range in {
			if _, err := ParseTS(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

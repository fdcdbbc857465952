package hl7v2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dumpMessage writes what a reader of m sees: segments, fields,
// repetitions, warnings and ORDER groups.
func dumpMessage(m *Message) string {
	var b strings.Builder
	for _, s := range m.Segments() {
		fmt.Fprintf(&b, "%s %d:", s.Name(), s.NumFields())
		for f := 1; f <= s.NumFields(); f++ {
			fl := s.Field(f)
			fmt.Fprintf(&b, " %d=%q/%d", f, fl.String(), fl.NumReps())
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "warnings %q\n", m.Warnings())
	for _, o := range m.Orders() {
		fmt.Fprintf(&b, "order %s %s %s %d %d\n", o.ORC.Raw(), o.RXA.Raw(), o.RXR.Raw(), len(o.OBX), len(o.All))
	}
	return b.String()
}

// One Parser fed messages of every size and shape in turn gives each what
// Parse gives: nothing of one message is left in the next.
func TestParserReuse(t *testing.T) {
	var inputs [][]byte
	files, _ := filepath.Glob(filepath.Join("..", "mapping", "testdata", "*.hl7"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	if len(inputs) < 5 {
		t.Fatalf("%d test messages found", len(inputs))
	}
	// A long history (past the largest message block), CRLF lines, a
	// repaired header and unknown segments with warnings.
	long := []string{"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|1|P|2.5.1", "PID|1||X^^^A^MR"}
	for i := range 70 {
		long = append(long, fmt.Sprintf("ORC|RE||%d", i), fmt.Sprintf("RXA|0|1|2024010%d||08^HepB^CVX|999", i%9))
	}
	inputs = append(inputs,
		[]byte(strings.Join(long, "\r")),
		[]byte(strings.ReplaceAll(string(inputs[0]), "\r", "\r\n")),
		[]byte("MSH|^~\\&|A\rWHOOPS|1\rZZZ|2\rPID|1||Y\r"),
		[]byte("MSH|^~\\&|A\rPID|1\r"),
	)
	var p Parser
	for round := range 3 {
		for i, in := range inputs {
			want, werr := Parse(in)
			got, gerr := p.Parse(in)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("input %d: Parse error %v, Parser error %v", i, werr, gerr)
			}
			if werr != nil {
				continue
			}
			if w, g := dumpMessage(want), dumpMessage(got); w != g {
				t.Fatalf("round %d, input %d: Parser gave\n%s\nParse gave\n%s", round, i, g, w)
			}
		}
	}
	// Once sized, a Parser allocates only the ORDER groups it is asked for.
	in := inputs[0]
	if n := testing.AllocsPerRun(20, func() { p.Parse(in) }); n != 0 {
		t.Errorf("%.1f allocations per reused Parse", n)
	}
}

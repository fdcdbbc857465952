package hl7v2

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "does not start with MSH (found no data)"},
		{"blank", " \r\n\t", "does not start with MSH (found no data)"},
		{"PID first", "PID|1||x\rMSH|^~\\&|", `does not start with MSH (found "PID")`},
		{"FHS batch", "FHS|^~\\&|A\rBHS|^~\\&|\rMSH|^~\\&|", `found "FHS"`},
		{"text", "hello world", "found 11 bytes of other data"},
		{"MSH only", "MSH", "does not start with MSH, FHS or BHS"},
		{"no encoding chars", "MSH||A|B", "MSH-2: 0 encoding characters"},
		{"two encoding chars", "MSH|^~|A", "MSH-2: 2 encoding characters"},
		{"six encoding chars", "MSH|^~\\&#!|A", "MSH-2: 6 encoding characters"},
		{"duplicate", "MSH|^^\\&|A", `encoding character "^" used twice`},
		{"letter separator", "MSHA^~\\&A", `MSH-1: field separator "A" is unusable`},
		{"space separator", "MSH ^~\\& A", `MSH-1: field separator " " is unusable`},
		{"non-ASCII encoding", "MSH|\xdd~\\&|", `encoding character "\xdd" is unusable`},
		{"letter encoding", "MSH|^~\\a|", `encoding character "a" is unusable`},
		{"field sep in encoding chars", "MSH|^|\\&|", "MSH-2: 1 encoding characters"},
		{"binary line", "MSH|^~\\&|A\r\x00\x01\x02garbage\r", "line 2: binary data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.data))
			if err == nil {
				t.Fatalf("Parse succeeded (%d segments), want error containing %q", len(m.Segments()), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseTolerates(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		segs       string // names, space separated
		warn       []string
	}{
		{"CR", "MSH|^~\\&|A\rPID|1\rRXA|0", "MSH PID RXA", nil},
		{"LF", "MSH|^~\\&|A\nPID|1\nRXA|0\n", "MSH PID RXA", nil},
		{"CRLF", "MSH|^~\\&|A\r\nPID|1\r\nRXA|0\r\n", "MSH PID RXA", nil},
		{"mixed", "MSH|^~\\&|A\r\nPID|1\nPD1|\rRXA|0\n\r", "MSH PID PD1 RXA", nil},
		{"blank lines", "MSH|^~\\&|A\r\r\n\n  \nPID|1\r\r\rRXA|0\r\r", "MSH PID RXA", nil},
		{"BOM", "\xef\xbb\xbfMSH|^~\\&|A\rPID|1", "MSH PID", nil},
		{"BOM and whitespace", "\xef\xbb\xbf \r\n\tMSH|^~\\&|A\rPID|1", "MSH PID", nil},
		{"MLLP framing", "\x0bMSH|^~\\&|A\rPID|1\r\x1c\r", "MSH PID", nil},
		{"MLLP end without CR", "\x0bMSH|^~\\&|A\rPID|1|x\x1c", "MSH PID", nil},
		{"DOS end of file", "MSH|^~\\&|A\r\nPID|1\r\n\x1a", "MSH PID", nil},
		{"indented segment", "MSH|^~\\&|A\r  PID|1", "MSH PID", nil},
		{"trailing bars", "MSH|^~\\&|A|||\rPID|1|||||\r", "MSH PID", nil},
		{"segment without fields", "MSH|^~\\&|A\rPV1\rPID|1", "MSH PV1 PID", nil},
		{"Z segments", "MSH|^~\\&|A\rZPI|1\rZ99|x", "MSH ZPI Z99", nil},
		{"repaired header", "MSH|^~&|A\rPID|1", "MSH PID", []string{"MSH-2: 3 encoding characters, escape character missing; assumed \\ (repaired)"}},
		{"line numbers with CRLF and blank lines", "\r\nMSH|^~\\&|A\r\n\r\nPID|1\r\nXYZ|1", "MSH PID XYZ", []string{"line 5: unknown segment XYZ kept"}},
		{"unknown segment", "MSH|^~\\&|A\rXYZ|1\rPID|1", "MSH XYZ PID", []string{"line 2: unknown segment XYZ kept"}},
		{"invalid name kept", "MSH|^~\\&|A\rPID|1\nWHOOPS||CE\nOBX|1", "MSH PID WHOOPS OBX", []string{"line 3: invalid segment name (6 characters, not 3) kept"}},
		{"text line skipped", "MSH|^~\\&|A\rNTE|1||first part of a note\rthat went on, here\rOBX|1", "MSH NTE OBX", []string{"line 3: not a segment (no segment name), skipped"}},
		{"bare MSH line later", "MSH|^~\\&|A\rMSH\rPID|1", "MSH MSH PID", []string{"line 2: second MSH in one message"}},
		{"second MSH", "MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B", "MSH PID MSH", []string{"line 3: second MSH in one message"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			walk(m) // every value reachable without panic
			checkSplit(t, m)
			var names []string
			for _, s := range m.Segments() {
				names = append(names, s.Name())
			}
			if got := strings.Join(names, " "); got != tc.segs {
				t.Errorf("segments %q, want %q", got, tc.segs)
			}
			if got := m.Warnings(); strings.Join(got, "\n") != strings.Join(tc.warn, "\n") {
				t.Errorf("warnings %q, want %q", got, tc.warn)
			}
		})
	}
}

func TestRawAndFields(t *testing.T) {
	m := mustParse(t, "\xef\xbb\xbfMSH|^~\\&|APP|FAC|||20230101||ADT^A01|1|P|2.5.1|\rPID|1||a~b||\"\"|x^^\r")
	msh := m.Segments()[0]
	if got := string(msh.Raw()); got != "MSH|^~\\&|APP|FAC|||20230101||ADT^A01|1|P|2.5.1|" {
		t.Errorf("MSH Raw = %q", got)
	}
	if n := msh.NumFields(); n != 13 {
		t.Errorf("MSH NumFields = %d, want 13", n)
	}
	if got := string(msh.Field(12).Raw()); got != "2.5.1" {
		t.Errorf("MSH-12 = %q", got)
	}
	if f := msh.Field(2); f.NumReps() != 1 || f.Rep(1).NumComponents() != 1 || f.Rep(1).Sub(1).String() != `^~\&` || f.Rep(2).String() != "" {
		t.Errorf("MSH-2 is split: reps %d comps %d", f.NumReps(), f.Rep(1).NumComponents())
	}
	if got := msh.Field(1).Rep(1).Component(1).String(); got != "|" {
		t.Errorf("MSH-1.1 = %q", got)
	}
	pid := m.Segments()[1]
	if pid.NumFields() != 6 {
		t.Errorf("PID NumFields = %d, want 6", pid.NumFields())
	}
	for _, tc := range []struct {
		n           int
		raw         string
		reps        int
		empty, null bool
		str         string
	}{
		{1, "1", 1, false, false, "1"},
		{2, "", 0, true, false, ""},
		{3, "a~b", 2, false, false, "a~b"},
		{5, `""`, 1, false, true, ""},
		{6, "x^^", 1, false, false, "x^^"},
		{7, "", 0, true, false, ""},
		{0, "", 0, true, false, ""},
		{-1, "", 0, true, false, ""},
	} {
		f := pid.Field(tc.n)
		v := f.Rep(1)
		if string(f.Raw()) != tc.raw || f.NumReps() != tc.reps || v.IsEmpty() != tc.empty || v.IsNull() != tc.null || f.String() != tc.str {
			t.Errorf("PID-%d: raw %q reps %d empty %v null %v str %q", tc.n, f.Raw(), f.NumReps(), v.IsEmpty(), v.IsNull(), f.String())
		}
	}
	if !pid.Field(6).Rep(1).Component(2).IsEmpty() || pid.Field(6).Rep(1).NumComponents() != 3 {
		t.Error("PID-6 components")
	}
	if !mustParse(t, "MSH|^~\\&|A\rPID|^^&~").Segments()[1].Field(1).Rep(1).IsEmpty() {
		t.Error(`"^^&" is not empty`)
	}
	if !mustParse(t, "MSH|^~\\&|A\rPID|\"\"^x").Segments()[1].Field(1).Rep(1).Component(1).IsNull() {
		t.Error(`component "" is not null`)
	}
	var zero Segment
	if !zero.IsZero() || zero.NumFields() != 0 || zero.Field(3).Rep(1).Component(2).Sub(1).String() != "" || zero.Name() != "" {
		t.Error("zero Segment is not empty")
	}
	if pid.IsZero() {
		t.Error("PID IsZero")
	}
	if got := string(m.Raw()[:3]); got != "\xef\xbb\xbf" {
		t.Errorf("Message.Raw does not return the input: %q", got)
	}
}

func TestLevels(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A\rPID|a1&a2&a3^b^c~d1&d2^e")
	f := m.Segments()[1].Field(1)
	r1 := f.Rep(1)
	for _, tc := range []struct {
		got  Value
		want string
	}{
		{r1, "a1&a2&a3^b^c"},
		{r1.Component(1), "a1&a2&a3"},
		{r1.Component(1).Component(1), "a1&a2&a3"},
		{r1.Component(1).Component(2), ""},
		{r1.Component(1).Sub(2), "a2"},
		{r1.Component(1).Sub(3), "a3"},
		{r1.Component(1).Sub(4), ""},
		{r1.Sub(2), "a2"}, // Component(1).Sub(2)
		{r1.Component(2).Sub(1), "b"},
		{r1.Component(2).Sub(2), ""},
		{r1.Component(1).Sub(2).Sub(1), "a2"},
		{r1.Component(1).Sub(2).Component(1), "a2"},
		{r1.Component(1).Sub(2).Sub(2), ""},
		{r1.Component(4), ""},
		{r1.Component(0), ""},
		{f.Rep(2).Component(1).Sub(2), "d2"},
		{f.Rep(2).Component(2), "e"},
		{f.Rep(3), ""},
		{f.Rep(0), ""},
	} {
		if s := tc.got.String(); s != tc.want {
			t.Errorf("got %q, want %q", s, tc.want)
		}
	}
	if n := r1.NumComponents(); n != 3 {
		t.Errorf("NumComponents = %d", n)
	}
	if n := r1.NumSubs(); n != 3 {
		t.Errorf("rep NumSubs = %d", n)
	}
	if n := r1.Component(2).NumSubs(); n != 1 {
		t.Errorf("comp NumSubs = %d", n)
	}
	if n := r1.Component(1).NumComponents(); n != 1 {
		t.Errorf("comp NumComponents = %d", n)
	}
	if n := r1.Component(5).NumSubs(); n != 0 {
		t.Errorf("absent NumSubs = %d", n)
	}
}

// Long values take the vector paths of splitting and counting.
func TestLongValues(t *testing.T) {
	var reps []string
	for i := 0; i < 40; i++ {
		reps = append(reps, fmt.Sprintf("id%02d^^^AUTHORITY-WITH-A-LONG-NAME&2.16.840.1.113883.3.%d&ISO^MR", i, i))
	}
	m := mustParse(t, "MSH|^~\\&|A\rPID|1||"+strings.Join(reps, "~"))
	f := m.Segments()[1].Field(3)
	if n := f.NumReps(); n != 40 {
		t.Fatalf("NumReps = %d", n)
	}
	for _, i := range []int{1, 17, 40} {
		v := f.Rep(i)
		if got, want := v.Component(1).String(), fmt.Sprintf("id%02d", i-1); got != want {
			t.Errorf("rep %d component 1 = %q, want %q", i, got, want)
		}
		if got, want := v.Component(4).Sub(2).String(), fmt.Sprintf("2.16.840.1.113883.3.%d", i-1); got != want {
			t.Errorf("rep %d 4.2 = %q, want %q", i, got, want)
		}
		if v.NumComponents() != 5 || v.Component(4).NumSubs() != 3 || !v.Component(6).IsEmpty() {
			t.Errorf("rep %d: %d components", i, v.NumComponents())
		}
	}
	if !f.Rep(41).IsEmpty() || !f.Rep(1).Component(4).Sub(4).IsEmpty() {
		t.Error("past the end is not empty")
	}
}

func TestCustomDelimiters(t *testing.T) {
	// Every delimiter replaced, a v2.7 truncation character, and the
	// standard ones appearing as data.
	data := "MSH*!#$%@*SENDER!X*FAC*\rPID*1**ID1!!!AUTH!MR#ID2!!!AUTH2!SR**Doe-Smith!Ann^Marie*\rOBX*1*ST*x**a|b~c\\d&e $F$ $S$ $T$ $R$ $E$ $P$ q%r"
	m := mustParse(t, data)
	want := Delimiters{Field: '*', Component: '!', Repetition: '#', Escape: '$', Subcomponent: '%', Truncation: '@'}
	if m.Delimiters() != want {
		t.Fatalf("Delimiters = %q", m.Delimiters())
	}
	segs := m.Segments()
	for _, tc := range []struct{ path, want string }{
		{"MSH-1", "*"},
		{"MSH-2", "!#$%@"},
		{"MSH-3", "SENDER!X"},
		{"MSH-3.2", "X"},
		{"PID-3[2].1", "ID2"},
		{"PID-3[2].5", "SR"},
		{"PID-5.2", "Ann^Marie"},
		{"OBX-5", `a|b~c\d&e * ! % # $ @ q%r`},
		{"OBX-5.1.2", `r`},
	} {
		if got := val(t, segs, tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestReadDelimiters(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		want Delimiters
		err  string
	}{
		{"MSH|^~\\&|A", DefaultDelimiters, ""},
		{"FHS|^~\\&|A", DefaultDelimiters, ""},
		{"BHS|^~\\&", DefaultDelimiters, ""},
		{"BHS|^~\\&\rBTS|1", DefaultDelimiters, ""},
		{"MSH|^~\\&#|", Delimiters{'|', '^', '~', '\\', '&', '#'}, ""},
		{"MSH|^~&|", DefaultDelimiters, ""},
		{"MSH|^~\\|", DefaultDelimiters, ""},
		{"FHS:^~\\&:", Delimiters{':', '^', '~', '\\', '&', 0}, ""},
		{"PID|^~\\&|", Delimiters{}, "does not start with MSH, FHS or BHS"},
		{"MSH", Delimiters{}, "does not start with MSH, FHS or BHS"},
		{"msh|^~\\&|", Delimiters{}, "does not start with MSH, FHS or BHS"},
		{"MSH\r^~\\&", Delimiters{}, `MSH-1: field separator "\r" is unusable`},
		{"FHS|^~|", Delimiters{}, "FHS-2: 2 encoding characters"},
	} {
		d, err := ReadDelimiters([]byte(tc.seg))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ReadDelimiters(%q) error %v, want %q", tc.seg, err, tc.err)
			}
			continue
		}
		if err != nil || d != tc.want {
			t.Errorf("ReadDelimiters(%q) = %q, %v; want %q", tc.seg, d, err, tc.want)
		}
	}
}

func TestTypeAndControlID(t *testing.T) {
	for _, tc := range []struct{ file, code, trigger, structure, id string }{
		{"vxu_v04.hl7", "VXU", "V04", "VXU_V04", "MSG20230105-0001"},
		{"vxu_231.hl7", "VXU", "V04", "", "20110801.0042"},
		{"rsp_k11_z32.hl7", "RSP", "K11", "RSP_K11", "NM-R-000419"},
		{"rsp_k11_z42.hl7", "RSP", "K11", "RSP_K11", "WIR-9911"},
		{"qbp_q11.hl7", "QBP", "Q11", "QBP_Q11", "QRY-20230212-77"},
		{"ack.hl7", "ACK", "V04", "ACK", "KN-ACK-55012"},
	} {
		m, err := Parse(readTestdata(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		c, tr, st := m.Type()
		if c != tc.code || tr != tc.trigger || st != tc.structure || m.ControlID() != tc.id {
			t.Errorf("%s: Type %s^%s^%s ControlID %q", tc.file, c, tr, st, m.ControlID())
		}
		if w := m.Warnings(); len(w) > 0 {
			t.Errorf("%s: warnings %q", tc.file, w)
		}
	}
	m := mustParse(t, "MSH|^~\\&|A")
	if c, tr, st := m.Type(); c != "" || tr != "" || st != "" || m.ControlID() != "" {
		t.Error("short MSH: Type/ControlID not empty")
	}
	m = mustParse(t, `MSH|^~\&|A||||||VXU^V04|ID\F\1`)
	if m.ControlID() != "ID|1" {
		t.Errorf("ControlID not decoded: %q", m.ControlID())
	}
}

func TestQBPAndACK(t *testing.T) {
	m, err := Parse(readTestdata(t, "qbp_q11.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	segs := m.Segments()
	if got := val(t, segs, "RCP-2.2.1"); got != "RD" {
		t.Errorf("RCP-2.2.1 = %q", got)
	}
	if got := val(t, segs, "RCP-2.2.3"); got != "HL70126" {
		t.Errorf("RCP-2.2.3 = %q", got)
	}
	if got := ParseCX(segs.Value(Path{Segment: "QPD", Field: 3})); got.ID != "PA5501" || got.AssigningAuthority.Namespace != "MYEHR" || got.IDType != "MR" {
		t.Errorf("QPD-3 = %+v", got)
	}
	if len(m.Orders()) != 0 {
		t.Error("QBP has orders")
	}
	m, err = Parse(readTestdata(t, "ack.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	segs = m.Segments()
	if got := val(t, segs, "ERR-2.1"); got != "RXA" {
		t.Errorf("ERR-2.1 = %q", got)
	}
	if got := val(t, segs, "ERR-8"); got != `Vaccine code 405 not recognized\ check CVX` {
		t.Errorf("ERR-8 = %q", got)
	}
	if got := val(t, segs, "MSA-2"); got != "MSG20230105-0001" {
		t.Errorf("MSA-2 = %q", got)
	}
}

package hl7v2

import (
	"testing"
)

func field(t *testing.T, seg string, n, rep int) Value {
	t.Helper()
	m := mustParse(t, "MSH|^~\\&|A\r"+seg)
	return m.Segments()[1].Field(n).Rep(rep)
}

func TestComposites(t *testing.T) {
	cx := ParseCX(field(t, "PID|1||12345^7^M10^MYEHR&2.16.840.1.113883.3.72&ISO^MR^RIFAC&&", 3, 1))
	want := CX{ID: "12345", CheckDigit: "7", AssigningAuthority: HD{"MYEHR", "2.16.840.1.113883.3.72", "ISO"}, IDType: "MR", AssigningFacility: HD{Namespace: "RIFAC"}}
	if cx != want {
		t.Errorf("CX = %+v\nwant %+v", cx, want)
	}
	if cx := ParseCX(field(t, "PID|1||8822621^^^^SR", 3, 1)); cx != (CX{ID: "8822621", IDType: "SR"}) {
		t.Errorf("CX without authority = %+v", cx)
	}
	if hd := ParseHD(field(t, "ZZZ|NMSIIS^2.16.840.1.113883.3.1^ISO", 1, 1)); hd != (HD{"NMSIIS", "2.16.840.1.113883.3.1", "ISO"}) {
		t.Errorf("HD = %+v", hd)
	}
	xpn := ParseXPN(field(t, "PID|1||x||O\\E\\Brien&van&Dyke^Mary^Kate Lou^Jr^Dr^MD^L", 5, 1))
	if xpn != (XPN{"O\\Brien", "Mary", "Kate Lou", "Jr", "Dr", "MD", "L"}) {
		t.Errorf("XPN = %+v", xpn)
	}
	xad := ParseXAD(field(t, "PID|1||x||||||||14 Larkspur Ln&Larkspur Ln&14^Apt 2^Warwick^RI^02886^USA^L^^RI003", 11, 1))
	if xad != (XAD{"14 Larkspur Ln", "Apt 2", "Warwick", "RI", "02886", "USA", "L", "RI003"}) {
		t.Errorf("XAD = %+v", xad)
	}
	tel := field(t, "PID|1||x||||||||||(401)555-0147^PRN^PH^^1^401^5550147^12~^NET^X.400^a@example.org", 13, 1)
	if x := ParseXTN(tel); x != (XTN{"(401)555-0147", "PRN", "PH", "", "1", "401", "5550147", "12"}) {
		t.Errorf("XTN = %+v", x)
	}
	mail := field(t, "PID|1||x||||||||||(401)555-0147^PRN^PH^^1^401^5550147^12~^NET^X.400^a@example.org", 13, 2)
	if x := ParseXTN(mail); x != (XTN{Use: "NET", Equipment: "X.400", Email: "a@example.org"}) {
		t.Errorf("XTN email = %+v", x)
	}
	cwe := ParseCWE(field(t, "RXA|0|1|20230105||90707^MMR^CPT^03^MMR^CVX", 5, 1))
	if cwe != (CWE{"90707", "MMR", "CPT", "03", "MMR", "CVX"}) {
		t.Errorf("CWE = %+v", cwe)
	}
	if cwe := ParseCWE(field(t, "RXA|0|1|20230105||PCV \\T\\ PPSV", 5, 1)); cwe != (CWE{Code: "PCV & PPSV"}) {
		t.Errorf("CWE decoded = %+v", cwe)
	}
	xcn := ParseXCN(field(t, "RXA|0|1|2023||08^HepB^CVX|||||7824^Pell&van&Pell^Jonas^Q^III^Dr^^^MYEHR&1.2.3&ISO^L^^^PRN", 10, 1))
	wantXCN := XCN{ID: "7824", Family: "Pell", Given: "Jonas", Middle: "Q", Suffix: "III", Prefix: "Dr", AssigningAuthority: HD{"MYEHR", "1.2.3", "ISO"}, IDType: "PRN"}
	if xcn != wantXCN {
		t.Errorf("XCN = %+v\nwant %+v", xcn, wantXCN)
	}
	// A composite given as a component reads subcomponents (HD in CX-4).
	if hd := ParseHD(field(t, "PID|1||1^^^A&B&ISO^MR", 3, 1).Component(4)); hd != (HD{"A", "B", "ISO"}) {
		t.Errorf("HD of component = %+v", hd)
	}
	if got := ParseCWE(Value{}); got != (CWE{}) {
		t.Errorf("CWE of zero Value = %+v", got)
	}
	if got := ParseXPN(field(t, `PID|1||x||""`, 5, 1)); got != (XPN{}) {
		t.Errorf("XPN of null = %+v", got)
	}
}

func TestParseNM(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"0.5", 0.5, true},
		{"1", 1, true},
		{"-3.25", -3.25, true},
		{"+2", 2, true},
		{" 999 ", 999, true},
		{".5", 0.5, true},
		{"5.", 5, true},
		{"007", 7, true},
		{"", 0, false},
		{".", 0, false},
		{"-", 0, false},
		{"1e5", 0, false},
		{"0x10", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"1.2.3", 0, false},
		{"1,5", 0, false},
		{"0.5 mL", 0, false},
	} {
		got, err := ParseNM(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseNM(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

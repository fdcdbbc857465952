package hl7v2

import (
	"testing"
)

func TestEscapes(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"plain", "abc", "abc"},
		{"field", `a\F\b`, "a|b"},
		{"component", `PCV \S\ PPSV`, "PCV ^ PPSV"},
		{"subcomponent", `PCV \T\ PPSV`, "PCV & PPSV"},
		{"repetition", `a\R\b`, "a~b"},
		{"escape", `C:\E\temp`, `C:\temp`},
		{"several", `\F\\S\\T\\R\\E\`, `|^&~\`},
		{"truncation without MSH-2 char", `a\P\b`, `a\P\b`},
		{"hex 2", `\X0D\`, "\r"},
		{"hex 4", `a\X000d\b`, "a\x00\rb"},
		{"hex utf8", `Jos\XC3A9\`, "José"},
		{"hex latin1", `Jos\XE9\`, "José"},
		{"hex upper lower", `\X4a4B\`, "JK"},
		{"hex odd", `\X0D0\`, `\X0D0\`},
		{"hex bad digit", `\XG0\`, `\XG0\`},
		{"hex empty", `\X\`, `\X\`},
		{"br", `line1\.br\line2`, "line1\nline2"},
		{"sp", `a\.sp\b`, "a\nb"},
		{"sp with count", `a\.sp2\b`, "a\nb"},
		{"in dropped", `a\.in+4\b`, "ab"},
		{"ti dropped", `a\.ti-2\b`, "ab"},
		{"sk dropped", `a\.sk3\b`, "ab"},
		{"ce fi nf dropped", `\.ce\a\.fi\b\.nf\c`, "abc"},
		{"unknown formatting kept", `a\.xy\b`, `a\.xy\b`},
		{"highlight dropped", `\H\bold\N\ text`, "bold text"},
		{"Z kept", `a\Zfoo\b`, `a\Zfoo\b`},
		{"charset C kept", `a\C2842\b`, `a\C2842\b`},
		{"charset M kept", `a\M244241\b`, `a\M244241\b`},
		{"unknown kept", `a\Q\b`, `a\Q\b`},
		{"empty sequence kept", `a\\b`, `a\\b`},
		{"lone escape kept", `a\b`, `a\b`},
		{"lone escape at end", `ab\`, `ab\`},
		{"latin1 text", "Jos\xe9 Mu\xf1oz", "José Muñoz"},
		{"latin1 text and escape", "Jos\xe9\\T\\Ana", "José&Ana"},
		{"utf8 text kept", "José", "José"},
		{"null", `""`, ""},
		{"quotes inside kept", `say ""hi""`, `say ""hi""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, "MSH|^~\\&|A\rNTE|1||"+tc.raw+"\r")
			v := m.Segments()[1].Field(3).Rep(1)
			if got := v.String(); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.raw, got, tc.want)
			}
			if got := string(v.Raw()); got != tc.raw {
				t.Errorf("Raw = %q, want %q", got, tc.raw)
			}
			if got := string(v.AppendDecoded([]byte("x"))); got != "x"+tc.want {
				t.Errorf("AppendDecoded = %q, want %q", got, "x"+tc.want)
			}
		})
	}
}

func TestEscapeTruncation(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&#|A\rNTE|1||50\\P\\ off\r")
	if got := val(t, m.Segments(), "NTE-3"); got != "50# off" {
		t.Errorf("NTE-3 = %q", got)
	}
}

// Splitting happens before decoding: an escaped separator never splits.
func TestEscapeDoesNotSplit(t *testing.T) {
	m := mustParse(t, `MSH|^~\&|A`+"\r"+`OBX|1|ST|x||PCV \T\ PPSV\S\23^second~rep2`)
	segs := m.Segments()
	for _, tc := range []struct{ path, want string }{
		{"OBX-5.1", "PCV & PPSV^23"},
		{"OBX-5.1.1", "PCV & PPSV^23"},
		{"OBX-5.2", "second"},
		{"OBX-5[2]", "rep2"},
	} {
		if got := val(t, segs, tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
}

package mapping

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/hl7v2"
)

// The hand-written matchers and allocation-free functions agree with
// what they replace.
func TestHandWrittenEquivalents(t *testing.T) {
	decimals := []string{"", "-", "0", "00", "01", "-0", "1", "12", "1.", "1.5", ".5", "0.50", "-0.5", "1e5", "1E+5", "1e-", "1e",
		"1.5e10", "1.e5", "+1", "1a", "a", "9999999999999999999", "1.2.3", "--1", "-.5", "0e0", "10E-02", " 1", "1 "}
	for _, s := range decimals {
		if got, want := isDecimal(s), decimalRE.MatchString(s); got != want {
			t.Errorf("isDecimal(%q) = %v, regexp %v", s, got, want)
		}
	}
	for _, s := range []string{"", "0", "00", "000", "3", "03", "003", "08", "8", "45", "045", "0045", "100", "0100", "998", "x1", "1x", "０1"} {
		got, _ := fnCVX(nil, nil, nil, []string{s})
		want := s
		if isDigits(s) {
			want = strings.TrimLeft(s, "0")
			if len(want) < 2 {
				want = strings.Repeat("0", 2-len(want)) + want
			}
		}
		if got != want {
			t.Errorf("cvx(%q) = %q, want %q", s, got, want)
		}
	}
	e := &env{}
	for _, a := range [][]string{{", "}, {", ", ""}, {", ", "a"}, {", ", "", "a", ""}, {", ", "a", "b"}, {"", "a", "", "b", "c"}, {" ext. ", "", ""}} {
		var b strings.Builder
		for _, s := range a[1:] {
			if s == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(a[0])
			}
			b.WriteString(s)
		}
		if got, _ := fnJoin(e, nil, nil, a); got != b.String() {
			t.Errorf("join(%q) = %q, want %q", a, got, b.String())
		}
	}
}

// A path with [*] read in place gives what Segments.Values gives.
func TestAppendValuesMatchesValues(t *testing.T) {
	m := msg(t, `
MSH|^~\&|APP|CLINIC-A|IIS|STATE|20240301120000-0600||VXU^V04^VXU_V04|CTRL-1|P|2.5.1
PID|1||A1^^^AUTH1&1.2&ISO^MR~~B2^^^^PI~""~C3^^^AUTH3^SR||Doe^Jane^Q^^^^L~^Janie|||F
PID|2||X9^^^Z^MR
OBX|1|CE|64994-7^elig^LN|1|V02^Medicaid^HL70064
OBX|2|CE|30963-3^funding^LN|2|VXC1^Fed\T\eral^CDCPHINVS
`)
	e := &env{}
	root := &scope{ownsSegs: true, segs: m.Segments()}
	for _, text := range []string{"PID-3[*]", "PID-3[*].1", "PID-3[*].4.2", "PID-3[*].4", "PID[*]-3.1", "PID[*]-3[*].1", "PID[2]-3[*].1",
		"PID-5[*].2", "OBX[*]-5.2", "OBX[*]-3[*].1", "PID-3[*].1.1", "NK1[*]-2", "PID[3]-3[*]"} {
		p, err := hl7v2.ParsePath(text)
		if err != nil {
			t.Fatal(err)
		}
		x := &pathExpr{text: text, p: p}
		var want []string
		for _, v := range m.Segments().Values(p) {
			if !v.IsEmpty() && !v.IsNull() {
				want = append(want, strings.TrimSpace(v.String()))
			}
		}
		got := x.appendValues(e, root, nil)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("%s: %q, Values gives %q", text, got, want)
		}
	}
}

// date() and datetime() write what hl7v2's FHIRDate and FHIRDateTime
// give, in every zone the mapping may read a time in.
func TestDatesMatchHL7v2(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Skip(err)
	}
	zones := []*time.Location{nil, time.UTC, chicago, time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800), time.FixedZone("", -30), time.FixedZone("", 45*60)}
	values := []string{"2024", "202403", "20240310", "2024031014", "202403101415", "20240310141530", "20240310141530.12", "20240310141530.1234",
		"20240310141530-0500", "20240310141530+0000", "2024031014+0530", "18500101120000", "18500101", "00010101120000", "20240310141530+0", "20240310-0007",
		"20241103013000", "20240310023000", "99991231235959-1400", "20240310141530.1-0600"}
	e := &env{}
	for _, v := range values {
		ts, err := hl7v2.ParseTS(v)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if got, want := e.fhirDate(ts), ts.FHIRDate(); got != want {
			t.Errorf("date %s: %q, hl7v2 %q", v, got, want)
		}
		for _, z := range zones {
			if got, want := e.fhirDateTime(ts, z), ts.FHIRDateTime(z); got != want {
				t.Errorf("datetime %s in %v: %q, hl7v2 %q", v, z, got, want)
			}
		}
	}
}

// An if or first_nonempty that cannot be lazy still fails, and still
// reports, as if every argument had been evaluated, though the branch
// it does not return is only checked.
func TestChoiceChecksUnusedArguments(t *testing.T) {
	m := compileYAML(t, `
tables:
  warned: {policy: warn, codes: {F: female}}
resources:
  - resource: Patient
    rules:
      - {target: birthDate, value: 'if(PID-5.1, "2020-01-01", concat("x", date(PID-8)))'}
      - {target: gender, value: 'if(PID-5.1, table("warned", PID-8), hash(date(PID-8)))'}
      - {target: 'name[0].family', value: 'first_nonempty(PID-5.1, concat(date(PID-8)))'}
      - {target: 'name[0].given[]', value: 'first_nonempty(PID-39, table("warned", PID-5.2), hash("x"))'}
      - {target: 'name[0].text', value: 'if(PID-39, date(PID-8), concat("t-", table("warned", PID-5.2)))'}
`, nil)
	out := apply(m, msg(t, engineMsg))
	p := byType(t, out, "Patient")[0]
	absent(t, p, "birthDate") // date(PID-8) fails the whole call
	absent(t, p, "gender")
	absent(t, p, "name[0].family")
	want(t, p, "name[0].given[0]", "Jane")
	absent(t, p, "name[0].text") // date(PID-8) fails before the table warns
	if n := issueCount(out, "error", "value", "not a valid v2 date"); n != 4 {
		t.Errorf("%d date errors, want 4: %+v", n, out.Issues)
	}
	if n := issueCount(out, "warning", "code-invalid", "not in table warned"); n != 1 {
		t.Errorf("%d warnings from the warned table, want 1: %+v", n, out.Issues)
	}
}

// A pattern matched without the regexp gives the regexp's answer.
func TestFastMatcher(t *testing.T) {
	patterns := []string{`^V[0-9]{2}$`, `(?i)^(ml|milliliters?|millilitres?)$`, `\{\{`, `^[0-9]{4}-[0-9]$`, `^[0-9]{10}`,
		`^(a|bc)?d$`, `x$`, `(?i)k`, `^$`, ``, `^.{2}$`, `(?s)^.$`, `^[^0-9]$`, `(?i)^[a-c]x$`, `a|b$`, `^a*$`, `\bV\b`, `(?m)^V$`}
	fast := 0
	for _, p := range patterns {
		m := newMatcher(regexp.MustCompile(p))
		if m.fast != nil {
			fast++
		}
		var inputs []string
		for _, s := range []string{"", "V", "V0", "V01", "v01", "V012", "xV01", "V01\n", "ml", "ML", "mL", "milliliter", "Milliliters", "millilitres",
			"millilitre", "mls", "ml ", " ml", "{{", "a{{b", "{", "{ {", "2106-3", "2106-33", "21063", "2024031014", "20240310", "ad", "bcd", "d", "abcd",
			"x", "xx", "\n", "k", "K", "ab", "a\nb", "7", "bx", "Cx", "dx", "a", "b", "aa", "V", "milliliterſ", "\u212a", "é", "V0\u0661"} {
			inputs = append(inputs, s)
		}
		for _, s := range inputs {
			if got, want := m.MatchString(s), m.re.MatchString(s); got != want {
				t.Errorf("%q on %q: %v, regexp %v", p, s, got, want)
			}
		}
	}
	// Random strings over the patterns' alphabet.
	rnd := rand.New(rand.NewPCG(1, 2))
	const alphabet = "V0123456789mlitersMLI{} -\nabcdxkK."
	for _, p := range patterns {
		m := newMatcher(regexp.MustCompile(p))
		for range 3000 {
			b := make([]byte, rnd.IntN(14))
			for i := range b {
				b[i] = alphabet[rnd.IntN(len(alphabet))]
			}
			if got, want := m.MatchString(string(b)), m.re.MatchString(string(b)); got != want {
				t.Fatalf("%q on %q: %v, regexp %v", p, b, got, want)
			}
		}
	}
	for _, p := range patterns[:5] { // the default mapping's
		if newMatcher(regexp.MustCompile(p)).fast == nil {
			t.Errorf("%q goes to the regexp", p)
		}
	}
	if fast < 10 {
		t.Errorf("only %d of %d patterns matched without the regexp", fast, len(patterns))
	}
}

// text copies a plain value as it is and decodes the others: either way
// it gives Value.String trimmed, for every value of the fixtures; textOf
// (with its fast path for plain values) gives that, or "" for an empty or
// null value.
func TestTextMatchesString(t *testing.T) {
	texts := []string{engineMsg, benchVXU8, "MSH|^~\\&|A|B\rPID|1||\"\"~ x ~a\\F\\b~\xe9t\xe9~caf\xc3\xa9~\tt\t~a&b^ c ^d~\\X41\\~^^~&~\"\"^\"x~\"\"&a|x^&^~&&",
		"MSH#*@!$#A#B\rPID#1##a*b@c!d$e*$#^~\\&|#**#@@"}
	for _, name := range []string{"vxu_full.hl7", "vxu_misc.hl7", "vxu_status.hl7", "vxu_badcodes.hl7", "rsp_z42.hl7"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(data))
	}
	n := 0
	for _, text := range texts {
		m := msg(t, text)
		e := &env{esc: m.Delimiters().Escape}
		e.textPlain.set(m.Delimiters())
		check := func(v hl7v2.Value) {
			if v.IsEmpty() || v.IsNull() {
				if got := e.textOf(v); got != "" {
					t.Errorf("%q: textOf %q for an empty value", v.Raw(), got)
				}
				return
			}
			if got, want := e.textOf(v), strings.TrimSpace(v.String()); got != want {
				t.Errorf("%q: textOf %q, String %q", v.Raw(), got, want)
			}
			n++
			if got, want := e.text(v), strings.TrimSpace(v.String()); got != want {
				t.Errorf("%q: text %q, String %q", v.Raw(), got, want)
			}
		}
		for _, seg := range m.Segments() {
			for f := 1; f <= seg.NumFields(); f++ {
				fl := seg.Field(f)
				for r := 1; r <= max(fl.NumReps(), 1); r++ {
					v := fl.Rep(r)
					check(v)
					for c := 1; c <= v.NumComponents(); c++ {
						check(v.Component(c))
						for sc := 1; sc <= v.Component(c).NumSubs(); sc++ {
							check(v.Component(c).Sub(sc))
						}
					}
				}
			}
		}
	}
	if n < 500 {
		t.Errorf("only %d values compared", n)
	}
}

// Paths read through the memo (their field's value, their segment found
// once per scope) give what Segments.Value gives, at the top and in each
// ORDER group.
func TestMemoPathsMatchValue(t *testing.T) {
	paths := []string{"MSH-4.1", "MSH-9.2", "MSH-7", "PID-3", "PID-3.1", "PID-3.4.2", "PID-3[2].1", "PID-5.1.1", "PID-10[*].2", "PID[2]-3.1",
		"PID-11.7", "NK1-3.1", "NK1[2]-2.1.1", "PD1-16.1", "RXA-5.1", "RXA-5.2", "RXA-10.2.1", "RXA-10.9.1", "RXA-6", "RXA-3", "ORC-3.1",
		"ORC-12.13", "RXR-1.3", "OBX-3.1", "OBX[2]-5.1", "OBX[9]-5", "OBX-5[2].1", "PID-13[*].4", "ZZZ-1.1"}
	for _, text := range []string{engineMsg, benchVXU8, unbuiltMsg} {
		m := msg(t, text)
		c := &compiler{m: &mappingImpl{source: "v2"}, paths: map[string]*pathExpr{}, segIDs: map[string]int{}}
		root := &cscope{kind: scopeRoot}
		group := &cscope{parent: root, kind: scopeGroup}
		e := &env{gen: 1, esc: '\\'}
		rs := &scope{ownsSegs: true, segs: m.Segments()}
		check := func(cs *cscope, s *scope, segs hl7v2.Segments) {
			for _, tok := range paths {
				x := c.compilePath(tok, position{}, cs).(*pathExpr)
				want := segs.Value(x.p)
				if cs == group && !orderOwns(x.p.Segment) {
					want = m.Segments().Value(x.p) // the whole message
				}
				if got := x.value(e, s); string(got.Raw()) != string(want.Raw()) || got.IsEmpty() != want.IsEmpty() || got.String() != want.String() {
					t.Errorf("%s: %q, Segments.Value %q", tok, got.Raw(), want.Raw())
				}
			}
		}
		check(root, rs, m.Segments())
		for i, o := range m.Orders() {
			e.gen++ // scopes of a new Apply, as far as the memo knows
			check(group, &scope{parent: rs, ownsSegs: true, segs: o.All, lname: "ORDER", lidx: i + 1}, o.All)
		}
	}
}

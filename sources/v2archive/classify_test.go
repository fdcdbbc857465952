package v2archive

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive/internal/archivegen"
)

// classify reads MSH-9, MSH-4 and the RXA codes into buffers: its records
// must be those of the string-building version it replaced (kept below
// as the reference), on the corpus, generated archives and odd values
// (lower case, escapes, Latin-1, white space, non-ASCII letters that
// upper-case to ASCII).
func TestClassifyAsBefore(t *testing.T) {
	s := lazySource(t)
	seen := map[string]bool{} // what the crafted messages reach
	check := func(loc string, data []byte) {
		t.Helper()
		m, err := hl7v2.Parse(data)
		if err != nil {
			return
		}
		var got, want sources.Record
		var who sources.Identity
		errGot := classify(s.identity, s.who, m, data, &got, &who, false)
		m, _ = hl7v2.Parse(data)
		errWant := classifyBefore(s.identity, s.who, m, data, &want, &who)
		if fmt.Sprint(errGot) != fmt.Sprint(errWant) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: classify\n%+v (%v)\nwant\n%+v (%v)", loc, got, errGot, want, errWant)
		}
		seen[fmt.Sprint("kind ", got.Kind)] = true
		seen[fmt.Sprint("evidence ", got.Evidence)] = true
		seen[fmt.Sprint("facility ", got.Facility != "")] = true
	}
	const pid = "PID|1||M1^^^^MR~S9^^^MYIIS^SR||Ng^Ann||20200102|F\r"
	odd := []string{"vxu^v04", "VXU^V04", " vxu ^ v04 ", "vxü^v04", "VXU^\\T\\", "RSP^k11^RSP_K11^Z32", "rsp^K11", "qbp^q11", "ACK", "", "VX\\E\\U^V04", "ſxu^ıı"}
	fac := []string{"", "CLIN", "clin^1.2^ISO", " CLIN ^ 1.2 ", "\\S\\X^\\F\\", "CL\xc9^\xa0", "^1.2", "CLIN^ ", "Ünïc^ø"}
	rxa := []string{"08", "998", " 998 ", "ſ08"}
	codes := []string{"", "00", " 00 ", "01", "\xa0", "re", " RE", "na", "NA", "d", "D ", "A", "\\X52\\E", "ıRE", "\u00a0\u00a0", "ſ"}
	n := 0
	for i, typ := range odd {
		for j, f := range fac {
			msh := "MSH|^~\\&|APP|" + f + "|IIS|MYIIS|20240101||" + typ + "|C" + fmt.Sprint(i, j) + "|P|2.5.1"
			if j%2 == 1 {
				msh += "||||||||||ORG^^^^^^^^^X1" // MSH-22: the org key is not MSH-4
			}
			msh += "\r"
			check(msh, []byte(msh+pid))
			for k, c := range codes {
				c2 := codes[(k*7+i+j)%len(codes)]
				c3 := codes[(k*3+j)%len(codes)]
				seg := fmt.Sprintf("RXA|0|1|20240101||%s^x^CVX|0.5|mL||%s^src|||||||||||%s|%s\r", rxa[(k/5)%len(rxa)], c, c2, c3)
				data := msh + pid + "ORC|RE\r" + seg
				if k%3 == 0 {
					data += "RXA|0|1|20240101||08|1||" + c3 + "\r"
				}
				check(data, []byte(data))
				n++
			}
		}
	}
	for _, want := range []string{"evidence 8", "evidence 9", "evidence 10", "evidence 12", "facility true", "facility false",
		fmt.Sprint("kind ", sources.Person), fmt.Sprint("kind ", sources.Query), fmt.Sprint("kind ", sources.Skipped)} {
		if !seen[want] {
			t.Errorf("no crafted message gives %s (seen %v)", want, seen)
		}
	}
	gen := 0
	var buf bytes.Buffer
	if _, err := archivegen.Write(&buf, 1<<20, 5); err != nil {
		t.Fatal(err)
	}
	readers := []func() (*Reader, error){
		func() (*Reader, error) {
			return Open([]string{filepath.Join(corpusDir(t), "v2", "*", "*.hl7")}, Options{})
		},
		func() (*Reader, error) { return OpenReader("gen", bytes.NewReader(buf.Bytes()), Options{}) },
		func() (*Reader, error) { return OpenReader("world", bytes.NewReader(scanWorld(t)), Options{}) },
	}
	for _, open := range readers {
		r, err := open()
		if err != nil {
			t.Fatal(err)
		}
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if it.Err == nil && len(it.Data) > 0 {
				check(it.Loc.String(), it.Data)
				gen++
			}
		}
	}
	t.Logf("%d crafted, %d read messages", n, gen)
}

// classifyBefore is classify as it was before it read into buffers.
func classifyBefore(c sources.IdentityConfig, id sources.Identifier, m *hl7v2.Message, data []byte, r *sources.Record, who *sources.Identity) error {
	segs := m.Segments()
	msh := segs[0]
	code, trigger, _ := m.Type()
	code, trigger = strings.ToUpper(code), strings.ToUpper(trigger)
	r.Type = code + "^" + trigger
	if ts, err := hl7v2.ParseTS(msh.Field(7).Rep(1).Component(1).String()); err == nil {
		r.Time = ts.Time
	}
	if err := id.Identify(m, who); err != nil {
		return err
	}
	r.OrgKey, r.OrgName = who.OrgKey, who.OrgName
	hd := hl7v2.ParseHD(msh.Field(4).Rep(1))
	f := strings.TrimSpace(hd.Namespace)
	if u := strings.TrimSpace(hd.UniversalID); u != "" {
		f += "|" + u
	}
	if f != r.OrgKey {
		r.Facility = f
	}
	switch code {
	case "VXU":
		r.Kind = sources.Person
		r.Keys = c.Keys(who, r.Keys)
		for _, o := range m.Orders() {
			if o.RXA.IsZero() {
				continue
			}
			val := func(f int) string {
				return strings.ToUpper(strings.TrimSpace(o.RXA.Field(f).Rep(1).Component(1).String()))
			}
			r.Evidence |= rowEvidenceBefore(val(5), val(9), val(20), val(21))
		}
		r.Evidence |= sources.Reported
		r.Holds = r.Evidence&sources.Administered != 0
	case "RSP":
		r.Answers = msaControl(segs)
		if single(segs, msh) {
			if qakStatus(segs) == "OK" {
				r.Evidence |= sources.AnswerOK
			}
			r.Kind = sources.Person
			r.Keys = c.Keys(who, r.Keys)
		} else {
			r.Kind = sources.Candidates
		}
	case "QBP":
		r.Kind = sources.Query
		if qpd, ok := segs.Find("QPD", 1); ok && trigger == "Q11" {
			r.Asked = asked(qpd)
		}
	default:
		r.Kind = sources.Skipped
	}
	if r.Kind == sources.Person && len(r.Keys) == 0 {
		h := sha256.Sum256(data)
		r.Keys = append(r.Keys, fmt.Sprintf("%s%x", sources.PrefixLone, h[:16]))
	}
	return nil
}

func rowEvidenceBefore(cvx, source, status, action string) sources.Evidence {
	if action == "D" || cvx == "998" || status == "NA" {
		return 0
	}
	switch {
	case status == "RE":
		return sources.Refusal
	case source == "00":
		return sources.Administered
	case source != "":
		return sources.Historical
	}
	return 0
}

// rxaEvidence upper-cases ASCII letters only, which is strings.ToUpper for
// its codes as long as no other letter upper-cases to an ASCII letter in
// them (D, 998, NA, RE, 00): only ı and ſ upper-case to ASCII (I, S).
func TestUpperToASCII(t *testing.T) {
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		if u := unicode.ToUpper(r); u < 0x80 && r != 'ı' && r != 'ſ' {
			t.Errorf("%U upper-cases to %q", r, u)
		}
	}
}

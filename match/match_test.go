package match

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/diag"
)

func TestJaroWinkler(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{{"martha", "marhta", 0.961}, {"dwayne", "duane", 0.840}, {"dixon", "dicksonx", 0.813}, {"abc", "abc", 1}, {"abc", "xyz", 0}} {
		if got := JaroWinkler(c.a, c.b); got < c.want-0.001 || got > c.want+0.001 {
			t.Errorf("JaroWinkler(%q, %q) = %.3f, want %.3f", c.a, c.b, got, c.want)
		}
	}
}

func TestSoundex(t *testing.T) {
	for in, want := range map[string]string{"robert": "R163", "rupert": "R163", "ashcraft": "A261", "tymczak": "T522", "pfister": "P236", "lee": "L000", "": ""} {
		if got := Soundex(in); got != want {
			t.Errorf("Soundex(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNameText(t *testing.T) {
	for in, want := range map[string]string{"José": "jose", "O'Brien": "obrien", "García-López": "garcia lopez", "  ZOË  ": "zoe", "St. John": "st john", "Müller": "muller"} {
		if got := nameText(in); got != want {
			t.Errorf("nameText(%q) = %q, want %q", in, got, want)
		}
	}
}

func mustNew(t *testing.T) *Matcher {
	t.Helper()
	m, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCompareLevels(t *testing.T) {
	m := mustNew(t)
	reg := Record{ID: "p1", Given: "William", Family: "García", BirthDate: "2015-03-04", Sex: "M", Postal: "53703-1234", Phone: "(608) 555-0100"}
	for _, c := range []struct {
		name  string
		in    Record
		grade Grade
		field string
		level string
	}{
		{"same", Record{Given: "WILLIAM", Family: "Garcia", BirthDate: "20150304", Sex: "male", Postal: "53703", Phone: "608-555-0100"}, Certain, "family", "agree"},
		{"nickname", Record{Given: "Bill", Family: "Garcia", BirthDate: "2015-03-04", Sex: "M", Postal: "53703"}, Certain, "given", "nickname"},
		{"transposed", Record{Given: "William", Family: "Garcia", BirthDate: "2015-04-03", Sex: "M", Postal: "53703"}, Certain, "birth_date", "transposed"},
		{"name and date only", Record{Given: "William", Family: "Garcia", BirthDate: "2015-03-04", Sex: "M"}, Probable, "birth_date", "agree"},
		{"twin", Record{Given: "Oliver", Family: "Garcia", BirthDate: "2015-03-04", Sex: "M", Postal: "53703", Phone: "6085550100"}, Probable, "given", "disagree"},
		{"stranger", Record{Given: "Ana", Family: "Smith", BirthDate: "1980-11-30", Sex: "F", Postal: "10001"}, CertainlyNot, "family", "disagree"},
	} {
		got := m.Compare(c.in, reg)
		if got.Grade != c.grade || got.Levels[c.field] != c.level {
			t.Errorf("%s: grade %s (score %.3f, weight %.1f), %s %s; want %s, %s %s", c.name, got.Grade, got.Score, got.Weight, c.field, got.Levels[c.field], c.grade, c.field, c.level)
		}
	}
}

func TestIdentifierRule(t *testing.T) {
	m := mustNew(t)
	reg := Record{ID: "p1", Given: "Ann", Family: "Lee", BirthDate: "2001-01-01", Identifiers: []Identifier{{"urn:ma", "MA-123"}}}
	got := m.Compare(Record{Family: "Leigh", BirthDate: "2001-01-01", Identifiers: []Identifier{{"urn:ma", "ma123"}}}, reg)
	if got.Grade != Certain || got.Rule != "identifier" || got.Score != 1 {
		t.Errorf("identifier + birth date: %+v, want certain by rule identifier", got)
	}
	// the same id on someone of another birth date and name is not certain
	got = m.Compare(Record{Family: "Smith", BirthDate: "1970-06-06", Identifiers: []Identifier{{"urn:ma", "MA123"}}}, reg)
	if got.Grade == Certain {
		t.Errorf("identifier alone, nothing else agreeing: %+v, want no certain match", got)
	}
}

func TestMatchOutcomes(t *testing.T) {
	m := mustNew(t)
	st := NewMemStore(m)
	for _, r := range []Record{
		{ID: "a", Given: "Mary", Family: "Jones", BirthDate: "2010-05-06", Sex: "F", Postal: "53703", Phone: "6085550101"},
		{ID: "b", Given: "Maria", Family: "Jones", BirthDate: "2010-05-06", Sex: "F", Postal: "53703", Phone: "6085550101"}, // twin with a close name
		{ID: "c", Given: "Noah", Family: "Brown", BirthDate: "1999-12-31", Sex: "M", Postal: "53711"},
	} {
		if err := st.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	for _, c := range []struct {
		in   Record
		want Outcome
		best string
	}{
		{Record{ID: "1", Given: "Noah", Family: "Browne", BirthDate: "1999-12-31", Sex: "M", Postal: "53711"}, Matched, "c"},
		{Record{ID: "2", Given: "Mari", Family: "Jones", BirthDate: "2010-05-06", Sex: "F", Postal: "53703", Phone: "6085550101"}, Ambiguous, ""},
		{Record{ID: "3", Given: "Zed", Family: "Quux", BirthDate: "1950-01-01", Sex: "M", Postal: "99999"}, NotFound, ""},
	} {
		res, err := m.Match(ctx, st, c.in)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != c.want || res.Input != c.in.ID {
			t.Errorf("input %s: %s (%+v), want %s", c.in.ID, res.Outcome, res.Candidates, c.want)
		}
		if c.best != "" && (res.Best() == nil || res.Best().ID != c.best) {
			t.Errorf("input %s: best %+v, want %s", c.in.ID, res.Best(), c.best)
		}
		for i := 1; i < len(res.Candidates); i++ {
			if res.Candidates[i].Score > res.Candidates[i-1].Score {
				t.Errorf("input %s: candidates not ordered by score", c.in.ID)
			}
		}
	}
}

func TestAllKeepsOrderAndEveryRow(t *testing.T) {
	m := mustNew(t)
	st := NewMemStore(m)
	st.Add(Record{ID: "x", Given: "Ann", Family: "Lee", BirthDate: "2001-01-01", Sex: "F", Postal: "53703"})
	n, i := 500, 0
	var got []string
	err := m.All(context.Background(), st, func() (Record, bool, error) {
		if i == n {
			return Record{}, false, nil
		}
		i++
		return Record{ID: strings.Repeat("r", i%7) + string(rune('0'+i%10)), Given: "Ann", Family: "Lee", BirthDate: "2001-01-01"}, true, nil
	}, 3, func(in Record, res Result) error {
		if in.ID != res.Input {
			t.Fatalf("emit paired input %q with result %q", in.ID, res.Input)
		}
		got = append(got, in.ID)
		return nil
	})
	if err != nil || len(got) != n {
		t.Fatalf("All: %d results, err %v; want %d", len(got), err, n)
	}
	for k := range got {
		j := k + 1
		if want := strings.Repeat("r", j%7) + string(rune('0'+j%10)); got[k] != want {
			t.Fatalf("result %d is %q, want %q (input order)", k, got[k], want)
		}
	}
	stop := errors.New("stop")
	i = 0
	err = m.All(context.Background(), st, func() (Record, bool, error) { i++; return Record{ID: "r"}, i < 100, nil }, 2,
		func(Record, Result) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("All after an emit error: %v, want it back", err)
	}
}

func TestConfigProblems(t *testing.T) {
	for src, wants := range map[string][]string{
		"fields:\n  given: {agree: 4, simlar: 2}\n  shoe_size: {agree: 1}\nthreshold: {}\n": {
			`m.yaml:2:21: unknown level "simlar" in fields.given`,
			`m.yaml:3:3: unknown field "shoe_size"`,
			`m.yaml:4:1: unknown key "threshold"`,
		},
		"thresholds:\n  certain: 1.5\nblocking:\n  keys: [birth_date, zodiac]\nrules:\n  - name: x\n    require: [identifier:maybe]\n": {
			`m.yaml:2:12: thresholds.certain: want a score in (0, 1]`,
			`m.yaml:4:22: blocking.keys: unknown key "zodiac"`,
			`m.yaml:7:15: rules[0].require: unknown level "maybe" of identifier`,
		},
	} {
		_, err := Parse("m.yaml", []byte(src))
		var l *diag.List
		if !errors.As(err, &l) {
			t.Fatalf("Parse: %v, want a diag.List", err)
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("problems:\n%v\nwant one starting %q", err, want)
			}
		}
	}
	c, err := Parse("ok.yaml", []byte("thresholds: {certain: 0.9}\nfields:\n  phone: {agree: 5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Thresholds.Certain != 0.9 || c.Fields["phone"]["agree"] != 5 || c.Fields["phone"]["disagree"] != -0.5 || len(c.Rules) != 1 {
		t.Errorf("overrides do not merge with the defaults: %+v", c)
	}
}

func TestFHIRPatientRecord(t *testing.T) {
	p, err := ParsePatient([]byte(`{"resourceType":"Patient","id":"p9",
	 "identifier":[{"type":{"coding":[{"code":"MA"}]},"system":"urn:ma","value":"M1"}],
	 "name":[{"use":"old","family":"Old","given":["X"]},{"use":"official","family":"Núñez","given":["Ana","María"]}],
	 "gender":"female","birthDate":"2012-02-03",
	 "telecom":[{"system":"email","value":"a@b"},{"system":"phone","value":"608-555-0199"}],
	 "address":[{"use":"old","postalCode":"11111"},{"postalCode":"53703"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Record()
	want := Record{ID: "p9", Given: "Ana", Middle: "María", Family: "Núñez", BirthDate: "2012-02-03", Sex: "female",
		Postal: "53703", Phone: "608-555-0199", Identifiers: []Identifier{{"urn:ma", "M1"}}}
	if r.ID != want.ID || r.Given != want.Given || r.Middle != want.Middle || r.Family != want.Family || r.Postal != want.Postal ||
		r.Phone != want.Phone || len(r.Identifiers) != 1 || r.Identifiers[0] != want.Identifiers[0] || p.Identifier[0].TypeCode() != "MA" {
		t.Errorf("Record() = %+v, want %+v", r, want)
	}
}

func TestBlockingCaps(t *testing.T) {
	cfg, err := Parse("caps.yaml", []byte("blocking: {keys: [birth_date, phone], max_block: 2, max_candidates: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := NewMemStore(m)
	for i, g := range []string{"Ann", "Bea", "Cy"} { // three on one birth date: over max_block
		st.Add(Record{ID: g, Given: g, Family: "Lee", BirthDate: "2001-01-01", Phone: "608555010" + string(rune('0'+i))})
	}
	res, err := m.Match(context.Background(), st, Record{ID: "in", Given: "Ann", Family: "Lee", BirthDate: "2001-01-01", Phone: "6085550100"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SkippedBlocks != 1 || res.Compared != 1 || res.Candidates[0].ID != "Ann" {
		t.Errorf("birth-date block over max_block: %+v, want it skipped and Ann found by phone", res)
	}
	cfg.Blocking.MaxBlock = 10
	m2, _ := New(cfg)
	st2 := NewMemStore(m2)
	for i := range 5 {
		st2.Add(Record{ID: "t" + string(rune('0'+i)), Given: "Tom", Family: "Ray", BirthDate: "1990-01-0" + string(rune('1'+i)), Phone: "6085550199"})
	}
	res, _ = m2.Match(context.Background(), st2, Record{ID: "in", Given: "Tom", Family: "Ray", Phone: "6085550199"})
	if !res.Truncated || res.Compared != 3 {
		t.Errorf("five on one phone, max_candidates 3: %+v, want 3 compared and Truncated", res)
	}
}

package roster

import (
	"bytes"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/match"
)

func TestCSVRoundTrip(t *testing.T) {
	in := []match.Record{
		{ID: "a", Given: "Ana, María", Family: "Núñez", BirthDate: "2012-02-03", Sex: "F", Postal: "53703", Phone: "608-555-0199",
			Identifiers: []match.Identifier{{System: "urn:ma", Value: "M1"}, {System: "urn:mr", Value: "7"}}},
		{ID: "b", Family: "Lee"},
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range in {
		w.Write(r)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(&buf, "r.csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		got, ok, err := rd.Next()
		if err != nil || !ok {
			t.Fatalf("row %d: ok %v, %v", i, ok, err)
		}
		if got.ID != in[i].ID || got.Given != in[i].Given || got.Family != in[i].Family || len(got.Identifiers) != len(in[i].Identifiers) {
			t.Errorf("row %d: %+v, want %+v", i, got, in[i])
		}
	}
	if _, ok, err := rd.Next(); ok || err != nil {
		t.Errorf("after the last row: ok %v, err %v", ok, err)
	}
}

func TestCSVProblems(t *testing.T) {
	for src, want := range map[string]string{
		"":                                    "r.csv: empty roster",
		"given,zip\n":                         `r.csv:1:2: unknown column "zip"`,
		"given,birth_date\nA,2012-02-03\n":    "r.csv:1:1: want a family or an identifiers column",
		"family,birth_date\nLee,3 Feb 2012\n": `r.csv:2:5: birth_date: want YYYY-MM-DD`,
		"family,identifiers\nLee,urn:ma M1\n": `r.csv:2:5: identifiers: want system|value pairs`,
		"family,family\n":                     `r.csv:1:2: column "family" twice`,
	} {
		rd, err := NewReader(strings.NewReader(src), "r.csv")
		if err == nil {
			_, _, err = rd.Next()
		}
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "2012") || strings.Contains(err.Error(), "M1") {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
	rd, _ := NewReader(strings.NewReader("family,birth_date\nLee,2/3/2012\nLee,20120203\n"), "r.csv")
	for range 2 {
		if _, ok, err := rd.Next(); !ok || err != nil {
			t.Errorf("M/D/YYYY and YYYYMMDD dates: %v", err)
		}
	}
	// no id column: the row number stands in
	rd, _ = NewReader(strings.NewReader("family\nLee\nKim\n"), "r.csv")
	rd.Next()
	if r, _, _ := rd.Next(); r.ID != "2" {
		t.Errorf("second row without id: id %q, want 2", r.ID)
	}
}

func TestGenerateKindsAndTruth(t *testing.T) {
	ps := make([]match.Record, 3000)
	for i := range ps {
		ps[i] = Person(2, i)
	}
	rows, err := Generate(ps, Config{Seed: 2, Rows: 2000})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Generate(ps, Config{Seed: 2, Rows: 2000})
	seen := map[string]bool{}
	kinds := map[string]int{}
	for i, r := range rows {
		kinds[r.Kind]++
		if a := again[i]; r.ID != a.ID || r.Given != a.Given || r.Family != a.Family || r.BirthDate != a.BirthDate || r.Person != a.Person || r.Kind != a.Kind {
			t.Fatalf("row %d differs between two runs of the same seed", i)
		}
		if (r.Person == "") != (r.Kind == NonMember || r.Kind == Lookalike) {
			t.Errorf("row %s: kind %s with person %q", r.ID, r.Kind, r.Person)
		}
		if r.Person != "" {
			if seen[r.Person] {
				t.Errorf("person %s on two rows", r.Person)
			}
			seen[r.Person] = true
		}
	}
	for _, k := range Kinds() {
		if kinds[k] == 0 {
			t.Errorf("no row of kind %s in 2000", k)
		}
	}
	if _, err := Generate(ps[:10], Config{Rows: 11}); err == nil {
		t.Error("more rows than persons: no error")
	}
}

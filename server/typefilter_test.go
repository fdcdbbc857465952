package server

import (
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

func TestDateRange(t *testing.T) {
	d := func(y int, m time.Month, day, h, mi, s int) time.Time {
		return time.Date(y, m, day, h, mi, s, 0, time.UTC)
	}
	cases := []struct {
		in         string
		start, end time.Time
	}{
		{"2019", d(2019, 1, 1, 0, 0, 0), d(2020, 1, 1, 0, 0, 0)},
		{"2019-02", d(2019, 2, 1, 0, 0, 0), d(2019, 3, 1, 0, 0, 0)},
		{"2019-12-31", d(2019, 12, 31, 0, 0, 0), d(2020, 1, 1, 0, 0, 0)},
		{"2019-05-20T09:30:00-05:00", d(2019, 5, 20, 14, 30, 0), d(2019, 5, 20, 14, 30, 1)},
		{"2019-05-20T09:30Z", d(2019, 5, 20, 9, 30, 0), d(2019, 5, 20, 9, 31, 0)},
		{"2019-05-20T09:30:00.250+00:00", d(2019, 5, 20, 9, 30, 0).Add(250 * time.Millisecond), d(2019, 5, 20, 9, 30, 0).Add(251 * time.Millisecond)},
	}
	for _, c := range cases {
		s, e, ok := dateRange(c.in)
		if !ok || !s.Equal(c.start) || !e.Equal(c.end) {
			t.Errorf("dateRange(%q) = %v, %v, %v; want %v, %v", c.in, s, e, ok, c.start, c.end)
		}
	}
	for _, bad := range []string{"", "19", "2019-13", "2021-02-30", "2019-01-01T25:00:00Z", "yesterday", "2019-01-01 10:00"} {
		if _, _, ok := dateRange(bad); ok {
			t.Errorf("dateRange(%q) accepted", bad)
		}
	}
}

func TestDatePrefixes(t *testing.T) {
	// Target values against search values, FHIR range semantics.
	cases := []struct {
		search, target string
		want           bool
	}{
		{"2019", "2019-05-20", true},
		{"eq2019-05", "2019-05-20T09:30:00Z", true},
		{"eq2019-05-20", "2019-05", false}, // target range wider than the search range
		{"ne2019-05", "2019-06-01", true},
		{"ne2019-05", "2019-05-31", false},
		{"lt2019-05-20", "2019-05-19", true},
		{"lt2019-05-20", "2019-05-20", false},
		{"lt2019-05-20", "2019-05", true}, // partial target starts before
		{"gt2019-05-20", "2019-05-21", true},
		{"gt2019-05-20", "2019-05-20T23:59:59Z", false},
		{"le2019-05-20", "2019-05-20T10:00:00Z", true},
		{"le2019-05-20", "2019-05-21", false},
		{"ge2019-05-20", "2019-05-20", true},
		{"ge2019-05-20", "2019-05-19", false},
		{"sa2019-05", "2019-06-01", true},
		{"sa2019-05", "2019-05-31", false},
		{"eb2019-05", "2019-04-30", true},
		{"eb2019-05", "2019-05-01", false},
		{"ge2019-05-20T10:00:00+02:00", "2019-05-20T08:00:00Z", true},
		{"gt2019-05-20T10:00:00+02:00", "2019-05-20T08:00:00Z", false},
	}
	for _, c := range cases {
		test, err := dateTest(c.search)
		if err != nil {
			t.Fatalf("%s: %v", c.search, err)
		}
		s, e, ok := dateRange(c.target)
		if !ok {
			t.Fatalf("target %s", c.target)
		}
		if got := test(s, e); got != c.want {
			t.Errorf("%s vs %s = %v, want %v", c.search, c.target, got, c.want)
		}
	}
	if _, err := dateTest("xx2019"); err == nil {
		t.Error("unknown prefix accepted")
	}
}

func TestTypeFilterTokensAndStrings(t *testing.T) {
	imm := fakeImms[1].resource() // i2: completed, CVX 20, LOT-B7, Location/clinic-1
	pat := fakePatients[3].resource()
	served := func(t string) bool { return t == "Patient" || t == "Immunization" }
	cases := []struct {
		q    string
		r    *fhirout.Object
		want bool
	}{
		{"Immunization?status=completed", imm, true},
		{"Immunization?status=http://hl7.org/fhir/event-status|completed", imm, true},
		{"Immunization?status=http://other|completed", imm, false},
		{"Immunization?status:not=completed", imm, false},
		{"Immunization?status:not=not-done", imm, true},
		{"Immunization?vaccine-code=20", imm, true},
		{"Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|", imm, true},
		{"Immunization?vaccine-code=|20", imm, false}, // |code means no system
		{"Immunization?vaccine-code=08,20", imm, true},
		{"Immunization?lot-number=lot-b", imm, true},
		{"Immunization?lot-number:exact=lot-b7", imm, false},
		{"Immunization?lot-number:exact=LOT-B7", imm, true},
		{"Immunization?location=Location/clinic-1", imm, true},
		{"Immunization?location=clinic-1", imm, true},
		{"Immunization?location=clinic-2", imm, false},
		{"Immunization?status=completed&date=lt2019-05-20", imm, false}, // AND
		{"Patient?gender=unknown&address-postalcode=55401", pat, true},
		{"Patient?identifier=MR-1004", pat, true},
		{"Patient?identifier=urn:oid:1.2.3|MR-1004", pat, false},
		{"Patient?birthdate=2001", pat, true},
	}
	for _, c := range cases {
		typ, fq, bad, err := parseTypeFilter(c.q, served)
		if err != nil || bad != nil {
			t.Fatalf("%s: %v %v", c.q, err, bad)
		}
		if got := (typeFilters{typ: {fq}}).match(c.r); got != c.want {
			t.Errorf("%s = %v, want %v", c.q, got, c.want)
		}
	}
	for _, bad := range []string{"Immunization", "Immunization?", "Immunization?patient=Patient/1", "Observation?code=x", "Immunization?date:missing=true", "Immunization?status="} {
		if _, _, clauses, err := parseTypeFilter(bad, served); err == nil && clauses == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	got := splitTypeFilters("Immunization?status=completed,not-done,Patient?gender=male,Immunization?date=ge2020")
	if len(got) != 3 || got[0] != "Immunization?status=completed,not-done" || got[1] != "Patient?gender=male" {
		t.Errorf("split %q", got)
	}
}

func TestQueryKeepsPlus(t *testing.T) {
	ps, err := parseQueryKeepPlus("_outputFormat=application/fhir+ndjson&_since=2024-01-01T00:00:00+05:00&x=a%2Bb%20c")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"application/fhir+ndjson", "2024-01-01T00:00:00+05:00", "a+b c"}
	for i, p := range ps {
		if p.value != want[i] {
			t.Errorf("%s = %q, want %q", p.name, p.value, want[i])
		}
	}
}

func TestRecentIDs(t *testing.T) {
	r := newRecentIDs(3)
	for i, c := range []struct {
		h    uint64
		want bool
	}{{1, false}, {2, false}, {1, true}, {3, false}, {4, false}, {1, false}, {4, true}, {2, false}} {
		if got := r.add(c.h); got != c.want {
			t.Errorf("step %d: add(%d) = %v, want %v", i, c.h, got, c.want)
		}
	}
	if r.len() != 3 {
		t.Errorf("window holds %d ids, want 3", r.len())
	}
}

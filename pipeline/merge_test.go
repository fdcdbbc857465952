package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/index"
)

func obj(t testing.TB, s string) *fhirout.Object {
	t.Helper()
	o, err := fhirout.ParseObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestMergePatientsPrecedence(t *testing.T) {
	newest := obj(t, `{"resourceType":"Patient","identifier":[{"system":"s/a","value":"A1"}],
		"name":[{"family":"JONES","given":["ANN"]}],"gender":"female",
		"address":[{"line":["9 ELM"],"city":"SALEM"}]}`)
	middle := obj(t, `{"resourceType":"Patient","identifier":[{"system":"s/b","value":"B7"}],
		"name":[{"family":"SMITH","given":["ANN"]}],"birthDate":"2020-01-01","gender":"male",
		"address":[{"line":["1 MAIN"],"city":"BOSTON"}],"telecom":[{"system":"phone","value":"555"}]}`)
	oldest := obj(t, `{"resourceType":"Patient","identifier":[{"system":"s/a","value":"A1"}],
		"name":[{"family":"SMITH","given":["ANN"]}],"birthDate":"2019-12-31",
		"address":[{"line":["1 MAIN"],"city":"BOSTON"}]}`)
	got := MergePatients([]*fhirout.Object{newest, middle, oldest}).String()
	want := `{"resourceType":"Patient","identifier":[{"system":"s/a","value":"A1"},{"system":"s/b","value":"B7"}],` +
		`"name":[{"family":"JONES","given":["ANN"]},{"family":"SMITH","given":["ANN"],"use":"old"}],"gender":"female",` +
		`"address":[{"line":["9 ELM"],"city":"SALEM"},{"line":["1 MAIN"],"city":"BOSTON","use":"old"}],` +
		`"birthDate":"2020-01-01","telecom":[{"system":"phone","value":"555"}]}`
	if got != want {
		t.Fatalf("merged\n got %s\nwant %s", got, want)
	}
}

// rec builds a dose record as one message of a person reported it.
func rec(t testing.TB, seq int64, org, fill, cvx, date, status string, primary bool, rsp bool) *doseRec {
	t.Helper()
	s := `{"resourceType":"Immunization","status":"` + status + `","vaccineCode":{"coding":[{"system":"` + cvxSystem + `","code":"` + cvx + `"}]},` +
		`"occurrenceDateTime":"` + date + `","primarySource":` + map[bool]string{true: "true", false: "false"}[primary]
	if fill != "" {
		s += `,"identifier":[{"type":{"coding":[{"code":"FILL"}]},"system":"s/` + org + `","value":"` + fill + `"}]`
	}
	s += `,"lotNumber":"L` + strings.ReplaceAll(fill+cvx, "-", "") + `"}`
	mm := index.NewMessage(seq, sources.Location{}, org, time.Unix(seq, 0))
	m := &mm
	o := obj(t, s)
	return newDoseSpec(mapping.Default().Reduction("Immunization")).read(o).rec(o, fromMessage(m), int(seq)*100, rsp)
}

func TestReduceDoses(t *testing.T) {
	recs := []*doseRec{
		rec(t, 1, "A", "A-1", "08", "2024-01-01", "completed", true, false),  // given by A
		rec(t, 2, "B", "B-9", "8", "2024-01-01", "completed", false, false),  // B's historical copy (CVX 8 = 08)
		rec(t, 3, "IIS", "I-1", "08", "2024-01-01", "completed", true, true), // RSP copy
		rec(t, 4, "A", "A-1", "08", "2024-01-01", "completed", true, false),  // U: same order again
		rec(t, 5, "B", "B-2", "20", "2024-03-01", "completed", true, false),  // given by B
		rec(t, 6, "B", "B-2", "20", "2024-03-01", "entered-in-error", true, false),
		rec(t, 7, "C", "C-404", "21", "2024-01-15", "entered-in-error", true, false), // never seen
		rec(t, 8, "C", "", "03", "2024-02-01", "completed", true, false),             // no ORC-3
		rec(t, 9, "C", "", "03", "2024-02-01", "completed", true, false),             // resent
	}
	doses, unseen := reduceDoses(recs)
	var got []string
	for _, d := range doses {
		s := d.key + "=" + str(d.obj, "lotNumber")
		if d.deleted {
			s += "/deleted@" + d.deletedAt.Format("05")
		}
		got = append(got, s)
	}
	want := "03|2024-02-01=L03 08|2024-01-01=LA108 20|2024-03-01=LB220/deleted@06"
	if strings.Join(got, " ") != want {
		t.Fatalf("doses %v\nwant %s", got, want)
	}
	// The chosen 08 record is A's latest (the U), and the dose was last
	// updated by the latest record behind it.
	for _, d := range doses {
		if d.key == "08|2024-01-01" && (d.lastUpdated != time.Unix(4, 0) || len(d.records) != 4) {
			t.Fatalf("08: lastUpdated %v, %d records", d.lastUpdated, len(d.records))
		}
	}
	if len(unseen) != 1 || unseen[0].rec.fill != newFillID("s/C", "C-404") {
		t.Fatalf("unseen %v", unseen)
	}
	// A later administered record of the same dose resurrects it.
	recs = append(recs, rec(t, 10, "D", "D-1", "20", "2024-03-01", "completed", true, false))
	doses, _ = reduceDoses(recs)
	for _, d := range doses {
		if d.key == "20|2024-03-01" && d.deleted {
			t.Fatal("dose re-reported after its deletion stays deleted")
		}
	}
}

// TestMergePatientsAbsentGivesWay: what the mapping sent absent
// (data-absent-reason identifier or name, gender unknown for an empty
// PID-8) does not override the values older messages carried, and stays
// only when no message had one.
func TestMergePatientsAbsentGivesWay(t *testing.T) {
	const dar = `{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}`
	const darID = `{"_system":` + dar + `,"_value":` + dar + `}`
	newest := obj(t, `{"resourceType":"Patient","identifier":[`+darID+`],"name":[`+dar+`],"gender":"unknown"}`)
	older := obj(t, `{"resourceType":"Patient","identifier":[{"system":"s/a","value":"A1"}],"name":[{"family":"SMITH"}],"gender":"male"}`)
	oldest := obj(t, `{"resourceType":"Patient","name":[{"family":"SMYTH"}],"gender":"female"}`)
	got := MergePatients([]*fhirout.Object{newest, older, oldest}).String()
	want := `{"resourceType":"Patient","gender":"male","identifier":[{"system":"s/a","value":"A1"}],` +
		`"name":[{"family":"SMITH"},{"family":"SMYTH","use":"old"}]}`
	if got != want {
		t.Fatalf("merged\n got %s\nwant %s", got, want)
	}
	// Nobody had an identifier or name: the absent ones stay.
	a := obj(t, `{"resourceType":"Patient","identifier":[`+darID+`],"name":[`+dar+`],"gender":"unknown"}`)
	b := obj(t, `{"resourceType":"Patient","identifier":[`+darID+`],"name":[`+dar+`]}`)
	got = MergePatients([]*fhirout.Object{a, b}).String()
	if !strings.Contains(got, `"identifier":[{"_system"`) || !strings.Contains(got, `"name":[{"extension"`) || !strings.Contains(got, `"gender":"unknown"`) {
		t.Errorf("absent-only merge lost the placeholders: %s", got)
	}
}

// TestFillIDPrintsAlike: fill ids are one when system|value prints alike
// (a "|" inside one of them), as when they were joined, and apart
// otherwise.
func TestFillIDPrintsAlike(t *testing.T) {
	if newFillID("a|b", "c") != newFillID("a", "b|c") {
		t.Error(`"a|b"+"c" and "a"+"b|c" are two fill ids`)
	}
	if newFillID("a", "b") == newFillID("", "a|b") || newFillID("a", "b") == newFillID("a", "c") {
		t.Error("distinct fill ids are one")
	}
	if newFillID("a", "b") != newFillID("a", "b") {
		t.Error("a fill id differs from itself")
	}
}

// TestMergeKeys: the list keys are built into one reused buffer as the
// joined, upper-cased strings they stand for, whatever was built before.
func TestMergeKeys(t *testing.T) {
	names := []string{
		`{"family":"Smith","given":["ann","b"],"prefix":["dr"],"suffix":["jr"]}`,
		`{"family":"Muñoz","given":["josé"]}`,
		`{"family":"straße","given":["ǆx"]}`,
		`{"given":["a"]}`,
	}
	addrs := []string{
		`{"line":["1 main st","apt 2"],"city":"boston","district":"x","state":"ma","postalCode":"02110","country":"us"}`,
		`{"line":["9 élm"],"city":"salem"}`,
		`{}`,
	}
	upper := func(parts ...string) string { return strings.ToUpper(strings.Join(parts, "|")) }
	buf := []byte("a longer key built before, which must not show through")
	for _, s := range names {
		o := obj(t, s)
		want := upper(str(o, "family"), strs(o, "given"), strs(o, "prefix"), strs(o, "suffix"))
		if buf = nameKey(buf[:0], o); string(buf) != want {
			t.Errorf("name key of %s: %q, want %q", s, buf, want)
		}
	}
	for _, s := range addrs {
		o := obj(t, s)
		want := upper(strs(o, "line"), str(o, "city"), str(o, "district"), str(o, "state"), str(o, "postalCode"), str(o, "country"))
		if buf = addressKey(buf[:0], o); string(buf) != want {
			t.Errorf("address key of %s: %q, want %q", s, buf, want)
		}
	}
	id := obj(t, `{"type":{"coding":[{"code":"MR"}]},"system":"s/a","value":"A1"}`)
	if buf = identifierKey(buf[:0], id); string(buf) != "s/a|A1|MR" {
		t.Errorf("identifier key %q", buf)
	}
}

// strs is o's strings at k joined by spaces, as the merge keys hold them.
func strs(o *fhirout.Object, k string) string { return string(appendStrs(nil, o, k)) }

package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/pipeline"
)

var allIDs = []string{
	"Immunization/i1", "Immunization/i2", "Immunization/i3", "Immunization/i4", "Immunization/i5", "Immunization/i6",
	"Patient/p1", "Patient/p2", "Patient/p3", "Patient/p4",
}

func TestKickoffEachLevelGETAndPOST(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		name, path string
		post       bool
		want       []string
	}{
		{"system GET", "/$export", false, append(slices.Clone(allIDs), "Group/empty-clinic", "Group/riverside")},
		{"system POST", "/$export", true, append(slices.Clone(allIDs), "Group/empty-clinic", "Group/riverside")},
		{"patient GET", "/Patient/$export", false, allIDs},
		{"patient POST", "/Patient/$export", true, allIDs},
		{"group GET", "/Group/riverside/$export", false, []string{"Immunization/i1", "Immunization/i2", "Immunization/i3", "Patient/p1", "Patient/p2"}},
		{"group POST", "/Group/riverside/$export", true, []string{"Immunization/i1", "Immunization/i2", "Immunization/i3", "Patient/p1", "Patient/p2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r *http.Response
			if c.post {
				r = h.kickPost(c.path, []map[string]any{{"name": "_outputFormat", "valueString": "application/fhir+ndjson"}})
			} else {
				r = h.kick(c.path, "_outputFormat=application/fhir+ndjson")
			}
			m := h.done(h.accepted(r))
			slices.Sort(c.want)
			if got := h.ids(m); !slices.Equal(got, c.want) {
				t.Errorf("exported %v\nwant %v", got, c.want)
			}
			wantReq := h.ts.URL + "/fhir" + c.path
			if !c.post {
				wantReq += "?_outputFormat=application/fhir+ndjson"
			}
			if m.Request != wantReq {
				t.Errorf("request %q, want %q", m.Request, wantReq)
			}
			if m.RequiresAccessToken {
				t.Error("requiresAccessToken true without a token endpoint")
			}
			if _, ok := m.raw["deleted"]; ok {
				t.Error("deleted listed without _since")
			}
			if len(m.Error) != 1 || m.Error[0].Type != "OperationOutcome" || m.Error[0].Count != 1 {
				t.Errorf("error files: %+v", m.Error)
			}
			tt, err := time.Parse(time.RFC3339, m.TransactionTime)
			if err != nil || time.Since(tt) > time.Minute {
				t.Errorf("transactionTime %q", m.TransactionTime)
			}
			if q := h.exp.lastQuery(); !q.AsOf.Equal(tt) && len(q.Types) > 0 {
				t.Errorf("Query.AsOf %v != transactionTime %v", q.AsOf, tt)
			}
		})
	}
	q := h.exp.lastQuery()
	if !slices.Equal(q.PatientIDs, []string{"p1", "p2"}) {
		t.Errorf("group export asked for patients %v", q.PatientIDs)
	}
}

func TestOutputFormatAliases(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	for _, f := range []string{"application/fhir+ndjson", "application%2Ffhir%2Bndjson", "application/ndjson", "ndjson"} {
		h.done(h.accepted(h.kick("/Patient/$export", "_outputFormat="+f)))
	}
	expectStatus(t, h.kick("/Patient/$export", "_outputFormat=text/csv"), 400, "_outputFormat")
	expectStatus(t, h.kick("/$export", "_outputFormat=application/fhir%20ndjson"), 400, "_outputFormat")
}

func TestHeadersRequired(t *testing.T) {
	h := newHarness(t, nil)
	expectStatus(t, h.do("GET", h.url("/fhir/$export"), "", "Prefer", "respond-async"), 400, "Accept: application/fhir+json")
	expectStatus(t, h.do("GET", h.url("/fhir/$export"), "", "Accept", "application/fhir+json"), 400, "Prefer: respond-async")
	expectStatus(t, h.do("GET", h.url("/fhir/$export"), "", "Accept", "application/json", "Prefer", "respond-async"), 400, "Accept")
	// Prefer is a comma list; other preferences ride along.
	h.done(h.accepted(h.do("GET", h.url("/fhir/Patient/$export"), "", "Accept", "application/fhir+json", "Prefer", "return=minimal, respond-async; wait=5")))
}

func TestSinceUntil(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	expectStatus(t, h.kick("/$export", "_since=yesterday"), 400, "_since")
	expectStatus(t, h.kick("/$export", "_since=2024-01-01"), 400, "not a FHIR instant")
	expectStatus(t, h.kick("/$export", "_since=2024-05-01T00:00:00Z&_until=2024-04-01T00:00:00Z"), 400, "_until")
	// A raw '+' in the offset must survive query parsing.
	m := h.done(h.accepted(h.kick("/Patient/$export", "_since=2024-03-01T12:00:00+05:00")))
	q := h.exp.lastQuery()
	if want := time.Date(2024, 3, 1, 7, 0, 0, 0, time.UTC); !q.Since.Equal(want) {
		t.Fatalf("Since = %v, want %v", q.Since, want)
	}
	got := h.ids(m)
	want := []string{"Immunization/i3", "Immunization/i4", "Immunization/i5", "Immunization/i6", "Patient/p2", "Patient/p3", "Patient/p4"}
	if !slices.Equal(got, want) {
		t.Errorf("since export %v, want %v", got, want)
	}
	if len(m.Deleted) != 1 || m.Deleted[0].Type != "Bundle" || m.Deleted[0].Count != 1 {
		t.Fatalf("deleted: %+v", m.Deleted)
	}
	b := h.lines(m.Deleted[0])[0]
	entry := b["entry"].([]any)[0].(map[string]any)["request"].(map[string]any)
	if b["type"] != "transaction" || entry["method"] != "DELETE" || entry["url"] != "Immunization/i0-gone" {
		t.Errorf("deleted bundle: %v", b)
	}
	h.done(h.accepted(h.kick("/Patient/$export", "_until=2024-03-01T10:00:00.000Z")))
	if q := h.exp.lastQuery(); !q.Until.Equal(time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("Until = %v", q.Until)
	}
}

func TestTypeParameter(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	expectStatus(t, h.kick("/$export", "_type=Observation"), 400, "Observation")
	expectStatus(t, h.kick("/Patient/$export", "_type=Group"), 400, "Group")
	expectStatus(t, h.kick("/$export", "_bogus=1"), 400, "_bogus")
	expectStatus(t, h.kick("/$export", "organizeOutputBy=Patient"), 400, "organizeOutputBy")

	// Comma lists and repeats are both accepted.
	m := h.done(h.accepted(h.kick("/Patient/$export", "_type=Patient&_type=Immunization")))
	if len(h.ids(m)) != 10 {
		t.Errorf("repeat _type: %v", h.ids(m))
	}
	m = h.done(h.accepted(h.kick("/Patient/$export", "_type=Patient")))
	if len(m.Output) != 1 || m.Output[0].Type != "Patient" || m.Output[0].Count != 4 {
		t.Errorf("_type=Patient output %+v", m.Output)
	}
	if q := h.exp.lastQuery(); !slices.Equal(q.Types, []string{"Patient"}) {
		t.Errorf("Query.Types %v", q.Types)
	}
	m = h.done(h.accepted(h.kick("/$export", "_type=Group")))
	if len(m.Output) != 1 || m.Output[0].Type != "Group" || m.Output[0].Count != 2 {
		t.Errorf("_type=Group output %+v", m.Output)
	}

	// Lenient: the bad value is dropped, a warning lands in the error file.
	st := h.accepted(h.kick("/Patient/$export", "_type=Patient,Observation&_bogus=1", "Prefer", "handling=lenient"))
	m = h.done(st)
	if len(m.Output) != 1 || m.Output[0].Type != "Patient" {
		t.Errorf("lenient output %+v", m.Output)
	}
	var warnings []string
	for _, it := range m.Error {
		for _, l := range h.lines(it) {
			for _, is := range l["issue"].([]any) {
				is := is.(map[string]any)
				if is["severity"] == "warning" {
					warnings = append(warnings, is["diagnostics"].(string))
				}
			}
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "_type") || !strings.Contains(warnings[1], "_bogus") {
		t.Errorf("lenient warnings %q", warnings)
	}
}

func TestTypeFilterEveryLevel(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	// Two Immunization filters are OR-ed; Patient is not named, so untouched.
	f := "_typeFilter=" + esc("Immunization?status=not-done") + "," + esc("Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|08,20&date=ge2019")
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/$export", []string{"Immunization/i1", "Immunization/i2", "Immunization/i3"}},
		{"/Patient/$export", []string{"Immunization/i1", "Immunization/i2", "Immunization/i3"}},
		{"/Group/riverside/$export", []string{"Immunization/i1", "Immunization/i2", "Immunization/i3"}},
	} {
		m := h.done(h.accepted(h.kick(c.path, "_type=Immunization,Patient&"+f)))
		got := h.ids(m)
		var imms []string
		for _, id := range got {
			if strings.HasPrefix(id, "Immunization/") {
				imms = append(imms, id)
			}
		}
		if !slices.Equal(imms, c.want) {
			t.Errorf("%s: immunizations %v, want %v", c.path, imms, c.want)
		}
		if n := len(got) - len(imms); (c.path == "/Group/riverside/$export" && n != 2) || (c.path != "/Group/riverside/$export" && n != 4) {
			t.Errorf("%s: Patients filtered although unnamed: %v", c.path, got)
		}
	}
	// Repeated _typeFilter parameters behave like a comma list.
	m := h.done(h.accepted(h.kick("/Patient/$export", "_typeFilter="+esc("Patient?gender=female&birthdate=lt2019-06")+"&_typeFilter="+esc("Patient?address-postalcode=5540&identifier=urn:oid:2.16.840.1.113883.3.72.5.9.1|MR-1004"))))
	if got := h.ids(m); !slices.Contains(got, "Patient/p1") || !slices.Contains(got, "Patient/p3") || !slices.Contains(got, "Patient/p4") || slices.Contains(got, "Patient/p2") {
		t.Errorf("patient filters: %v", got)
	}
	expectStatus(t, h.kick("/$export", "_typeFilter="+esc("Immunization?_include=Immunization:patient")), 400, "_typeFilter")
	expectStatus(t, h.kick("/$export", "_typeFilter="+esc("Immunization?date=last-week")), 400, "_typeFilter")
	expectStatus(t, h.kick("/$export", "_typeFilter="+esc("Observation?code=1234-5")), 400, "_typeFilter")
}

func TestElements(t *testing.T) {
	h := newHarness(t, nil)
	m := h.done(h.accepted(h.kick("/Patient/$export", "_elements=identifier,Immunization.lotNumber")))
	for _, it := range m.Output {
		for _, l := range h.lines(it) {
			var keys []string
			for k := range l {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var want []string
			switch it.Type {
			case "Patient":
				want = []string{"id", "identifier", "meta", "resourceType"}
			case "Immunization":
				want = []string{"id", "meta", "occurrenceDateTime", "patient", "resourceType", "status", "vaccineCode"}
				if l["id"] != "i3" && l["id"] != "i5" {
					want = []string{"id", "lotNumber", "meta", "occurrenceDateTime", "patient", "resourceType", "status", "vaccineCode"}
				}
			}
			if !slices.Equal(keys, want) {
				t.Errorf("%s/%v keys %v, want %v", it.Type, l["id"], keys, want)
			}
			tags, _ := l["meta"].(map[string]any)["tag"].([]any)
			if len(tags) != 1 || tags[0].(map[string]any)["code"] != "SUBSETTED" ||
				tags[0].(map[string]any)["system"] != "http://terminology.hl7.org/CodeSystem/v3-ObservationValue" {
				t.Errorf("%s/%v not tagged SUBSETTED: %v", it.Type, l["id"], l["meta"])
			}
		}
	}
	expectStatus(t, h.kick("/$export", "_elements=name.family"), 400, "_elements")
}

func TestPatientParameter(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	ref := func(id string) map[string]any {
		return map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + id}}
	}
	m := h.done(h.accepted(h.kickPost("/Patient/$export", []map[string]any{ref("p2"), ref("p3")})))
	if got, want := h.ids(m), []string{"Immunization/i3", "Immunization/i4", "Patient/p2", "Patient/p3"}; !slices.Equal(got, want) {
		t.Errorf("patient export %v, want %v", got, want)
	}
	m = h.done(h.accepted(h.kickPost("/Group/riverside/$export", []map[string]any{ref("p2")})))
	if got, want := h.ids(m), []string{"Immunization/i3", "Patient/p2"}; !slices.Equal(got, want) {
		t.Errorf("group+patient export %v, want %v", got, want)
	}
	expectStatus(t, h.kickPost("/Group/riverside/$export", []map[string]any{ref("p3")}), 400, "not members")
	expectStatus(t, h.kickPost("/Patient/$export", []map[string]any{ref("p9")}), 400, "patient")
	expectStatus(t, h.kickPost("/$export", []map[string]any{ref("p1")}), 400, "patient")
	expectStatus(t, h.kick("/Patient/$export", "patient=Patient/p1"), 400, "POST")
	expectStatus(t, h.kickPost("/Patient/$export", []map[string]any{{"name": "patient", "valueReference": map[string]any{"reference": "Observation/x"}}}), 400, "Patient/[id]")
}

func TestIncludeAssociatedData(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	// Query.Provenance is part of the Exporter contract: no need to list
	// Provenance among the exported types.
	h.done(h.accepted(h.kick("/$export", "includeAssociatedData=LatestProvenanceResources")))
	if q := h.exp.lastQuery(); !q.Provenance || !slices.Contains(q.Types, "Provenance") {
		t.Errorf("query %+v", q)
	}
	h.exp.types = []string{"Patient", "Immunization", "Provenance"}
	h.done(h.accepted(h.kickPost("/Patient/$export", []map[string]any{{"name": "includeAssociatedData",
		"valueCoding": map[string]any{"system": "http://hl7.org/fhir/uv/bulkdata/CodeSystem/include-associated-data", "code": "LatestProvenanceResources"}}})))
	if q := h.exp.lastQuery(); !q.Provenance || !slices.Contains(q.Types, "Provenance") {
		t.Errorf("query %+v", q)
	}
	expectStatus(t, h.kick("/$export", "includeAssociatedData=_custom"), 400, "includeAssociatedData")
}

func TestGroups(t *testing.T) {
	h := newHarness(t, nil)
	expectStatus(t, h.kick("/Group/nope/$export", ""), 404, "Group")
	m := h.done(h.accepted(h.kick("/Group/empty-clinic/$export", "")))
	if string(m.raw["output"]) != "[]" {
		t.Errorf("empty Group output %s, want []", m.raw["output"])
	}
	// A client bound to a Group sees only it.
	hdr := []string{"X-Client", "clinic", "X-Groups", "riverside"}
	expectStatus(t, h.kick("/Group/empty-clinic/$export", "", hdr...), 404, "")
	expectStatus(t, h.kick("/$export", "", hdr...), 403, "Group")
	expectStatus(t, h.do("GET", h.url("/fhir/Group/empty-clinic"), "", hdr...), 404, "")
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group"), "", hdr...), 200, `"id":"riverside"`)
	if strings.Contains(b, "empty-clinic") {
		t.Error("search shows another client's Group")
	}
	validate(t, []byte(b))
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group/riverside"), "", hdr...), 200, `"reference":"Patient/p1"`)
	validate(t, []byte(b))
	var g map[string]any
	json.Unmarshal([]byte(b), &g)
	if g["type"] != "person" || g["actual"] != true || g["quantity"] != 2.0 || g["managingEntity"].(map[string]any)["display"] != "Riverside Pediatrics" {
		t.Errorf("group resource %s", b)
	}
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group?identifier=RIVERSIDE^2.16.840.1.113883.3.72.5.30.1^ISO"), ""), 200, `"total":1`)
	validate(t, []byte(b))
	for _, q := range []string{"managing-entity:identifier=" + GroupIdentifierSystem + "|RIVERSIDE^2.16.840.1.113883.3.72.5.30.1^ISO",
		"identifier=" + GroupIdentifierSystem + "|RIVERSIDE^2.16.840.1.113883.3.72.5.30.1^ISO", "name=river", "_id=riverside"} {
		b = expectStatus(t, h.do("GET", h.url("/fhir/Group?"+q), "", hdr...), 200, `"total":1`)
		if !strings.Contains(b, `"id":"riverside"`) {
			t.Errorf("search %s: %s", q, b)
		}
	}
	expectStatus(t, h.do("GET", h.url("/fhir/Group?identifier=other|RIVERSIDE^2.16.840.1.113883.3.72.5.30.1^ISO"), "", hdr...), 200, `"total":0`)
	expectStatus(t, h.do("GET", h.url("/fhir/Group?_id=empty-clinic"), "", hdr...), 200, `"total":0`)
}

func TestGroupsFromMemberships(t *testing.T) {
	h := newHarness(t, nil)
	h.exp.members = []pipeline.Membership{
		{OrgKey: "NORTHCLINIC^2.16.840.1.113883.3.72.5.40.2^ISO", OrgName: "North Clinic", PatientID: "p3", First: time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC), Last: time.Date(2023, 10, 1, 0, 0, 0, 0, time.UTC)},
		{OrgKey: "NORTHCLINIC^2.16.840.1.113883.3.72.5.40.2^ISO", OrgName: "North Clinic", PatientID: "p4", First: time.Date(2013, 9, 9, 0, 0, 0, 0, time.UTC)},
		{OrgKey: "NORTHCLINIC^2.16.840.1.113883.3.72.5.40.2^ISO", OrgName: "North Clinic", PatientID: "p4", First: time.Date(2001, 2, 1, 0, 0, 0, 0, time.UTC)},
	}
	if err := h.s.RefreshGroups(t.Context()); err != nil {
		t.Fatal(err)
	}
	id := OrgGroupID("NORTHCLINIC^2.16.840.1.113883.3.72.5.40.2^ISO")
	if id != OrgGroupID("NORTHCLINIC^2.16.840.1.113883.3.72.5.40.2^ISO") || !strings.HasPrefix(id, "org-") {
		t.Fatalf("unstable id %q", id)
	}
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), ""), 200, `"quantity":2`)
	if !strings.Contains(b, `{"entity":{"reference":"Patient/p4"},"period":{"start":"2001-02-01T00:00:00Z"}}`) {
		t.Errorf("member period not the earliest evidence: %s", b)
	}
	m := h.done(h.accepted(h.kick("/Group/"+id+"/$export", "_type=Patient")))
	if got := h.ids(m); !slices.Equal(got, []string{"Patient/p3", "Patient/p4"}) {
		t.Errorf("learned group export %v", got)
	}
	// A refresh without the organization drops its Group; static ones stay.
	h.exp.members = nil
	if err := h.s.RefreshGroups(t.Context()); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), ""), 404, "")
	expectStatus(t, h.do("GET", h.url("/fhir/Group/riverside"), ""), 200, "")
}

func esc(s string) string {
	r := strings.NewReplacer("?", "%3F", "=", "%3D", "&", "%26", "|", "%7C", ",", "%2C", "/", "%2F", ":", "%3A")
	return r.Replace(s)
}

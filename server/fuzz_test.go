package server

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzKickoffParams feeds arbitrary query strings and Parameters bodies
// through kick-off parsing and validation: no panic, refusals with a
// client status and a bounded issue list, accepted specs only with served
// types.
func FuzzKickoffParams(f *testing.F) {
	f.Add("_type=Patient,Immunization&_since=2024-01-01T00:00:00Z", "", false)
	f.Add("_typeFilter=Patient%3Fgender%3Dfemale,Patient%3Fgender%3Dmale%26bogus%3D1", "", true)
	f.Add("_typeFilter=Immunization%3Fdate%3Dge2019-01%26vaccine-code%3Dhttp://hl7.org/fhir/sid/cvx%7C08,20", "", false)
	f.Add("_elements=identifier,Immunization.lotNumber&_outputFormat=ndjson", "", false)
	f.Add("_since=2024-01-01T00:00:00+24:00&_until=0000-01-01T00:00:00Z", "", true)
	f.Add("", `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}},{"name":"_type","valueString":"Patient","valueCode":"x"}]}`, false)
	f.Add("includeAssociatedData=LatestProvenanceResources", `{"resourceType":"Parameters","parameter":[{"name":"_since","valueInstant":"2020-02-29T23:59:60Z"}]}`, true)
	f.Add("_type=%zz", `[{"resourceType":7}]`, false)
	s := &Server{exporter: &fakeExporter{}}
	f.Fuzz(func(t *testing.T, query, body string, lenient bool) {
		method := "GET"
		if body != "" {
			method = "POST"
		}
		r := httptest.NewRequest(method, "/fhir/Patient/$export", strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/fhir+json")
		params, rerr := kickoffParams(r)
		var spec *exportSpec
		if rerr == nil {
			spec, rerr = s.buildSpec(params, levelPatient, lenient, method == "POST", &Principal{ClientID: "c"})
		}
		if rerr != nil {
			if !slices.Contains([]int{400, 403, 413, 415}, rerr.status) {
				t.Fatalf("status %d", rerr.status)
			}
			if len(rerr.issues) == 0 || len(rerr.issues) > maxIssues+1 {
				t.Fatalf("%d issues", len(rerr.issues))
			}
			return
		}
		served := s.servedTypes(levelPatient)
		for _, typ := range spec.query.Types {
			if !slices.Contains(served, typ) && typ != "Provenance" {
				t.Fatalf("unserved type %q accepted", typ)
			}
		}
		for typ := range spec.filters {
			if !slices.Contains(served, typ) {
				t.Fatalf("filter on unserved type %q", typ)
			}
		}
		if len(spec.warnings) > maxIssues+1 || len(spec.patientRefs) > maxPatientRefs {
			t.Fatalf("%d warnings, %d patients", len(spec.warnings), len(spec.patientRefs))
		}
		if since := spec.query.Since; !since.IsZero() && (since.Before(minInstant) || since.After(maxInstant)) {
			t.Fatalf("_since %v out of range", since)
		}
	})
}

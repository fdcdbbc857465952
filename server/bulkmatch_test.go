package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/pipeline"
)

func matchInput(id, given, family, birth, gender, zip string) map[string]any {
	p := map[string]any{"resourceType": "Patient", "id": id, "name": []any{map[string]any{"family": family, "given": []any{given}}}}
	if birth != "" {
		p["birthDate"] = birth
	}
	if gender != "" {
		p["gender"] = gender
	}
	if zip != "" {
		p["address"] = []any{map[string]any{"postalCode": zip}}
	}
	return map[string]any{"name": "resource", "resource": p}
}

// TestBulkMatch: one Bundle per input Patient, in order, tied to it by
// match-resource, entries graded and scored; an input with no match gets
// an OperationOutcome entry, never nothing.
func TestBulkMatch(t *testing.T) {
	h := newHarness(t, nil)
	params := []map[string]any{
		matchInput("c1", "Kid", "TESTCASE", "2019-03-14", "female", "55401"), // p1 exactly
		matchInput("c2", "Kid", "Testcase", "2020-02-11", "male", "55402"),   // p2, month and day swapped
		matchInput("c3", "Nobody", "Else", "1950-01-01", "male", "99999"),
		matchInput("c4", "Kid", "Testcase", "2019-03-14", "", ""), // name and date only: probable
	}
	m := h.done(h.accepted(h.kickPost("/Patient/$bulk-match", params)))
	if len(m.Output) != 1 || m.Output[0].Type != "Bundle" || len(m.Error) != 0 {
		t.Fatalf("manifest output %+v error %+v, want one Bundle file and no error file", m.Output, m.Error)
	}
	bundles := h.lines(m.Output[0])
	if len(bundles) != 4 {
		t.Fatalf("%d Bundles for 4 inputs", len(bundles))
	}
	type want struct {
		input, patient, grade string
		entries               int
	}
	for i, w := range []want{{"c1", "p1", "certain", 1}, {"c2", "p2", "certain", 1}, {"c3", "", "", 1}, {"c4", "p1", "probable", 1}} {
		b := bundles[i]
		ext := b["meta"].(map[string]any)["extension"].([]any)[0].(map[string]any)
		if ext["url"] != matchResourceExt || ext["valueReference"].(map[string]any)["reference"] != "Patient/"+w.input {
			t.Errorf("Bundle %d: match-resource %v, want Patient/%s", i, ext, w.input)
		}
		if b["type"] != "searchset" {
			t.Errorf("Bundle %d: type %v", i, b["type"])
		}
		entries, _ := b["entry"].([]any)
		if len(entries) != w.entries {
			t.Errorf("Bundle %d: %d entries, want %d: %v", i, len(entries), w.entries, b)
			continue
		}
		e := entries[0].(map[string]any)
		search := e["search"].(map[string]any)
		res := e["resource"].(map[string]any)
		if w.patient == "" {
			if search["mode"] != "outcome" || res["resourceType"] != "OperationOutcome" {
				t.Errorf("Bundle %d: no match should be one outcome entry, got %v", i, e)
			}
			continue
		}
		grade := search["extension"].([]any)[0].(map[string]any)
		if res["id"] != w.patient || search["mode"] != "match" || grade["url"] != matchGradeExt || grade["valueCode"] != w.grade {
			t.Errorf("Bundle %d: entry %v, want Patient/%s graded %s", i, e, w.patient, w.grade)
		}
		if sc, _ := search["score"].(float64); sc <= 0 || sc > 1 {
			t.Errorf("Bundle %d: score %v", i, search["score"])
		}
	}

	// onlyCertainMatches: the probable candidate of c4 is withheld, explained.
	m = h.done(h.accepted(h.kickPost("/Patient/$bulk-match", []map[string]any{params[3], {"name": "onlyCertainMatches", "valueBoolean": true}})))
	b := h.lines(m.Output[0])[0]
	e := b["entry"].([]any)[0].(map[string]any)
	if e["search"].(map[string]any)["mode"] != "outcome" {
		t.Errorf("onlyCertainMatches: %v, want only an outcome entry", b)
	}

	// A client bound to Groups learns the id only.
	m = h.done(h.accepted(h.kickPost("/Patient/$bulk-match", params[:1], "X-Client", "clinic", "X-Groups", "riverside")), "X-Client", "clinic")
	res := h.lines(m.Output[0], "X-Client", "clinic")[0]["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	if res["id"] != "p1" || res["birthDate"] != nil || res["name"] != nil {
		t.Errorf("Group-bound client got %v, want the id alone", res)
	}
}

func TestBulkMatchRefusals(t *testing.T) {
	h := newHarness(t, nil)
	expectStatus(t, h.do("GET", h.url("/fhir/metadata"), ""), http.StatusOK, opBulkMatch)
	noID := map[string]any{"name": "resource", "resource": map[string]any{"resourceType": "Patient", "birthDate": "2019-03-14"}}
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{noID}), http.StatusBadRequest, "needs an id")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", nil), http.StatusBadRequest, "at least one resource")
	in := matchInput("c1", "Kid", "Testcase", "2019-03-14", "female", "55401")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{in, {"name": "_type", "valueString": "Patient"}}), http.StatusBadRequest, "unknown parameter")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{in, in}), http.StatusBadRequest, "given twice")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{in, {"name": "count", "valueInteger": 0}}), http.StatusBadRequest, "count")
	expectStatus(t, h.do("POST", h.url("/fhir/Patient/$bulk-match"), `{"resourceType":"Parameters"}`, "Accept", "application/fhir+json"), http.StatusBadRequest, "respond-async")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{in}, "X-Client", "imm-only", "X-Types", "Immunization"), http.StatusForbidden, "Patient")
}

// Patients the exporter could not read would be wrong "not found"s: the
// job fails under the default policy, and completes with a WARN under warn.
func TestBulkMatchUnreadable(t *testing.T) {
	loss := pipeline.Loss{Records: 2, ByReason: map[string]int64{pipeline.UnreadableGone: 2}}
	in := []map[string]any{matchInput("c1", "Kid", "Testcase", "2019-03-14", "female", "55401")}
	for _, policy := range []string{"", UnreadableWarn} {
		h := newHarness(t, func(o *Options) {
			o.Exporter = &lossyExporter{fakeExporter: o.Exporter.(*fakeExporter), loss: loss}
			o.OnUnreadable = policy
		})
		r := h.wait(h.accepted(h.kickPost("/Patient/$bulk-match", in)))
		b := body(t, r)
		switch policy {
		case "":
			if r.StatusCode != http.StatusInternalServerError || !strings.Contains(b, "2 indexed source record(s) could not be read") {
				t.Errorf("default policy: %d %s, want the job failed naming the loss", r.StatusCode, b)
			}
		default:
			if r.StatusCode != http.StatusOK || !strings.Contains(h.logs(), "level=WARN") {
				t.Errorf("warn policy: %d %s, want done with a WARN logged", r.StatusCode, b)
			}
		}
	}
}

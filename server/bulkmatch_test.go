package server

import (
	"fmt"
	"slices"

	"iisbridge/match"
	"strings"
	"testing"
)

func matchInputPatient(id, birth, zip, mrn string) map[string]any {
	p := map[string]any{"resourceType": "Patient", "id": id, "name": []any{map[string]any{"family": "TESTCASE", "given": []any{"kid"}}},
		"gender": "female", "birthDate": birth, "address": []any{map[string]any{"postalCode": zip}}}
	if mrn != "" {
		p["identifier"] = []any{map[string]any{"system": mrnSystem, "value": mrn}}
	}
	return map[string]any{"name": "resource", "resource": p}
}

// matchResults runs a $bulk-match and returns, per input in order, its
// client id and "Patient/id:grade" of each entry.
func matchResults(t *testing.T, h *harness, params []map[string]any, hdr ...string) []string {
	t.Helper()
	m := h.done(h.accepted(h.kickPost("/Patient/$bulk-match", params, hdr...)), hdr...)
	if len(m.Output) != 1 || m.Output[0].Type != "Bundle" {
		t.Fatalf("manifest output %+v", m.Output)
	}
	var out []string
	for _, b := range h.lines(m.Output[0], hdr...) {
		if b["type"] != "searchset" {
			t.Errorf("Bundle type %v", b["type"])
		}
		ext := b["meta"].(map[string]any)["extension"].([]any)[0].(map[string]any)
		line := ext["valueReference"].(map[string]any)["reference"].(string) + " ->"
		entries, _ := b["entry"].([]any)
		for _, e := range entries {
			em := e.(map[string]any)
			search := em["search"].(map[string]any)
			grade := search["extension"].([]any)[0].(map[string]any)["valueCode"]
			line += fmt.Sprintf(" %s:%s", strings.TrimPrefix(em["fullUrl"].(string), h.url("/fhir/")), grade)
		}
		out = append(out, line)
	}
	return out
}

func TestBulkMatch(t *testing.T) {
	aud := &fakeAudit{}
	h := newHarness(t, func(o *Options) { o.Auditor = aud })
	inputs := []map[string]any{
		matchInputPatient("c1", "2019-03-14", "55401", ""),
		matchInputPatient("c2", "1970-01-01", "", "MR-1002"),
		matchInputPatient("c3", "1980-05-05", "99999", ""),
		matchInputPatient("c4", "2019-03-17", "55401", ""),
	}
	defer func() {
		if t.Failed() {
			t.Log(h.logs())
		}
	}()
	got := matchResults(t, h, inputs)
	want := []string{"Patient/c1 -> Patient/p1:certain", "Patient/c2 -> Patient/p2:certain", "Patient/c3 ->", "Patient/c4 -> Patient/p1:probable"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("bulk match:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = matchResults(t, h, append(inputs, map[string]any{"name": "onlyCertainMatches", "valueBoolean": true}))
	if got[3] != "Patient/c4 ->" || got[0] != want[0] {
		t.Errorf("onlyCertainMatches: %v", got)
	}
	// A client bound to a Group matches only within it.
	got = matchResults(t, h, inputs[:1], "X-Client", "clinic", "X-Groups", "empty-clinic")
	if got[0] != "Patient/c1 ->" {
		t.Errorf("bound client matched outside its Groups: %v", got)
	}
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{{"name": "resource", "resource": map[string]any{"resourceType": "Patient"}}}), 400, "id")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", []map[string]any{{"name": "x", "valueBoolean": true}}), 400, "onlySingleMatch")
	expectStatus(t, h.kickPost("/Patient/$bulk-match", inputs, "X-Client", "c", "X-Types", "Immunization"), 403, "Patient")
	aud.mu.Lock()
	evs := slices.Clone(aud.events)
	aud.mu.Unlock()
	if !slices.ContainsFunc(evs, func(e AuditEvent) bool { return e.Event == "match.kickoff" && e.Status == 202 && e.Job != "" }) {
		t.Errorf("no audit event for the $bulk-match kick-off: %+v", evs)
	}
	// The thresholds are the server's configuration.
	strict := match.Default()
	strict.Certain, strict.Probable = 0.99, 0.95
	h2 := newHarness(t, func(o *Options) { o.Match = &strict })
	if got := matchResults(t, h2, inputs[3:]); got[0] != "Patient/c4 -> Patient/p1:possible" {
		t.Errorf("with stricter thresholds: %v", got)
	}
}

package server

import (
	"slices"
	"strings"
	"testing"
)

func TestRosterUpload(t *testing.T) {
	h := newHarness(t, nil)
	payer := []string{"X-Client", "payer"}
	id := decode(t, expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("roster", "Patient/p4"), payer...), 201, ""))["id"].(string)
	csv := "Given,family,birth_date,sex,postal_code,phone,identifier\n" +
		"Kid,Testcase,2019-03-14,F,55401,,\n" +
		",,,,,," + mrnSystem + "|MR-1002\n" +
		"Kid,Testcase,1980-01-01,F,,,\n" +
		"Kid,Testcase,2019-03-17,F,55401,,\n" +
		",,,,,,\n"
	hdr := append([]string{"Content-Type", "text/csv"}, append(kickHeaders, payer...)...)
	r := h.do("POST", h.url("/fhir/Group/"+id+"/$roster?mode=replace"), csv, hdr...)
	m := h.done(h.accepted(r), payer...)
	var got []string
	for _, b := range h.lines(m.Output[0], payer...) {
		tag := b["meta"].(map[string]any)["tag"].([]any)[0].(map[string]any)["code"].(string)
		ref := b["meta"].(map[string]any)["extension"].([]any)[0].(map[string]any)["valueReference"].(map[string]any)["reference"].(string)
		got = append(got, ref+" "+tag)
	}
	want := []string{"Patient/row-1 matched", "Patient/row-2 matched", "Patient/row-3 not-found", "Patient/row-4 ambiguous", "Patient/row-5 invalid"}
	if !slices.Equal(got, want) {
		t.Errorf("roster report %v, want %v", got, want)
	}
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", payer...), 200, `"quantity":2`)
	if refs := memberRefs(decode(t, b)); !slices.Equal(refs, []string{"Patient/p1", "Patient/p2", "Patient/p4(inactive)"}) {
		t.Errorf("members after a replacing roster: %v", refs)
	}
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$roster"), "nom,prenom\nx,y\n", hdr...), 400, "unknown column")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$roster"), csv, "X-Client", "other", "Content-Type", "text/csv", "Accept", "application/fhir+json", "Prefer", "respond-async"), 404, "")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$roster?mode=x"), csv, hdr...), 400, "mode")
	if !strings.Contains(h.logs(), "group roster applied") {
		t.Error("no log line for the applied roster")
	}
}

package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func rosterPost(h *harness, path, csv string, hdr ...string) *http.Response {
	h.t.Helper()
	return h.do("POST", h.url("/fhir"+path), csv, append([]string{"Accept", "application/fhir+json", "Prefer", "respond-async", "Content-Type", "text/csv"}, hdr...)...)
}

// rowOutcomes reads a roster import's manifest: each row's match-resource
// reference with its outcome code, and the Group.
func rowOutcomes(t *testing.T, h *harness, m manifest, hdr ...string) (rows []string, group map[string]any) {
	t.Helper()
	for _, it := range m.Output {
		for _, r := range h.lines(it, hdr...) {
			switch r["resourceType"] {
			case "Group":
				group = r
			case "Bundle":
				ref := r["meta"].(map[string]any)["extension"].([]any)[0].(map[string]any)["valueReference"].(map[string]any)["reference"].(string)
				entries := r["entry"].([]any)
				last := entries[len(entries)-1].(map[string]any)["resource"].(map[string]any)
				is := last["issue"].([]any)[0].(map[string]any)
				diag := is["diagnostics"].(string)
				coding := is["details"].(map[string]any)["coding"].([]any)[0].(map[string]any)
				word := coding["code"].(string)
				if coding["system"] != RosterOutcomeSystem || word != "invalid" && !strings.HasPrefix(diag, word+":") {
					t.Errorf("row outcome %v: %s", coding, diag)
				}
				if strings.Contains(diag, "20x9-03-14") {
					t.Errorf("an invalid row's message quotes its value: %s", diag)
				}
				rows = append(rows, strings.TrimPrefix(ref, "Patient/")+"="+word)
			}
		}
	}
	return rows, group
}

// TestRosterImport: every row of a roster is reported (matched, a
// duplicate, ambiguous, not found, unreadable), only single certain
// matches join the new Group, a second import adds to it or replaces its
// members, and another client can neither see nor import into it.
func TestRosterImport(t *testing.T) {
	h := newHarness(t, nil)
	payer := []string{"X-Client", "payer"}
	csv := "id,given,family,birth_date,sex,postal_code,phone,identifiers\n" +
		"r1,Kid,Testcase,2019-03-14,female,55401,,\n" +
		"r2,KID,TESTCASE,2019-03-14,F,55401,,\n" +
		"r3,Nobody,Else,1950-01-01,male,99999,,\n" +
		"r4,Kid,Testcase,2019-03-14,,,,\n" +
		"r5,Kid,Testcase,20x9-03-14,female,55401,,\n" +
		`r6,Kid,Testcase,2020-11-02,male,55402,,urn:oid:2.16.840.1.113883.3.72.5.9.1|MR-1002` + "\n"
	m := h.done(h.accepted(rosterPost(h, "/Group/$roster-import?name=Plan%20roster", csv, payer...)), payer...)
	if len(m.Error) != 0 {
		t.Fatalf("error files %+v", m.Error)
	}
	rows, g := rowOutcomes(t, h, m, payer...)
	want := []string{"r1=matched", "r2=matched", "r3=not-found", "r4=ambiguous", "r5=invalid", "r6=matched"}
	if !slices.Equal(rows, want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	if g == nil || g["name"] != "Plan roster" || g["quantity"] != 2.0 {
		t.Fatalf("Group %v", g)
	}
	id := g["id"].(string)
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", payer...), 200, `"quantity":2`)
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p1", "Patient/p2"}) {
		t.Errorf("members %v", got)
	}
	// Add: p4 joins; replace: only p4 stays.
	p4 := "given,family,birth_date,sex,postal_code\nKid,Testcase,2001-01-30,unknown,55401-2202\n"
	m = h.done(h.accepted(rosterPost(h, "/Group/"+id+"/$roster-import", p4, payer...)), payer...)
	if rows, g = rowOutcomes(t, h, m, payer...); !slices.Equal(rows, []string{"1=matched"}) || g["quantity"] != 3.0 {
		t.Fatalf("add: rows %v, Group %v", rows, g)
	}
	m = h.done(h.accepted(rosterPost(h, "/Group/"+id+"/$roster-import?mode=replace", p4, payer...)), payer...)
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", payer...), 200, `"quantity":1`)
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p4"}) {
		t.Errorf("after replace: members %v", got)
	}
	// Another client: the Group is not there for it.
	other := []string{"X-Client", "other-org"}
	expectStatus(t, rosterPost(h, "/Group/"+id+"/$roster-import", p4, other...), 404, "")
	expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", other...), 404, "")
	expectStatus(t, h.kick("/Group/"+id+"/$export", "", other...), 404, "")
	expectStatus(t, h.do("DELETE", h.url("/fhir/Group/"+id), "", other...), 404, "")
	// A client bound to a Group matches within it only: p4 is outside.
	clinic := []string{"X-Client", "clinic", "X-Groups", "riverside"}
	m = h.done(h.accepted(rosterPost(h, "/Group/$roster-import", p4, clinic...)), clinic...)
	if rows, g = rowOutcomes(t, h, m, clinic...); !slices.Equal(rows, []string{"1=not-found"}) || g["quantity"] != 0.0 {
		t.Fatalf("bound client: rows %v, Group %v", rows, g)
	}
	// Bad requests.
	expectStatus(t, rosterPost(h, "/Group/$roster-import", "name,given\nx,y\n", payer...), 400, `unknown column \"name\"`)
	expectStatus(t, h.do("POST", h.url("/fhir/Group/$roster-import"), p4, "Accept", "application/fhir+json", "Prefer", "respond-async", "Content-Type", "application/json", "X-Client", "payer"), 415, "text/csv")
	expectStatus(t, rosterPost(h, "/Group/riverside/$roster-import", p4, payer...), 405, "maintained by the server")
	expectStatus(t, rosterPost(h, "/Group/$roster-import", p4, "X-Client", "reader", "X-Writes", ""), 403, "may not create Groups")
}

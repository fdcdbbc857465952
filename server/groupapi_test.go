package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/pipeline"
)

// clock is a settable time source for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func decode(t *testing.T, b string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

// memberRefs lists the members of a Group as "ref" or "ref(inactive)".
func memberRefs(g map[string]any) []string {
	var out []string
	ms, _ := g["member"].([]any)
	for _, m := range ms {
		mm := m.(map[string]any)
		ref := mm["entity"].(map[string]any)["reference"].(string)
		if mm["inactive"] == true {
			ref += "(inactive)"
		}
		out = append(out, ref)
	}
	return out
}

const mrnSystem = "urn:oid:2.16.840.1.113883.3.72.5.9.1"

func groupJSON(name string, members ...string) string {
	var ms []string
	for _, m := range members {
		if sys, val, ok := strings.Cut(m, "|"); ok {
			ms = append(ms, fmt.Sprintf(`{"entity":{"identifier":{"system":%q,"value":%q}}}`, sys, val))
		} else {
			ms = append(ms, fmt.Sprintf(`{"entity":{"reference":%q}}`, m))
		}
	}
	return fmt.Sprintf(`{"resourceType":"Group","type":"person","actual":true,"name":%q,
		"identifier":[{"system":"urn:example:payer","value":%q}],
		"managingEntity":{"reference":"Organization/payer-1","display":"Payer One"},
		"member":[%s]}`, name, name+"-id", strings.Join(ms, ","))
}

func params(ps ...string) string {
	var out []string
	for _, p := range ps {
		if sys, val, ok := strings.Cut(p, "|"); ok {
			out = append(out, fmt.Sprintf(`{"name":"memberId","valueIdentifier":{"system":%q,"value":%q}}`, sys, val))
		} else {
			out = append(out, fmt.Sprintf(`{"name":"patientReference","valueReference":{"reference":%q}}`, p))
		}
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(out, ",") + `]}`
}

// TestClientManagedGroup walks a partner through the life of its Group
// over HTTP and checks that another client sees and changes nothing.
func TestClientManagedGroup(t *testing.T) {
	h := newHarness(t, nil)
	payer := []string{"X-Client", "payer"}
	other := []string{"X-Client", "other-org"}

	r := h.do("POST", h.url("/fhir/Group"), groupJSON("Plan members", "Patient/p1", mrnSystem+"|MR-1002"), payer...)
	b := expectStatus(t, r, 201, `"quantity":2`)
	validate(t, []byte(b))
	g := decode(t, b)
	id := g["id"].(string)
	loc := r.Header.Get("Location")
	if loc != h.url("/fhir/Group/"+id+"/_history/1") {
		t.Errorf("Location %q", loc)
	}
	// The Location reads the Group (vread of its current version).
	expectStatus(t, h.do("GET", loc, "", payer...), 200, `"versionId":"1"`)
	expectStatus(t, h.do("GET", loc, "", other...), 404, "")
	if got := memberRefs(g); !slices.Equal(got, []string{"Patient/p1", "Patient/p2"}) {
		t.Errorf("members %v (p2 by its MRN)", got)
	}
	if g["name"] != "Plan members" || g["managingEntity"].(map[string]any)["display"] != "Payer One" {
		t.Errorf("client's elements not kept: %s", b)
	}

	// Search and read by the owner.
	for _, q := range []string{"name=plan", "name:exact=Plan%20members", "identifier=urn:example:payer|Plan%20members-id",
		"managing-entity=Organization/payer-1", "_id=" + id} {
		b := expectStatus(t, h.do("GET", h.url("/fhir/Group?"+q), "", payer...), 200, "")
		if !strings.Contains(b, `"total":1`) || !strings.Contains(b, `"id":"`+id+`"`) {
			t.Errorf("search %s: %s", q, b)
		}
	}
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group?name=plan&_summary=count"), "", payer...), 200, `"total":1`)
	if strings.Contains(b, `"entry"`) {
		t.Errorf("_summary=count with entries: %s", b)
	}
	expectStatus(t, h.do("GET", h.url("/fhir/Group?name=zzz"), "", payer...), 200, `"total":0`)
	expectStatus(t, h.do("GET", h.url("/fhir/Group?code=x"), "", payer...), 400, "code")

	// Another client: 404 everywhere, absent from searches.
	expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", other...), 404, "")
	expectStatus(t, h.do("PUT", h.url("/fhir/Group/"+id), strings.Replace(groupJSON("x"), `"type"`, `"id":"`+id+`","type"`, 1), other...), 404, "")
	expectStatus(t, h.do("DELETE", h.url("/fhir/Group/"+id), "", other...), 404, "")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-add"), params("Patient/p3"), other...), 404, "")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-remove"), params("Patient/p1"), other...), 404, "")
	expectStatus(t, h.kick("/Group/"+id+"/$export", "", other...), 404, "")
	if b := expectStatus(t, h.do("GET", h.url("/fhir/Group"), "", other...), 200, ""); strings.Contains(b, id) {
		t.Errorf("another client's search shows the Group: %s", b)
	}

	// Update: a new name and member list.
	upd := strings.Replace(groupJSON("Plan members 2026", "Patient/p3"), `"type"`, `"id":"`+id+`","type"`, 1)
	r = h.do("PUT", h.url("/fhir/Group/"+id), upd, payer...)
	b = expectStatus(t, r, 200, `"versionId":"2"`)
	if r.Header.Get("Location") != h.url("/fhir/Group/"+id+"/_history/2") {
		t.Errorf("Location after PUT %q", r.Header.Get("Location"))
	}
	expectStatus(t, h.do("GET", r.Header.Get("Location"), "", payer...), 200, `"versionId":"2"`)
	expectStatus(t, h.do("GET", loc, "", payer...), 404, "current version")
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p3"}) {
		t.Errorf("after PUT members %v", got)
	}
	expectStatus(t, h.do("PUT", h.url("/fhir/Group/"+id), groupJSON("no id"), payer...), 400, "id")
	expectStatus(t, h.do("PUT", h.url("/fhir/Group/"+id), upd, append([]string{"If-Match", `W/"1"`}, payer...)...), 412, "version 2")
	expectStatus(t, h.do("PUT", h.url("/fhir/Group/"+id), upd, append([]string{"If-Match", `W/"2"`}, payer...)...), 200, `"versionId":"3"`)

	// A PUT without members empties the list.
	empty := strings.Replace(groupJSON("Plan members 2026"), `"type"`, `"id":"`+id+`","type"`, 1)
	expectStatus(t, h.do("PUT", h.url("/fhir/Group/"+id), empty, payer...), 200, `"quantity":0`)
	expectStatus(t, h.do("PUT", h.url("/fhir/Group/"+id), upd, payer...), 200, `"quantity":1`)

	// Add and remove members.
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-add"), params("Patient/p4", "Patient/p1"), payer...), 200, "2 member(s) added")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-remove"), params("Patient/p3", mrnSystem+"|MR-1001"), payer...), 200, "2 member(s) removed")
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", payer...), 200, `"quantity":1`)
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p1(inactive)", "Patient/p3(inactive)", "Patient/p4"}) {
		t.Errorf("after add/remove members %v", got)
	}
	if !strings.Contains(b, `"end":"`) {
		t.Errorf("removed member without period.end: %s", b)
	}

	// Export: the active member only.
	m := h.done(h.accepted(h.kick("/Group/"+id+"/$export", "", payer...)), payer...)
	if got := h.ids(m, payer...); !slices.Equal(got, []string{"Immunization/i5", "Immunization/i6", "Patient/p4"}) {
		t.Errorf("export of the Group: %v", got)
	}

	// Delete: gone for its owner too.
	r = h.do("DELETE", h.url("/fhir/Group/"+id), "", payer...)
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.StatusCode, body(t, r))
	}
	expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", payer...), 404, "")
	expectStatus(t, h.kick("/Group/"+id+"/$export", "", payer...), 404, "")
}

func TestGroupWritesRefused(t *testing.T) {
	h := newHarness(t, nil)
	readOnly := []string{"X-Client", "payer", "X-Writes", ""}
	createOnly := []string{"X-Client", "payer", "X-Writes", "Group.c"}
	expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("x", "Patient/p1"), readOnly...), 403, "system/Group.c")
	b := expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("x", "Patient/p1"), createOnly...), 201, "")
	id := decode(t, b)["id"].(string)
	expectStatus(t, h.do("DELETE", h.url("/fhir/Group/"+id), "", createOnly...), 403, "system/Group.d")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-add"), params("Patient/p2"), createOnly...), 403, "system/Group.u")

	payer := []string{"X-Client", "payer"}
	for _, c := range []struct{ body, want string }{
		{groupJSON("x", "Patient/nobody"), "name no Patient"},
		{groupJSON("x", mrnSystem+"|MR-9999"), "name no Patient"},
		{groupJSON("x", "Practitioner/1"), "not a Patient reference"},
		{strings.Replace(groupJSON("x"), `"person"`, `"device"`, 1), "Group.type"},
		{strings.Replace(groupJSON("x"), `"name"`, `"characteristic":[{}],"name"`, 1), "characteristic"},
		{`{"resourceType":"Patient"}`, "Group"},
		{`{"resourceType":"Group",`, "JSON"},
		{strings.Replace(groupJSON("x"), `"name"`, `"modifierExtension":[{"url":"urn:x"}],"name"`, 1), "not understood"},
	} {
		r := h.do("POST", h.url("/fhir/Group"), c.body, payer...)
		if r.StatusCode != 400 && r.StatusCode != 422 {
			t.Errorf("%s: status %d, want 400 or 422: %s", c.body, r.StatusCode, body(t, r))
			continue
		}
		expectStatus(t, r, r.StatusCode, c.want)
	}
	// The server's Groups are read-only.
	expectStatus(t, h.do("DELETE", h.url("/fhir/Group/riverside"), "", payer...), 405, "maintained by the server")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/riverside/$member-add"), params("Patient/p3"), payer...), 405, "")
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-add"), `{"resourceType":"Parameters","parameter":[{"name":"x","valueString":"y"}]}`, payer...), 400, "patientReference")
}

// TestGroupBoundClient: a client registered for one Group may build its
// own Groups only from that Group's members, and sees them beside it.
func TestGroupBoundClient(t *testing.T) {
	h := newHarness(t, nil)
	clinic := []string{"X-Client", "clinic", "X-Groups", "riverside"}
	expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("tomorrow", "Patient/p1", "Patient/p3"), clinic...), 422, "not members of this client's Groups")
	// Identifiers resolve within the client's reach only.
	expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("tomorrow", mrnSystem+"|MR-1003"), clinic...), 422, "name no Patient")
	b := expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("tomorrow", mrnSystem+"|MR-1002"), clinic...), 201, `"reference":"Patient/p2"`)
	id := decode(t, b)["id"].(string)
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group"), "", clinic...), 200, `"total":2`)
	if !strings.Contains(b, id) || !strings.Contains(b, "riverside") {
		t.Errorf("search %s", b)
	}
	// A nested Group's members are taken in.
	b = expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("panel copy", "Group/riverside"), clinic...), 201, `"quantity":2`)
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p1", "Patient/p2"}) {
		t.Errorf("nested Group members %v", got)
	}
	expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("x", "Group/empty-clinic"), clinic...), 400, "no such Group")
	m := h.done(h.accepted(h.kick("/Group/"+id+"/$export", "_type=Patient", clinic...)), clinic...)
	if got := h.ids(m, clinic...); !slices.Equal(got, []string{"Patient/p2"}) {
		t.Errorf("export %v", got)
	}
}

func TestGroupMemberPages(t *testing.T) {
	var many []string
	for i := range 2500 {
		many = append(many, fmt.Sprintf("x%05d", i))
	}
	h := newHarness(t, func(o *Options) {
		o.StaticGroups = append(slices.Clone(staticGroups), StaticGroup{ID: "big", Name: "Big", Members: many})
	})
	next := h.url("/fhir/Group/big")
	var got []string
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		r := h.do("GET", next, "")
		b := expectStatus(t, r, 200, `"quantity":2500`)
		validate(t, []byte(b))
		refs := memberRefs(decode(t, b))
		if len(refs) > maxMemberPage {
			t.Fatalf("%d members in one response", len(refs))
		}
		got = append(got, refs...)
		next = ""
		if l := r.Header.Get("Link"); l != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
			if !strings.Contains(b, "SUBSETTED") {
				t.Errorf("page with a next page not tagged SUBSETTED")
			}
		}
	}
	if len(got) != 2500 || !slices.IsSorted(got) || got[0] != "Patient/x00000" {
		t.Errorf("paged members: %d, sorted %v", len(got), slices.IsSorted(got))
	}
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group/big?_summary=true"), ""), 200, "SUBSETTED")
	if strings.Contains(b, `"member"`) {
		t.Error("_summary=true carries members")
	}
	r := h.do("GET", h.url("/fhir/Group/big?_count=10"), "")
	if refs := memberRefs(decode(t, expectStatus(t, r, 200, ""))); len(refs) != 10 || !strings.Contains(r.Header.Get("Link"), "_count=10") {
		t.Errorf("_count=10: %d members, Link %q", len(refs), r.Header.Get("Link"))
	}
	b = expectStatus(t, h.do("GET", h.url("/fhir/Group?_id=big"), ""), 200, `"total":1`)
	if n := len(memberRefs(decode(t, b)["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any))); n != maxMemberPage {
		t.Errorf("search entry carries %d members", n)
	}
	expectStatus(t, h.do("GET", h.url("/fhir/Group/big?_count=x"), ""), 400, "_count")
	if b := expectStatus(t, h.do("GET", h.url("/fhir/Group/big?_count=0"), ""), 200, "SUBSETTED"); strings.Contains(b, `"member"`) {
		t.Error("_count=0 carries members")
	}
	// The system-level export writes the whole Group.
	m := h.done(h.accepted(h.kick("/$export", "_type=Group")))
	for _, it := range m.Output {
		for _, l := range h.lines(it) {
			if l["id"] == "big" && len(l["member"].([]any)) != 2500 {
				t.Errorf("exported Group with %d members", len(l["member"].([]any)))
			}
		}
	}
}

// TestGroupExportSince: members who joined after _since get their whole
// history, the others what changed; `patient` outside the Group is a 400;
// an empty Group reads nothing.
func TestGroupExportSince(t *testing.T) {
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	h := newHarness(t, func(o *Options) { o.Now = clk.now })
	payer := []string{"X-Client", "payer"}
	id := decode(t, expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("g", "Patient/p1"), payer...), 201, ""))["id"].(string)
	clk.set(time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC))
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-add"), params("Patient/p2"), payer...), 200, "")
	clk.set(time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC))

	m := h.done(h.accepted(h.kick("/Group/"+id+"/$export", "_since=2030-01-15T00:00:00Z", payer...)), payer...)
	if got := h.ids(m, payer...); !slices.Equal(got, []string{"Immunization/i3", "Patient/p2"}) {
		t.Errorf("_since export %v: want p2's whole history and nothing of p1", got)
	}
	h.exp.mu.Lock()
	qs := slices.Clone(h.exp.queries)
	h.exp.mu.Unlock()
	var sawOld, sawNew bool
	for _, q := range qs {
		switch {
		case slices.Equal(q.PatientIDs, []string{"p1"}) && q.Since.Equal(time.Date(2030, 1, 15, 0, 0, 0, 0, time.UTC)):
			sawOld = true
		case slices.Equal(q.PatientIDs, []string{"p2"}) && q.Since.Equal(fullHistorySince):
			sawNew = true
		}
	}
	if !sawOld || !sawNew {
		t.Errorf("queries %+v", qs)
	}
	expectStatus(t, h.kickPost("/Group/"+id+"/$export", []map[string]any{{"name": "patient", "valueReference": map[string]any{"reference": "Patient/p3"}}}, payer...), 400, "not members")
	m = h.done(h.accepted(h.kickPost("/Group/"+id+"/$export", []map[string]any{{"name": "patient", "valueReference": map[string]any{"reference": "Patient/p2"}}}, payer...)), payer...)
	if got := h.ids(m, payer...); !slices.Equal(got, []string{"Immunization/i3", "Patient/p2"}) {
		t.Errorf("patient=p2: %v", got)
	}

	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-remove"), params("Patient/p1", "Patient/p2"), payer...), 200, "")
	h.exp.mu.Lock()
	n := len(h.exp.queries)
	h.exp.mu.Unlock()
	m = h.done(h.accepted(h.kick("/Group/"+id+"/$export", "", payer...)), payer...)
	if string(m.raw["output"]) != "[]" {
		t.Errorf("Group of inactive members exported %s", m.raw["output"])
	}
	h.exp.mu.Lock()
	defer h.exp.mu.Unlock()
	if len(h.exp.queries) != n {
		t.Errorf("an empty Group's export read the source: %+v", h.exp.queries[n:])
	}
}

func TestGroupsSurviveRestartAndRefresh(t *testing.T) {
	h := newHarness(t, nil)
	payer := []string{"X-Client", "payer"}
	id := decode(t, expectStatus(t, h.do("POST", h.url("/fhir/Group"), groupJSON("g", "Patient/p1", "Patient/p2"), payer...), 201, ""))["id"].(string)
	h.exp.members = []pipeline.Membership{{OrgKey: "ORG", PatientID: "p3"}}
	if err := h.s.RefreshGroups(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start(nil)
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), "", payer...), 200, `"quantity":2`)
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p1", "Patient/p2"}) {
		t.Errorf("after refresh and restart: %v", got)
	}
}

func cohortJSON(name string, filters ...string) string {
	var ext []string
	for _, f := range filters {
		ext = append(ext, fmt.Sprintf(`{"url":%q,"valueExpression":{"language":"application/x-fhir-query","expression":%q}}`, memberFilterURL, f))
	}
	return fmt.Sprintf(`{"resourceType":"Group","type":"person","actual":false,"name":%q,"modifierExtension":[%s]}`, name, strings.Join(ext, ","))
}

func TestCohortGroups(t *testing.T) {
	h := newHarness(t, nil)
	payer := []string{"X-Client", "payer"}
	cases := []struct {
		filters []string
		members string // cohort member restriction, JSON
		want    []string
	}{
		{[]string{"Patient?birthdate=ge2015-01-01&address-postalcode=554", "Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|08"}, "",
			[]string{"Immunization/i1", "Immunization/i2", "Patient/p1"}},
		{[]string{"Immunization?status=not-done"}, "", []string{"Immunization/i3", "Patient/p2"}},
		{[]string{"Patient?gender=female"}, `[{"entity":{"reference":"Group/riverside"}}]`, []string{"Immunization/i1", "Immunization/i2", "Patient/p1"}},
		{[]string{"Immunization?date=ge2030-01-01"}, "", nil},
	}
	for i, c := range cases {
		g := cohortJSON(fmt.Sprintf("cohort %d", i), c.filters...)
		if c.members != "" {
			g = strings.Replace(g, `"modifierExtension"`, `"member":`+c.members+`,"modifierExtension"`, 1)
		}
		// Async create: 202, then the outcome as a batch-response Bundle.
		r := h.do("POST", h.url("/fhir/Group"), g, append([]string{"Prefer", "respond-async"}, payer...)...)
		expectStatus(t, r, 202, "")
		status := r.Header.Get("Content-Location")
		if !strings.HasPrefix(status, h.url("/fhir/groupstatus/")) {
			t.Fatalf("Content-Location %q", status)
		}
		expectStatus(t, h.do("GET", status, "", "X-Client", "other"), 404, "")
		var b string
		for deadline := time.Now().Add(5 * time.Second); ; {
			r = h.do("GET", status, "", payer...)
			if r.StatusCode != 202 {
				b = expectStatus(t, r, 200, `"type":"batch-response"`)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("async create not done")
			}
			time.Sleep(20 * time.Millisecond)
		}
		validate(t, []byte(b))
		entry := decode(t, b)["entry"].([]any)[0].(map[string]any)
		if st := entry["response"].(map[string]any)["status"]; st != "201 Created" {
			t.Fatalf("async create: %v", st)
		}
		res := entry["resource"].(map[string]any)
		id := res["id"].(string)
		if !strings.Contains(fmt.Sprint(res["meta"]), BulkCohortProfile) || res["actual"] != (c.members != "") {
			t.Errorf("cohort resource %v", res)
		}
		m := h.done(h.accepted(h.kick("/Group/"+id+"/$export", "", payer...)), payer...)
		if got := h.ids(m, payer...); !slices.Equal(got, c.want) {
			t.Errorf("cohort %v: export %v, want %v", c.filters, got, c.want)
		}
	}
	// Sync create, and `patient` outside the cohort is a 400.
	b := expectStatus(t, h.do("POST", h.url("/fhir/Group"), cohortJSON("nd", "Immunization?status=not-done"), payer...), 201, BulkCohortProfile)
	id := decode(t, b)["id"].(string)
	expectStatus(t, h.kickPost("/Group/"+id+"/$export", []map[string]any{{"name": "patient", "valueReference": map[string]any{"reference": "Patient/p1"}}}, payer...), 400, "not members")
	m := h.done(h.accepted(h.kickPost("/Group/"+id+"/$export", []map[string]any{{"name": "patient", "valueReference": map[string]any{"reference": "Patient/p2"}}}, payer...)), payer...)
	if got := h.ids(m, payer...); !slices.Equal(got, []string{"Immunization/i3", "Patient/p2"}) {
		t.Errorf("cohort with patient=p2: %v", got)
	}
	expectStatus(t, h.do("POST", h.url("/fhir/Group/"+id+"/$member-add"), params("Patient/p1"), payer...), 422, "criteria-based")

	// An asynchronous update: the cohort becomes another.
	upd := strings.Replace(cohortJSON("nd2", "Patient?gender=female"), `"type"`, `"id":"`+id+`","type"`, 1)
	r := h.do("PUT", h.url("/fhir/Group/"+id), upd, append([]string{"Prefer", "respond-async"}, payer...)...)
	expectStatus(t, r, 202, "")
	status := r.Header.Get("Content-Location")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r = h.do("GET", status, "", payer...)
		if r.StatusCode != 202 || time.Now().After(deadline) {
			break
		}
	}
	expectStatus(t, r, 200, `"status":"200 OK"`)
	m = h.done(h.accepted(h.kick("/Group/"+id+"/$export", "_type=Patient", payer...)), payer...)
	if got := h.ids(m, payer...); !slices.Equal(got, []string{"Patient/p1", "Patient/p3"}) {
		t.Errorf("updated cohort exports %v", got)
	}
	r = h.do("DELETE", status, "", payer...)
	expectStatus(t, r, 202, "")
	expectStatus(t, h.do("GET", status, "", payer...), 404, "")

	// Unsupported parameters refuse the Group, each named.
	for _, c := range []struct{ filter, want string }{
		{"Patient?name=Smith", `search parameter \"name\"`},
		{"Immunization?vaccine-code=08&_sort=date", "_sort"},
		{"Observation?code=1", "Observation"},
		{"Patient?birthdate=soon", "not a FHIR date"},
	} {
		expectStatus(t, h.do("POST", h.url("/fhir/Group"), cohortJSON("bad", c.filter), payer...), 400, c.want)
	}
	expectStatus(t, h.do("POST", h.url("/fhir/Group"), strings.Replace(cohortJSON("x", "Patient?gender=male"), "application/x-fhir-query", "text/cql", 1), payer...), 400, "text/cql")
	expectStatus(t, h.do("POST", h.url("/fhir/Group"), strings.Replace(cohortJSON("", "Patient?gender=male"), `"name":""`, `"name":" "`, 1), payer...), 400, "name")
}

func TestGroupCapability(t *testing.T) {
	h := newHarness(t, nil)
	b := expectStatus(t, h.do("GET", h.url("/fhir/metadata"), ""), 200, BulkCohortProfile)
	for _, want := range []string{`"code":"create"`, `"name":"managing-entity"`, `"name":"member-add"`, "full history", "rel=\\\"next\\\""} {
		if !strings.Contains(b, want) {
			t.Errorf("CapabilityStatement lacks %s", want)
		}
	}
}

// TestLearnedMembersGoInactive: with GroupInactiveAfter, a learned member
// without evidence in the window stays in the Group as inactive and is
// left out of exports.
func TestLearnedMembersGoInactive(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	h := newHarness(t, func(o *Options) {
		o.Now = func() time.Time { return now }
		o.GroupInactiveAfter = 395 * 24 * time.Hour // 13 months
	})
	h.exp.members = []pipeline.Membership{
		{OrgKey: "ORG", PatientID: "p1", First: now.AddDate(-3, 0, 0), Last: now.AddDate(-2, 0, 0)},
		{OrgKey: "ORG", PatientID: "p2", First: now.AddDate(-3, 0, 0), Last: now.AddDate(0, -1, 0)},
	}
	if err := h.s.RefreshGroups(t.Context()); err != nil {
		t.Fatal(err)
	}
	id := OrgGroupID("ORG")
	b := expectStatus(t, h.do("GET", h.url("/fhir/Group/"+id), ""), 200, `"quantity":1`)
	if got := memberRefs(decode(t, b)); !slices.Equal(got, []string{"Patient/p1(inactive)", "Patient/p2"}) {
		t.Errorf("members %v", got)
	}
	if !strings.Contains(b, `"end":"2024-06-01T00:00:00Z"`) {
		t.Errorf("inactive member's period.end is not its last evidence: %s", b)
	}
	m := h.done(h.accepted(h.kick("/Group/"+id+"/$export", "_type=Patient")))
	if got := h.ids(m); !slices.Equal(got, []string{"Patient/p2"}) {
		t.Errorf("export %v", got)
	}
}

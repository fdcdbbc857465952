package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/sources/synth"
)

// TestEndToEndClientGroups: a partner builds its own Group over HTTP from
// the bridge's Patients (by reference and by identifier), changes it,
// exports it and deletes it; criteria Groups (Bulk Cohort) export exactly
// the persons their filters select. Everything is checked against the
// generator's truth.
func TestEndToEndClientGroups(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	_, truth, cfg := genWorld(t, t.TempDir())
	_, c, _ := startBridge(t, cfg, false)
	_, m := c.export("/Patient/$export", nil)
	all := c.fetch(m)
	pidOf := matchPatients(t, truth.Persons, all.byType["Patient"])
	byPID := map[string]map[string]any{}
	for _, pt := range all.byType["Patient"] {
		byPID[str(pt, "id")] = pt
	}
	// An identifier (system|value) held by exactly one Patient.
	holders := map[string]int{}
	for _, pt := range all.byType["Patient"] {
		for _, id := range arr(pt, "identifier") {
			holders[str(id, "system")+"|"+str(id, "value")]++
		}
	}
	uniqueIdent := func(pid string) (string, string) {
		for _, id := range arr(byPID[pid], "identifier") {
			if k := str(id, "system") + "|" + str(id, "value"); holders[k] == 1 && str(id, "system") != "" {
				return str(id, "system"), str(id, "value")
			}
		}
		t.Fatalf("Patient %s has no identifier of its own", pid)
		return "", ""
	}
	persons := slices.Clone(truth.Persons)
	slices.SortFunc(persons, func(a, b synth.Person) int { return strings.Compare(a.Key, b.Key) })
	p := persons[:6]
	ref := func(tp synth.Person) string {
		return fmt.Sprintf(`{"entity":{"reference":"Patient/%s"}}`, pidOf[tp.Key])
	}
	ident := func(tp synth.Person) string {
		sys, val := uniqueIdent(pidOf[tp.Key])
		return fmt.Sprintf(`{"entity":{"identifier":{"system":%q,"value":%q}}}`, sys, val)
	}
	group := func(id string, members ...string) []byte {
		idPart := ""
		if id != "" {
			idPart = fmt.Sprintf(`"id":%q,`, id)
		}
		return []byte(fmt.Sprintf(`{"resourceType":"Group",%s"type":"person","actual":true,"name":"Kindergarten 2026",
			"identifier":[{"system":"urn:example:district","value":"K-2026"}],"member":[%s]}`, idPart, strings.Join(members, ",")))
	}
	fhirJSON := []string{"Content-Type", "application/fhir+json", "Accept", "application/fhir+json"}
	decode := func(what string, resp *http.Response, body []byte, want int) map[string]any {
		t.Helper()
		if resp.StatusCode != want {
			t.Fatalf("%s: %d, want %d: %s", what, resp.StatusCode, want, body)
		}
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil && want != http.StatusNoContent {
			t.Fatalf("%s: %v: %s", what, err, body)
		}
		if v != nil {
			fhirtest.Validate(t, body)
		}
		return v
	}
	members := func(g map[string]any) (active []string) {
		for _, mb := range arr(g, "member") {
			if mm, _ := mb.(map[string]any); mm["inactive"] != true {
				active = append(active, strings.TrimPrefix(str(obj(mb, "entity"), "reference"), "Patient/"))
			}
		}
		slices.Sort(active)
		return active
	}
	pids := func(ps ...synth.Person) []string {
		var out []string
		for _, tp := range ps {
			out = append(out, pidOf[tp.Key])
		}
		slices.Sort(out)
		return out
	}

	// Create: three by reference, two by identifier.
	resp, body := c.send(http.MethodPost, c.base+"/Group", group("", ref(p[0]), ref(p[1]), ref(p[2]), ident(p[3]), ident(p[4])), fhirJSON...)
	g := decode("create", resp, body, http.StatusCreated)
	id := str(g, "id")
	if got, want := members(g), pids(p[:5]...); !slices.Equal(got, want) {
		t.Fatalf("created members %v, want %v", got, want)
	}
	// Update: a new list; add one by identifier; remove one by reference.
	resp, body = c.send(http.MethodPut, c.base+"/Group/"+id, group(id, ref(p[0]), ref(p[1]), ref(p[2]), ref(p[3])), fhirJSON...)
	decode("update", resp, body, http.StatusOK)
	sys, val := uniqueIdent(pidOf[p[5].Key])
	resp, body = c.send(http.MethodPost, c.base+"/Group/"+id+"/$member-add",
		[]byte(fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"memberId","valueIdentifier":{"system":%q,"value":%q}}]}`, sys, val)), fhirJSON...)
	decode("$member-add", resp, body, http.StatusOK)
	resp, body = c.send(http.MethodPost, c.base+"/Group/"+id+"/$member-remove",
		[]byte(fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"patientReference","valueReference":{"reference":"Patient/%s"}}]}`, pidOf[p[0].Key])), fhirJSON...)
	decode("$member-remove", resp, body, http.StatusOK)
	resp, body = c.do(http.MethodGet, c.base+"/Group/"+id, "Accept", "application/fhir+json")
	g = decode("read", resp, body, http.StatusOK)
	want := []synth.Person{p[1], p[2], p[3], p[5]}
	if got := members(g); !slices.Equal(got, pids(want...)) {
		t.Fatalf("members %v, want %v", got, pids(want...))
	}
	if q, _ := g["quantity"].(float64); q != 4 {
		t.Errorf("quantity %v", g["quantity"])
	}

	// Export: exactly the members' Patients and Immunizations.
	_, m = c.export("/Group/"+id+"/$export", nil)
	res := c.fetch(m)
	var got []string
	for _, pt := range res.byType["Patient"] {
		got = append(got, str(pt, "id"))
	}
	slices.Sort(got)
	if !slices.Equal(got, pids(want...)) {
		t.Errorf("Group export Patients %v, want %v", got, pids(want...))
	}
	checkDoses(t, want, pidOf, res.byType["Immunization"])
	t.Logf("client Group %s: %d Patients, %d Immunizations", id, len(res.byType["Patient"]), len(res.byType["Immunization"]))

	// Cohorts, against the truth.
	birthYear := "2015"
	ys := map[string]int{}
	for _, tp := range truth.Persons {
		ys[tp.BirthDate[:4]]++
	}
	var years []string
	for y := range ys {
		years = append(years, y)
	}
	slices.Sort(years)
	birthYear = years[len(years)/2]
	// A threshold day with no dose on it or the day before, so time zones
	// of occurrence times cannot move a dose across it.
	doseDays := map[string]bool{}
	var cvxCount = map[string]int{}
	for _, tp := range truth.Persons {
		for _, d := range tp.Doses {
			doseDays[d.Date] = true
			cvxCount[d.CVX]++
		}
	}
	day := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	for doseDays[day.Format(time.DateOnly)] || doseDays[day.AddDate(0, 0, -1).Format(time.DateOnly)] {
		day = day.AddDate(0, 0, 1)
	}
	cvx := ""
	for k, n := range cvxCount {
		if cvx == "" || n > cvxCount[cvx] || n == cvxCount[cvx] && k < cvx {
			cvx = k
		}
	}
	live := func(tp synth.Person, f func(synth.Dose) bool) bool {
		return slices.ContainsFunc(tp.Doses, func(d synth.Dose) bool { return d.Status != "entered-in-error" && f(d) })
	}
	inGroup := map[string]bool{}
	for _, tp := range want {
		inGroup[tp.Key] = true
	}
	cohorts := []struct {
		filters []string
		members string
		async   bool
		sel     func(synth.Person) bool
	}{
		{[]string{"Patient?birthdate=ge" + birthYear + "-01-01", "Immunization?status=not-done"}, "", true, func(tp synth.Person) bool {
			return tp.BirthDate >= birthYear && live(tp, func(d synth.Dose) bool { return d.Status == "not-done" })
		}},
		{[]string{"Immunization?vaccine-code=http://hl7.org/fhir/sid/cvx|" + cvx + "&date=ge" + day.Format(time.DateOnly)}, "", false, func(tp synth.Person) bool {
			return live(tp, func(d synth.Dose) bool { return d.CVX == cvx && d.Date >= day.Format(time.DateOnly) })
		}},
		{[]string{"Immunization?date=lt" + day.Format(time.DateOnly)}, `"member":[{"entity":{"reference":"Group/` + id + `"}}],`, true, func(tp synth.Person) bool {
			return inGroup[tp.Key] && live(tp, func(d synth.Dose) bool { return d.Date < day.Format(time.DateOnly) })
		}},
	}
	for i, ch := range cohorts {
		var ext []string
		for _, f := range ch.filters {
			ext = append(ext, fmt.Sprintf(`{"url":"http://hl7.org/fhir/uv/bulkdata/StructureDefinition/member-filter","valueExpression":{"language":"application/x-fhir-query","expression":%q}}`, f))
		}
		doc := []byte(fmt.Sprintf(`{"resourceType":"Group","type":"person","actual":false,"name":"cohort %d",%s"modifierExtension":[%s]}`, i, ch.members, strings.Join(ext, ",")))
		var cg map[string]any
		if ch.async {
			resp, body = c.send(http.MethodPost, c.base+"/Group", doc, append(fhirJSON, "Prefer", "respond-async")...)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("async cohort create: %d %s", resp.StatusCode, body)
			}
			status := resp.Header.Get("Content-Location")
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				resp, body = c.do(http.MethodGet, status, "Accept", "application/fhir+json")
				if resp.StatusCode != http.StatusAccepted || time.Now().After(deadline) {
					break
				}
			}
			b := decode("async cohort status", resp, body, http.StatusOK)
			e := arr(b, "entry")
			if len(e) != 1 || str(obj(e[0], "response"), "status") != "201 Created" {
				t.Fatalf("async cohort outcome %s", body)
			}
			cg = obj(e[0], "resource")
		} else {
			resp, body = c.send(http.MethodPost, c.base+"/Group", doc, fhirJSON...)
			cg = decode("cohort create", resp, body, http.StatusCreated)
		}
		var wantC []synth.Person
		for _, tp := range truth.Persons {
			if ch.sel(tp) {
				wantC = append(wantC, tp)
			}
		}
		if len(wantC) == 0 || len(wantC) == len(truth.Persons) {
			t.Errorf("cohort %v selects %d of %d persons: not a test", ch.filters, len(wantC), len(truth.Persons))
		}
		_, m = c.export("/Group/"+str(cg, "id")+"/$export", nil)
		res = c.fetch(m)
		got = nil
		for _, pt := range res.byType["Patient"] {
			got = append(got, str(pt, "id"))
		}
		slices.Sort(got)
		if !slices.Equal(got, pids(wantC...)) {
			t.Errorf("cohort %v: Patients\n got %v\nwant %v", ch.filters, got, pids(wantC...))
		}
		checkDoses(t, wantC, pidOf, res.byType["Immunization"])
		t.Logf("cohort %v: %d of %d persons", ch.filters, len(got), len(truth.Persons))
	}

	// Delete: the Group and its export are gone.
	resp, body = c.do(http.MethodDelete, c.base+"/Group/"+id)
	decode("delete", resp, body, http.StatusNoContent)
	resp, body = c.do(http.MethodGet, c.base+"/Group/"+id, "Accept", "application/fhir+json")
	decode("read after delete", resp, body, http.StatusNotFound)
}

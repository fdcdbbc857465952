package main

// End-to-end: a synthetic world goes through the real index, pipeline and
// server (wired by openBridge, as `iisbridge serve` does), and a test
// client drives the Bulk Data protocol over HTTP like any other client.
// What comes back must equal the generator's truth.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/server"
	"github.com/iisbridge/iisbridge/sources/synth"
	"github.com/iisbridge/iisbridge/sources/synth/synthtest"
)

// startBridge opens cfg's bridge behind an httptest server on loopback
// (its address becomes cfg's listen address and base URL). stop closes
// both; it also runs at cleanup.
func startBridge(t *testing.T, cfg *config.Config, demo bool) (b *bridge, c *bulkClient, stop func()) {
	t.Helper()
	return startBridgeLog(t, cfg, demo, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startBridgeLog is startBridge logging to log.
func startBridgeLog(t *testing.T, cfg *config.Config, demo bool, log *slog.Logger) (b *bridge, c *bulkClient, stop func()) {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	addr := ts.Listener.Addr().String()
	cfg.Listen, cfg.BaseURL = addr, "http://"+addr+"/fhir"
	cfg.Jobs.RetryAfter.Duration = time.Second // the shortest the server advises
	b, err := openBridge(cfg, demo, log)
	if err != nil {
		ts.Close()
		t.Fatal(err)
	}
	ts.Config.Handler = b.srv.Handler()
	ts.Start()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ts.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := b.close(ctx); err != nil {
				t.Errorf("closing the bridge: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return b, &bulkClient{t: t, base: cfg.BaseURL, hc: ts.Client()}, stop
}

// bulkClient is a minimal Bulk Data client: kick-off, polling that
// honours Retry-After, manifest, downloads.
type bulkClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

type manifestFile struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count"`
}

type manifest struct {
	TransactionTime     string         `json:"transactionTime"`
	Request             string         `json:"request"`
	RequiresAccessToken *bool          `json:"requiresAccessToken"`
	Output              []manifestFile `json:"output"`
	Deleted             []manifestFile `json:"deleted"`
	Error               []manifestFile `json:"error"`
}

func (c *bulkClient) do(method, u string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	return c.send(method, u, nil, hdr...)
}

func (c *bulkClient) send(method, u string, body []byte, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp, got
}

// retryAfter reads Retry-After (seconds or an HTTP date); ok is false
// when the header is absent or unreadable.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	v := resp.Header.Get("Retry-After")
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// export kicks off GET path?query, polls until the manifest arrives and
// returns the status URL with it.
func (c *bulkClient) export(path string, query url.Values) (string, *manifest) {
	c.t.Helper()
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return c.kickoff(http.MethodGet, u, nil)
}

// exportPost kicks off with a Parameters body holding params.
func (c *bulkClient) exportPost(path string, params ...map[string]any) (string, *manifest) {
	c.t.Helper()
	body := mustJSON(c.t, map[string]any{"resourceType": "Parameters", "parameter": params})
	return c.kickoff(http.MethodPost, c.base+path, body)
}

func (c *bulkClient) kickoff(method, u string, body []byte) (string, *manifest) {
	c.t.Helper()
	path := strings.TrimPrefix(u, c.base)
	hdr := []string{"Accept", "application/fhir+json", "Prefer", "respond-async"}
	if body != nil {
		hdr = append(hdr, "Content-Type", "application/fhir+json")
	}
	resp, body := c.send(method, u, body, hdr...)
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("kick-off %s: status %d, want 202: %s", path, resp.StatusCode, body)
	}
	status := resp.Header.Get("Content-Location")
	if !strings.HasPrefix(status, c.base+"/") {
		c.t.Fatalf("kick-off %s: Content-Location %q is not under the base URL", path, status)
	}
	wait, _ := retryAfter(resp)                   // optional at kick-off: poll at once
	deadline := time.Now().Add(120 * time.Second) // generous: CI may share the machine
	for polls := 1; ; polls++ {
		time.Sleep(wait)
		if time.Now().After(deadline) {
			c.t.Fatalf("export %s not done after %d polls", path, polls)
		}
		resp, body = c.do(http.MethodGet, status, "Accept", "application/json")
		switch resp.StatusCode {
		case http.StatusAccepted:
			var ok bool
			if wait, ok = retryAfter(resp); !ok {
				c.t.Fatalf("status %s: 202 without a usable Retry-After (%q)", path, resp.Header.Get("Retry-After"))
			}
			continue
		case http.StatusOK:
		default:
			// 429 included: this client honours Retry-After, so being
			// throttled is a server fault.
			c.t.Fatalf("status %s: %d: %s", path, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			c.t.Errorf("manifest Content-Type %q, want application/json", ct)
		}
		var m manifest
		if err := json.Unmarshal(body, &m); err != nil {
			c.t.Fatalf("manifest of %s: %v: %s", path, err, body)
		}
		if m.Request != u {
			c.t.Errorf("manifest request %q, want %q", m.Request, u)
		}
		if _, err := time.Parse(time.RFC3339, m.TransactionTime); err != nil {
			c.t.Errorf("manifest transactionTime %q: %v", m.TransactionTime, err)
		}
		if m.RequiresAccessToken == nil || *m.RequiresAccessToken {
			c.t.Errorf("manifest requiresAccessToken missing or true without authorization")
		}
		return status, &m
	}
}

// download fetches one NDJSON file, checks that its line count is the
// manifest's and that every line is a valid FHIR resource of the file's
// type, and returns the lines decoded.
func (c *bulkClient) download(f manifestFile) []map[string]any {
	c.t.Helper()
	if !strings.HasPrefix(f.URL, c.base+"/") {
		c.t.Errorf("file URL %q is not under the base URL", f.URL)
	}
	resp, body := c.do(http.MethodGet, f.URL, "Accept", "application/fhir+ndjson")
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("download %s: status %d: %s", f.URL, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+ndjson") {
		c.t.Errorf("download %s: Content-Type %q", f.URL, ct)
	}
	if !resp.Uncompressed { // net/http asked for gzip and undid it
		c.t.Errorf("download %s: not gzip-encoded although the client accepts gzip", f.URL)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		line := sc.Bytes()
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			c.t.Fatalf("%s line %d: %v", f.URL, len(out)+1, err)
		}
		if r["resourceType"] != f.Type {
			c.t.Errorf("%s line %d: resourceType %v in a %s file", f.URL, len(out)+1, r["resourceType"], f.Type)
		}
		fhirtest.Validate(c.t, line)
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		c.t.Fatal(err)
	}
	if len(out) != f.Count {
		c.t.Errorf("%s: %d lines, manifest count %d", f.URL, len(out), f.Count)
	}
	return out
}

// result is an export's files, downloaded and sorted out.
type result struct {
	byType  map[string][]map[string]any // output resources per type
	issues  []map[string]any            // error file OperationOutcomes
	deleted []string                    // "Type/id" of deleted entries
}

func (c *bulkClient) fetch(m *manifest) *result {
	c.t.Helper()
	r := &result{byType: map[string][]map[string]any{}}
	for _, f := range m.Output {
		r.byType[f.Type] = append(r.byType[f.Type], c.download(f)...)
	}
	for _, f := range m.Error {
		if f.Type != "OperationOutcome" {
			c.t.Errorf("error file of type %s", f.Type)
		}
		r.issues = append(r.issues, c.download(f)...)
	}
	for _, f := range m.Deleted {
		if f.Type != "Bundle" {
			c.t.Errorf("deleted file of type %s", f.Type)
		}
		for _, b := range c.download(f) {
			for _, e := range arr(b, "entry") {
				req := obj(e, "request")
				if str(req, "method") != "DELETE" {
					c.t.Errorf("deleted entry with method %q", str(req, "method"))
				}
				r.deleted = append(r.deleted, str(req, "url"))
			}
		}
	}
	return r
}

// Generic JSON accessors: a missing or mistyped element reads as zero.
func obj(v any, key string) map[string]any {
	m, _ := v.(map[string]any)
	o, _ := m[key].(map[string]any)
	return o
}

func arr(v any, key string) []any {
	m, _ := v.(map[string]any)
	a, _ := m[key].([]any)
	return a
}

func str(v any, key string) string {
	m, _ := v.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// identifierKeys lists a Patient's identifiers as "TYPE|value".
func identifierKeys(pt map[string]any) []string {
	var out []string
	for _, id := range arr(pt, "identifier") {
		typ := ""
		for _, c := range arr(obj(id, "type"), "coding") {
			typ = str(c, "code")
		}
		out = append(out, typ+"|"+str(id, "value"))
	}
	return out
}

// doseKey renders an Immunization as truth doses compare: CVX, day,
// status and lot.
func doseKey(im map[string]any) string {
	cvx := ""
	for _, c := range arr(obj(im, "vaccineCode"), "coding") {
		if str(c, "system") == "http://hl7.org/fhir/sid/cvx" {
			cvx = str(c, "code")
		}
	}
	day := str(im, "occurrenceDateTime")
	if len(day) > 10 {
		day = day[:10]
	}
	return cvx + "@" + day + "/" + str(im, "status") + "/" + str(im, "lotNumber")
}

func truthDoseKey(d synth.Dose) string { return d.CVX + "@" + d.Date + "/" + d.Status + "/" + d.Lot }

// matchPatients finds the one Patient of each truth person by its MRNs
// and SR id and fails when an id sits on several Patients, a person is
// split, or two persons share a Patient. It returns person key → id.
func matchPatients(t *testing.T, persons []synth.Person, pats []map[string]any) map[string]string {
	t.Helper()
	holders := map[string][]string{}
	for _, pt := range pats {
		keys := identifierKeys(pt)
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			holders[k] = append(holders[k], str(pt, "id"))
		}
	}
	pidOf, problems := synthtest.MatchPatients(persons, holders)
	for _, p := range problems {
		t.Error(p)
	}
	return pidOf
}

// checkDoses compares each person's Immunizations with the truth's final
// doses (deleted ones excluded) and returns how many were deleted.
func checkDoses(t *testing.T, persons []synth.Person, pidOf map[string]string, imms []map[string]any) (deleted int) {
	t.Helper()
	got := map[string][]string{}
	ids := map[string]bool{}
	for _, im := range imms {
		ref := str(obj(im, "patient"), "reference")
		pid, ok := strings.CutPrefix(ref, "Patient/")
		if !ok {
			t.Errorf("Immunization %s: patient reference %q", str(im, "id"), ref)
		}
		got[pid] = append(got[pid], doseKey(im))
		if ids[str(im, "id")] {
			t.Errorf("Immunization %s written twice", str(im, "id"))
		}
		ids[str(im, "id")] = true
	}
	expected := map[string]bool{}
	for _, tp := range persons {
		var want []string
		for _, d := range tp.Doses {
			if d.Status == "entered-in-error" {
				deleted++
				continue
			}
			want = append(want, truthDoseKey(d))
		}
		pid := pidOf[tp.Key]
		expected[pid] = true
		g := got[pid]
		slices.Sort(g)
		slices.Sort(want)
		if !slices.Equal(g, want) {
			t.Errorf("person %s (Patient %s) Immunizations:\n got %v\nwant %v", tp.Key, pid, g, want)
		}
	}
	for pid := range got {
		if !expected[pid] {
			t.Errorf("%d Immunizations of Patient %s, who is not expected here", len(got[pid]), pid)
		}
	}
	return deleted
}

// inputLoc is where an OperationOutcome issue says its input sits.
type inputLoc struct {
	file, control, field string
	index                int
}

func issueLoc(is any) inputLoc {
	var l inputLoc
	for _, e := range arr(is, "extension") {
		for _, sub := range arr(e, "extension") {
			switch str(sub, "url") {
			case "source":
				l.file = filepath.Base(str(sub, "valueString"))
			case "index":
				n, _ := sub.(map[string]any)["valueInteger"].(float64)
				l.index = int(n)
			case "controlId":
				l.control = str(sub, "valueString")
			case "field":
				l.field = str(sub, "valueString")
			}
		}
	}
	return l
}

// checkIssues: the error file reports each broken record of the truth as
// an error at its file and record number, each unseen RXA-21 D as a
// not-found warning at its message, and no other errors.
//
// Only a system export (sourceWide) carries the source-wide broken
// records; a Patient or Group export reports issues about its own
// records only, so it holds no error issue at all.
func checkIssues(t *testing.T, truth *synth.Truth, issues []map[string]any, sourceWide bool) {
	t.Helper()
	var brokenGot, unseenGot []string
	for _, oo := range issues {
		for _, is := range arr(oo, "issue") {
			l := issueLoc(is)
			switch sev, code := str(is, "severity"), str(is, "code"); {
			case sev == "error" || sev == "fatal":
				brokenGot = append(brokenGot, fmt.Sprintf("%s#%d", l.file, l.index))
			case sev == "warning" && code == "not-found" && l.field == "RXA-21":
				unseenGot = append(unseenGot, fmt.Sprintf("%s#%d %s", l.file, l.index, l.control))
			}
		}
	}
	var brokenWant, unseenWant []string
	for _, b := range truth.Broken {
		if sourceWide {
			brokenWant = append(brokenWant, fmt.Sprintf("%s#%d", b.File, b.Index))
		}
	}
	for _, u := range truth.UnseenDeletes {
		unseenWant = append(unseenWant, fmt.Sprintf("%s#%d %s", u.File, u.Index, u.ControlID))
	}
	for _, s := range [][]string{brokenGot, brokenWant, unseenGot, unseenWant} {
		slices.Sort(s)
	}
	if !slices.Equal(brokenGot, brokenWant) {
		t.Errorf("error issues at\n %v\nwant the truth's broken records\n %v", brokenGot, brokenWant)
	}
	if !slices.Equal(unseenGot, unseenWant) {
		t.Errorf("unseen-delete warnings at\n %v\nwant\n %v", unseenGot, unseenWant)
	}
}

// genWorld writes the test world (Seed 7, 60 people) into dir/world and
// configures a bridge reading its archives (a glob: files that come
// later are picked up by the next update).
func genWorld(t *testing.T, dir string) (world string, truth *synth.Truth, cfg *config.Config) {
	t.Helper()
	world = filepath.Join(dir, "world")
	if _, err := synth.Generate(world, synth.Config{Seed: 7, People: 60}); err != nil {
		t.Fatal(err)
	}
	truth, err := synth.ReadTruth(filepath.Join(world, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Sources = []config.Source{{Name: "synth", Kind: "v2archive", Paths: []string{filepath.Join(world, "*.hl7*")}}}
	return world, truth, cfg
}

func TestEndToEndBulkExportEqualsTruth(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	_, truth, cfg := genWorld(t, t.TempDir())
	_, c, _ := startBridge(t, cfg, false)

	// 1. Everything, as a Patient-level export.
	status, m := c.export("/Patient/$export", nil)
	if m.Deleted != nil {
		t.Errorf("manifest without _since lists deleted files: %v", m.Deleted)
	}
	res := c.fetch(m)
	for typ := range res.byType {
		if typ != "Patient" && typ != "Immunization" {
			t.Errorf("Patient-level export wrote %s resources", typ)
		}
	}
	pats := res.byType["Patient"]
	if len(pats) != len(truth.Persons) {
		t.Errorf("%d Patients, truth has %d persons", len(pats), len(truth.Persons))
	}
	pidOf := matchPatients(t, truth.Persons, pats)
	deleted := checkDoses(t, truth.Persons, pidOf, res.byType["Immunization"])
	checkIssues(t, truth, res.issues, false)
	if deleted == 0 || len(truth.Broken) == 0 || len(truth.UnseenDeletes) == 0 {
		t.Fatalf("world too small to test deletions, broken records and unseen deletes (%d, %d, %d)",
			deleted, len(truth.Broken), len(truth.UnseenDeletes))
	}

	// 2. _since before all data: the same resources, plus the deletions.
	since := url.Values{"_since": {"2000-01-01T00:00:00Z"}}
	_, ms := c.export("/Patient/$export", since)
	rs := c.fetch(ms)
	if ms.Deleted == nil {
		t.Error("manifest with _since has no deleted array")
	}
	if len(rs.byType["Patient"]) != len(pats) || len(rs.byType["Immunization"]) != len(res.byType["Immunization"]) {
		t.Errorf("_since export: %d Patients, %d Immunizations; without _since %d, %d",
			len(rs.byType["Patient"]), len(rs.byType["Immunization"]), len(pats), len(res.byType["Immunization"]))
	}
	written := map[string]bool{}
	for _, im := range rs.byType["Immunization"] {
		written["Immunization/"+str(im, "id")] = true
	}
	checkDeleted(t, rs.deleted, deleted, written)
	checkIssues(t, truth, rs.issues, false)

	// 3. The Group of an organization, found by identifier as a client
	// would, exported with _since. The organization: one linked to a
	// person with a deleted dose if any, then the one with most members.
	hasDeleted := map[string]bool{}
	for _, tp := range truth.Persons {
		for _, d := range tp.Doses {
			hasDeleted[tp.Key] = hasDeleted[tp.Key] || d.Status == "entered-in-error"
		}
	}
	score := map[string]int{}
	for _, l := range truth.Links {
		score[l.OrgKey]++
		if hasDeleted[l.Person] {
			score[l.OrgKey] += 1000
		}
	}
	org := ""
	for k, n := range score {
		if org == "" || n > score[org] || n == score[org] && k < org {
			org = k
		}
	}
	resp, body := c.do(http.MethodGet, c.base+"/Group?"+url.Values{"identifier": {server.GroupIdentifierSystem + "|" + org}}.Encode(), "Accept", "application/fhir+json")
	var bundle map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &bundle) != nil || len(arr(bundle, "entry")) != 1 {
		t.Fatalf("Group search by identifier %s: %d %s", org, resp.StatusCode, body)
	}
	group := obj(arr(bundle, "entry")[0], "resource")
	fhirtest.Validate(t, mustJSON(t, group))
	var members, wantMembers []string
	for _, mb := range arr(group, "member") {
		members = append(members, strings.TrimPrefix(str(obj(mb, "entity"), "reference"), "Patient/"))
	}
	var groupPersons []synth.Person
	inGroup := map[string]bool{}
	for _, l := range truth.Links {
		if l.OrgKey == org {
			inGroup[l.Person] = true
			wantMembers = append(wantMembers, pidOf[l.Person])
		}
	}
	for _, tp := range truth.Persons {
		if inGroup[tp.Key] {
			groupPersons = append(groupPersons, tp)
		}
	}
	slices.Sort(members)
	slices.Sort(wantMembers)
	if !slices.Equal(members, wantMembers) {
		t.Errorf("Group %s members:\n got %v\nwant %v", org, members, wantMembers)
	}
	_, mg := c.export("/Group/"+str(group, "id")+"/$export", since)
	rg := c.fetch(mg)
	var gotPats []string
	for _, pt := range rg.byType["Patient"] {
		gotPats = append(gotPats, str(pt, "id"))
	}
	slices.Sort(gotPats)
	if !slices.Equal(gotPats, wantMembers) {
		t.Errorf("Group %s export Patients:\n got %v\nwant %v", org, gotPats, wantMembers)
	}
	groupDeleted := checkDoses(t, groupPersons, pidOf, rg.byType["Immunization"])
	written = map[string]bool{}
	for _, im := range rg.byType["Immunization"] {
		written["Immunization/"+str(im, "id")] = true
	}
	checkDeleted(t, rg.deleted, groupDeleted, written)

	// 4. Two persons by POST, with their Provenance: the truth's doses of
	// exactly those two, and one Provenance per resource written.
	two := []synth.Person{truth.Persons[0], truth.Persons[len(truth.Persons)-1]}
	_, mp := c.exportPost("/Patient/$export",
		map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + pidOf[two[0].Key]}},
		map[string]any{"name": "patient", "valueReference": map[string]any{"reference": "Patient/" + pidOf[two[1].Key]}},
		map[string]any{"name": "includeAssociatedData", "valueCoding": map[string]any{
			"system": "http://hl7.org/fhir/uv/bulkdata/CodeSystem/include-associated-data", "code": "LatestProvenanceResources"}})
	rp := c.fetch(mp)
	gotPats = gotPats[:0]
	for _, pt := range rp.byType["Patient"] {
		gotPats = append(gotPats, str(pt, "id"))
	}
	slices.Sort(gotPats)
	wantPats := []string{pidOf[two[0].Key], pidOf[two[1].Key]}
	slices.Sort(wantPats)
	if !slices.Equal(gotPats, wantPats) {
		t.Errorf("patient-parameter export Patients %v, want %v", gotPats, wantPats)
	}
	checkDoses(t, two, pidOf, rp.byType["Immunization"])
	targets := map[string]int{}
	for _, pv := range rp.byType["Provenance"] {
		for _, tg := range arr(pv, "target") {
			targets[str(tg, "reference")]++
		}
	}
	for _, typ := range []string{"Patient", "Immunization"} {
		for _, r := range rp.byType[typ] {
			if ref := typ + "/" + str(r, "id"); targets[ref] != 1 {
				t.Errorf("%s is the target of %d Provenance resources, want 1", ref, targets[ref])
			}
			delete(targets, typ+"/"+str(r, "id"))
		}
	}
	if len(targets) > 0 {
		t.Errorf("Provenance for resources not written: %v", targets)
	}

	// 5. System level, filtered and subsetted on the real mapping's
	// shapes: completed doses of the most common CVX, female Patients
	// reduced to their identifiers.
	cvxN := map[string]int{}
	for _, tp := range truth.Persons {
		for _, d := range tp.Doses {
			cvxN[d.CVX]++
		}
	}
	cvx := ""
	for k, n := range cvxN {
		if cvx == "" || n > cvxN[cvx] || n == cvxN[cvx] && k < cvx {
			cvx = k
		}
	}
	_, mf := c.export("/$export", url.Values{
		"_type":       {"Patient,Immunization"},
		"_typeFilter": {"Immunization?status=completed&vaccine-code=http://hl7.org/fhir/sid/cvx|" + cvx, "Patient?gender=female"},
		"_elements":   {"Patient.identifier"},
	})
	rf := c.fetch(mf)
	checkIssues(t, truth, rf.issues, true) // a system export: source-wide issues too
	wantDoses, gotDoses := 0, len(rf.byType["Immunization"])
	var female []string
	for _, tp := range truth.Persons {
		for _, d := range tp.Doses {
			if d.CVX == cvx && d.Status == "completed" {
				wantDoses++
			}
		}
		if tp.Sex == "F" {
			female = append(female, pidOf[tp.Key])
		}
	}
	for _, im := range rf.byType["Immunization"] {
		if k := doseKey(im); !strings.HasPrefix(k, cvx+"@") || !strings.Contains(k, "/completed/") {
			t.Errorf("filtered export wrote dose %s", k)
		}
	}
	if gotDoses != wantDoses || wantDoses == 0 {
		t.Errorf("filtered export: %d completed CVX %s doses, truth %d", gotDoses, cvx, wantDoses)
	}
	gotPats = gotPats[:0]
	for _, pt := range rf.byType["Patient"] {
		gotPats = append(gotPats, str(pt, "id"))
		subsetted := false
		for _, tag := range arr(obj(pt, "meta"), "tag") {
			subsetted = subsetted || str(tag, "code") == "SUBSETTED"
		}
		if !subsetted || len(arr(pt, "identifier")) == 0 {
			t.Errorf("_elements=Patient.identifier: Patient %s without SUBSETTED tag or identifiers", str(pt, "id"))
		}
		for k := range pt {
			if k != "resourceType" && k != "id" && k != "meta" && k != "identifier" {
				t.Errorf("_elements=Patient.identifier left Patient.%s", k)
			}
		}
	}
	slices.Sort(gotPats)
	slices.Sort(female)
	if !slices.Equal(gotPats, female) {
		t.Errorf("filtered export Patients:\n got %v\nwant the female persons %v", gotPats, female)
	}

	t.Logf("%d Patients, %d Immunizations, %d deleted, %d error lines; Group %s: %d members, %d deleted; 2 Patients: %d Provenance",
		len(pats), len(res.byType["Immunization"]), len(rs.deleted), len(res.issues), org, len(members), len(rg.deleted), len(rp.byType["Provenance"]))

	// 6. DELETE the first job: its status and files are gone.
	resp, body = c.do(http.MethodDelete, status)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("DELETE %s: %d %s", status, resp.StatusCode, body)
	}
	if resp, _ = c.do(http.MethodGet, status); resp.StatusCode != http.StatusNotFound {
		t.Errorf("status after DELETE: %d, want 404", resp.StatusCode)
	}
	if resp, _ = c.do(http.MethodGet, m.Output[0].URL); resp.StatusCode != http.StatusNotFound {
		t.Errorf("file after DELETE: %d, want 404", resp.StatusCode)
	}
}

// TestEndToEndIncrementalExport: the second half of one archive file
// arrives after a first export (each person's traffic stays in one file,
// so this is how persons change, and split persons merge, between two
// exports). The first export plus a _since export from its
// transactionTime must give the full export, which must equal the truth.
func TestEndToEndIncrementalExport(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	world, truth, cfg := genWorld(t, t.TempDir())
	const held = "msh-01.hl7"
	heldPath := filepath.Join(world, held)
	data, err := os.ReadFile(heldPath)
	if err != nil {
		t.Fatal(err)
	}
	starts := []int{0} // message offsets: msh framing puts each MSH after a \r
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("\rMSH|"))
		if j < 0 {
			break
		}
		i += j + 1
		starts = append(starts, i)
	}
	before := len(starts) / 2 // records in the first part
	if err := os.WriteFile(heldPath, data[:starts[before]], 0o644); err != nil {
		t.Fatal(err)
	}
	b, c, _ := startBridge(t, cfg, false)
	_, m0 := c.export("/Patient/$export", nil)
	r0 := c.fetch(m0)

	// The rest arrives; it is indexed and the Groups refreshed, as the
	// refresh loop does.
	f, err := os.OpenFile(heldPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data[starts[before]:]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx := context.Background()
	if st, err := b.p.Update(ctx); err != nil || st.Appended != 1 {
		t.Fatalf("indexing the rest of %s: %+v, %v", held, st, err)
	}
	if err := b.srv.RefreshGroups(ctx); err != nil {
		t.Fatal(err)
	}
	_, m := c.export("/$export", url.Values{"_type": {"Patient,Immunization"}})
	res := c.fetch(m)
	pidOf := matchPatients(t, truth.Persons, res.byType["Patient"])
	checkDoses(t, truth.Persons, pidOf, res.byType["Immunization"])
	checkIssues(t, truth, res.issues, true)

	// Since the first export's transactionTime: applied to that
	// export, the changes give this one, and they are about exactly the
	// persons with messages in the file that came later.
	_, mi := c.export("/$export", url.Values{"_type": {"Patient,Immunization"}, "_since": {m0.TransactionTime}})
	ri := c.fetch(mi)
	state := byRef(t, r0)
	for ref, line := range byRef(t, ri) {
		state[ref] = line
	}
	unknown := 0
	written := byRef(t, ri)
	seenDel := map[string]bool{}
	for _, ref := range ri.deleted {
		// Deleted lists exactly what existed and was removed: a merge
		// deletes the former Patient's own doses, no others.
		if _, ok := state[ref]; !ok || seenDel[ref] {
			t.Errorf("incremental export deletes %s, which the first export did not have (or listed twice)", ref)
			unknown++
		}
		if _, ok := written[ref]; ok {
			t.Errorf("incremental export both writes and deletes %s", ref)
		}
		seenDel[ref] = true
		delete(state, ref)
	}
	full := byRef(t, res)
	for ref, line := range full {
		if state[ref] != line {
			t.Errorf("%s: first export + changes differ from the full export:\n%.300s\n%.300s", ref, state[ref], line)
		}
	}
	for ref := range state {
		if _, ok := full[ref]; !ok {
			t.Errorf("%s: in first export + changes, not in the full export", ref)
		}
	}
	touched := map[string]bool{}
	for _, msg := range truth.Messages {
		if msg.File == held && msg.Index > before && msg.Person != "" {
			touched[pidOf[msg.Person]] = true
		}
	}
	var gotTouched []string
	for _, pt := range ri.byType["Patient"] {
		gotTouched = append(gotTouched, str(pt, "id"))
		if !touched[str(pt, "id")] {
			t.Errorf("incremental export: Patient %s has no message in %s", str(pt, "id"), held)
		}
	}
	if len(gotTouched) != len(touched) {
		t.Errorf("incremental export: %d Patients, %d persons have messages in %s", len(gotTouched), len(touched), held)
	}
	var heldTruth synth.Truth
	for _, x := range truth.Broken {
		if x.File == held && x.Index > before {
			heldTruth.Broken = append(heldTruth.Broken, x)
		}
	}
	for _, x := range truth.UnseenDeletes {
		if x.File == held && x.Index > before {
			heldTruth.UnseenDeletes = append(heldTruth.UnseenDeletes, x)
		}
	}
	checkIssues(t, &heldTruth, ri.issues, true)

	// Persons split in the first export and merged since: their former
	// Patients are deleted.
	var mergedWant, mergedGot []string
	for ref := range byRef(t, r0) {
		if _, ok := full[ref]; !ok && strings.HasPrefix(ref, "Patient/") {
			mergedWant = append(mergedWant, ref)
		}
	}
	for _, ref := range ri.deleted {
		if strings.HasPrefix(ref, "Patient/") {
			mergedGot = append(mergedGot, ref)
		}
	}
	slices.Sort(mergedWant)
	slices.Sort(mergedGot)
	if !slices.Equal(mergedGot, mergedWant) {
		t.Errorf("deleted Patients %v, want the merged-away %v", mergedGot, mergedWant)
	}
	// A merged-away Patient is no Patient to export any more.
	for _, ref := range append(mergedGot, "Patient/nosuchpatient") {
		body := mustJSON(t, map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "patient", "valueReference": map[string]any{"reference": ref}}}})
		resp, got := c.send(http.MethodPost, c.base+"/Patient/$export", body,
			"Accept", "application/fhir+json", "Prefer", "respond-async", "Content-Type", "application/fhir+json")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("kick-off for %s: %d, want 400: %s", ref, resp.StatusCode, got)
		}
	}
	t.Logf("%s from record %d on came later: first export %d Patients; then %d Patients, %d Immunizations, %d deleted (%d Patients, %d never exported)",
		held, before+1, len(r0.byType["Patient"]), len(ri.byType["Patient"]), len(ri.byType["Immunization"]), len(ri.deleted), len(mergedGot), unknown)
}

// byRef indexes an export's output by Type/id, each resource as
// canonical JSON (keys sorted) so equal content compares equal.
func byRef(t *testing.T, r *result) map[string]string {
	t.Helper()
	out := map[string]string{}
	for typ, rs := range r.byType {
		for _, x := range rs {
			out[typ+"/"+str(x, "id")] = string(mustJSON(t, x))
		}
	}
	return out
}

// checkDeleted: a _since export lists want Immunization deletions, each
// once, none of them also written as output.
func checkDeleted(t *testing.T, got []string, want int, written map[string]bool) {
	t.Helper()
	if len(got) != want {
		t.Errorf("%d deletions listed, truth has %d deleted doses", len(got), want)
	}
	seen := map[string]bool{}
	for _, ref := range got {
		if !strings.HasPrefix(ref, "Immunization/") {
			t.Errorf("deleted %s: only Immunizations are deleted in this world", ref)
		}
		if seen[ref] || written[ref] {
			t.Errorf("deleted %s listed twice or also written", ref)
		}
		seen[ref] = true
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

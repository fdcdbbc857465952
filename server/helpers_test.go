package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
	"github.com/iisbridge/iisbridge/pipeline"
)

// fakeExporter serves a small, realistic registry: Patients with
// identifiers and addresses, Immunizations with CVX codes, one deletion
// and one bad input record.
type fakeExporter struct {
	mu      sync.Mutex
	queries []pipeline.Query
	block   chan struct{} // when set, Export waits for it (or ctx)
	started chan struct{} // when set, receives once Export begins
	types   []string
	members []pipeline.Membership
	// extra resources appended after the fixed set (duplicates test dedup)
	extra []*fhirout.Object
}

type fakePatient struct {
	id, gender, birth, zip, mrn string
	updated                     string
}

type fakeImm struct {
	id, patient, status, cvx, date, lot, location string
	updated                                       string
}

var fakePatients = []fakePatient{
	{"p1", "female", "2019-03-14", "55401", "MR-1001", "2024-02-01T10:00:00Z"},
	{"p2", "male", "2020-11-02", "55402", "MR-1002", "2024-03-01T10:00:00Z"},
	{"p3", "female", "2015-06", "60601", "MR-1003", "2024-04-01T10:00:00Z"},
	{"p4", "unknown", "2001-01-30", "55401-2202", "MR-1004", "2024-05-01T10:00:00Z"},
}

var fakeImms = []fakeImm{
	{"i1", "p1", "completed", "08", "2019-03-15", "LOT-A1", "Location/clinic-1", "2024-02-01T10:00:00Z"},
	{"i2", "p1", "completed", "20", "2019-05-20T09:30:00-05:00", "LOT-B7", "Location/clinic-1", "2024-02-01T10:00:00Z"},
	{"i3", "p2", "not-done", "03", "2021-11-02", "", "Location/clinic-2", "2024-03-01T10:00:00Z"},
	{"i4", "p3", "completed", "141", "2023-10-01", "FLU-99", "Location/clinic-2", "2024-04-01T10:00:00Z"},
	{"i5", "p4", "entered-in-error", "08", "2001-02-01", "", "", "2024-05-01T10:00:00Z"},
	{"i6", "p4", "completed", "115", "2013-09-09", "TD-3", "Location/clinic-1", "2024-05-01T10:00:00Z"},
}

func (p fakePatient) resource() *fhirout.Object {
	o := fhirout.NewResource("Patient")
	o.Set("id", p.id)
	o.Child("meta").Set("lastUpdated", p.updated)
	id := fhirout.NewObject()
	id.Set("system", "urn:oid:2.16.840.1.113883.3.72.5.9.1")
	id.Set("value", p.mrn)
	o.Append("identifier", id)
	n := fhirout.NewObject()
	n.Set("family", "Testcase")
	n.Set("given", []any{"Kid"})
	o.Append("name", n)
	o.Set("gender", p.gender)
	o.Set("birthDate", p.birth)
	a := fhirout.NewObject()
	a.Set("postalCode", p.zip)
	o.Append("address", a)
	return o
}

func (im fakeImm) resource() *fhirout.Object {
	o := fhirout.NewResource("Immunization")
	o.Set("id", im.id)
	o.Child("meta").Set("lastUpdated", im.updated)
	o.Set("status", im.status)
	c := fhirout.NewObject()
	c.Set("system", "http://hl7.org/fhir/sid/cvx")
	c.Set("code", im.cvx)
	o.Child("vaccineCode").Set("coding", []any{c})
	o.Child("patient").Set("reference", "Patient/"+im.patient)
	o.Set("occurrenceDateTime", im.date)
	if im.location != "" {
		o.Child("location").Set("reference", im.location)
	}
	if im.lot != "" {
		o.Set("lotNumber", im.lot)
	}
	o.Set("primarySource", true)
	return o
}

func (f *fakeExporter) ResourceTypes() []string {
	if f.types != nil {
		return f.types
	}
	return []string{"Patient", "Immunization"}
}

func inWindow(q pipeline.Query, updated string) bool {
	t, _ := time.Parse(time.RFC3339, updated)
	if !q.Since.IsZero() && !t.After(q.Since) {
		return false
	}
	if !q.Until.IsZero() && t.After(q.Until) {
		return false
	}
	return true
}

func (f *fakeExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	block, started := f.block, f.started
	f.mu.Unlock()
	if ps, ok := sink.(pipeline.ProgressSink); ok {
		ps.Progress(3, 8) // as if 3 of 8 persons were sent
	}
	if started != nil {
		select {
		case started <- struct{}{}:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	want := func(t string) bool { return len(q.Types) == 0 || slices.Contains(q.Types, t) }
	member := func(id string) bool { return q.PatientIDs == nil || slices.Contains(q.PatientIDs, id) }
	for _, p := range fakePatients {
		if want("Patient") && member(p.id) && inWindow(q, p.updated) {
			if err := sink.Resource(p.resource()); err != nil {
				return err
			}
		}
	}
	for _, im := range fakeImms {
		if want("Immunization") && member(im.patient) && inWindow(q, im.updated) {
			if err := sink.Resource(im.resource()); err != nil {
				return err
			}
		}
	}
	for _, o := range f.extra {
		if err := sink.Resource(o.Clone()); err != nil {
			return err
		}
	}
	if !q.Since.IsZero() && want("Immunization") {
		if err := sink.Deleted("Immunization", "i0-gone", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			return err
		}
	}
	return sink.Issue(fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: "value",
		Diagnostics: "PID-7: not a date", Input: &fhirout.Input{Source: "batch1.hl7", Line: 40, Index: 7, ControlID: "MSG0007", Field: "PID-7"}}))
}

func (f *fakeExporter) Memberships(ctx context.Context, fn func(pipeline.Membership) error) error {
	for _, m := range f.members {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeExporter) MissingPatients(ctx context.Context, ids []string) ([]string, error) {
	var miss []string
	for _, id := range ids {
		if !slices.ContainsFunc(fakePatients, func(p fakePatient) bool { return p.id == id }) {
			miss = append(miss, id)
		}
	}
	return miss, nil
}

func (f *fakeExporter) lastQuery() pipeline.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[len(f.queries)-1]
}

// headerAuth is a test Authorizer: X-Client names the client; X-Types,
// X-Groups and X-Writes (comma lists) narrow it; "X-Client: nobody" is
// refused.
type headerAuth struct{}

func (headerAuth) Authorize(r *http.Request) (*Principal, error) {
	c := r.Header.Get("X-Client")
	switch c {
	case "":
		return &Principal{ClientID: "client-a"}, nil
	case "nobody":
		return nil, &AuthError{Status: 401, Msg: "no valid bearer token"}
	}
	p := &Principal{ClientID: c}
	if v := r.Header.Get("X-Types"); v != "" {
		p.Types = strings.Split(v, ",")
	}
	if v := r.Header.Get("X-Groups"); v != "" {
		p.Groups = strings.Split(v, ",")
	}
	if v, ok := r.Header["X-Writes"]; ok {
		p.Writes = strings.Split(v[0], ",")
	}
	return p, nil
}

type harness struct {
	t    *testing.T
	s    *Server
	ts   *httptest.Server
	exp  *fakeExporter
	dir  string
	log  *bytes.Buffer
	logw *syncBuf
}

// logs is the log so far, safe while the server still writes to it.
func (h *harness) logs() string {
	h.logw.mu.Lock()
	defer h.logw.mu.Unlock()
	return h.log.String()
}

var staticGroups = []StaticGroup{
	{ID: "riverside", Name: "Riverside Pediatrics", OrgKey: "RIVERSIDE^2.16.840.1.113883.3.72.5.30.1^ISO", Members: []string{"p1", "p2"}},
	{ID: "empty-clinic", Name: "Empty Clinic", Members: nil},
}

// newHarness starts a server over the fake exporter. mod may adjust
// options before New.
func newHarness(t *testing.T, mod func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, exp: &fakeExporter{}, dir: t.TempDir(), log: &bytes.Buffer{}}
	h.start(mod)
	return h
}

type syncBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (h *harness) start(mod func(*Options)) {
	h.t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	h.logw = &syncBuf{b: h.log}
	o := Options{
		Exporter: h.exp, DataDir: h.dir, BaseURL: "http://" + ts.Listener.Addr().String() + "/fhir",
		Authorizer: headerAuth{}, RetryAfter: time.Second, MinPollSpacing: 40 * time.Millisecond,
		StaticGroups: staticGroups, Logger: slog.New(slog.NewTextHandler(h.logw, nil)),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	// The real http.Server and listener serve (timeouts, per-address cap).
	ts.Config = s.HTTPServer()
	ts.Listener = s.LimitListener(ts.Listener)
	ts.Start()
	h.s, h.ts = s, ts
	h.t.Cleanup(func() { h.stop() })
}

func (h *harness) stop() {
	if h.ts == nil {
		return
	}
	h.ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.s.Close(ctx); err != nil {
		h.t.Errorf("close: %v", err)
	}
	h.ts = nil
}

func (h *harness) url(path string) string { return h.ts.URL + path }

// do sends a request; hdr holds header pairs.
func (h *harness) do(method, url string, body string, hdr ...string) *http.Response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := plainTransport.RoundTrip(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// plainTransport sends exactly the headers given: no transparent gzip.
var plainTransport = &http.Transport{DisableCompression: true}

var kickHeaders = []string{"Accept", "application/fhir+json", "Prefer", "respond-async"}

// kick starts an export by GET with a raw query string.
func (h *harness) kick(path, rawQuery string, hdr ...string) *http.Response {
	h.t.Helper()
	u := h.url("/fhir" + path)
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	return h.do("GET", u, "", append(slices.Clone(kickHeaders), hdr...)...)
}

// kickPost starts an export by POST with a Parameters body.
func (h *harness) kickPost(path string, params []map[string]any, hdr ...string) *http.Response {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
	return h.do("POST", h.url("/fhir"+path), string(b), append(slices.Clone(kickHeaders), hdr...)...)
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectStatus checks the code and, for errors, that the body is an
// OperationOutcome containing want.
func expectStatus(t *testing.T, r *http.Response, code int, want string) string {
	t.Helper()
	b := body(t, r)
	if r.StatusCode != code {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, code, b)
	}
	if want != "" && !strings.Contains(b, want) {
		t.Fatalf("%s: body lacks %q: %s", r.Request.URL.Path, want, b)
	}
	if code >= 400 {
		if ct := r.Header.Get("Content-Type"); ct != "application/fhir+json" {
			t.Errorf("error Content-Type %q", ct)
		}
		if !strings.Contains(b, `"resourceType":"OperationOutcome"`) {
			t.Errorf("error body is not an OperationOutcome: %s", b)
		}
		validate(t, []byte(b))
	}
	return b
}

// accepted checks a 202 kick-off and returns the status URL.
func (h *harness) accepted(r *http.Response) string {
	h.t.Helper()
	b := body(h.t, r)
	if r.StatusCode != http.StatusAccepted {
		h.t.Fatalf("kick-off: status %d, want 202: %s", r.StatusCode, b)
	}
	loc := r.Header.Get("Content-Location")
	if !strings.HasPrefix(loc, h.ts.URL+"/fhir/bulkstatus/") {
		h.t.Fatalf("Content-Location %q is not an absolute status URL", loc)
	}
	return loc
}

type manifest struct {
	TransactionTime     string `json:"transactionTime"`
	Request             string `json:"request"`
	RequiresAccessToken bool   `json:"requiresAccessToken"`
	Output              []item `json:"output"`
	Deleted             []item `json:"deleted"`
	Error               []item `json:"error"`
	raw                 map[string]json.RawMessage
}

type item struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int64  `json:"count"`
}

// wait polls a status URL, honouring Retry-After scaled down, until it is
// no longer 202; it returns the final response.
func (h *harness) wait(status string, hdr ...string) *http.Response {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.do("GET", status, "", append([]string{"Accept", "application/json"}, hdr...)...)
		if r.StatusCode != http.StatusAccepted && r.StatusCode != http.StatusTooManyRequests {
			return r
		}
		io.Copy(io.Discard, r.Body)
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s still running after 10s", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// done waits for a job and decodes its manifest.
func (h *harness) done(status string, hdr ...string) manifest {
	h.t.Helper()
	r := h.wait(status, hdr...)
	b := body(h.t, r)
	if r.StatusCode != http.StatusOK {
		h.t.Fatalf("job ended %d: %s", r.StatusCode, b)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		h.t.Errorf("manifest Content-Type %q, want application/json", ct)
	}
	if _, err := http.ParseTime(r.Header.Get("Expires")); err != nil {
		h.t.Errorf("manifest Expires %q: %v", r.Header.Get("Expires"), err)
	}
	var m manifest
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		h.t.Fatalf("manifest: %v: %s", err, b)
	}
	json.Unmarshal([]byte(b), &m.raw)
	for _, k := range []string{"transactionTime", "request", "requiresAccessToken", "output", "error"} {
		if _, ok := m.raw[k]; !ok {
			h.t.Errorf("manifest lacks %q: %s", k, b)
		}
	}
	return m
}

// lines downloads a file and returns its parsed lines, checking that the
// manifest count is exact and every line has the item's type.
func (h *harness) lines(it item, hdr ...string) []map[string]any {
	h.t.Helper()
	r := h.do("GET", it.URL, "", hdr...)
	if r.StatusCode != 200 {
		h.t.Fatalf("download %s: %d %s", it.URL, r.StatusCode, body(h.t, r))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/fhir+ndjson" {
		h.t.Errorf("file Content-Type %q", ct)
	}
	var out []map[string]any
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		validate(h.t, sc.Bytes())
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			h.t.Fatalf("%s: line %d: %v", it.URL, len(out)+1, err)
		}
		if m["resourceType"] != it.Type {
			h.t.Errorf("%s: line of type %v in a %s file", it.URL, m["resourceType"], it.Type)
		}
		out = append(out, m)
	}
	if int64(len(out)) != it.Count {
		h.t.Errorf("%s: %d lines, manifest count %d", it.URL, len(out), it.Count)
	}
	return out
}

// ids collects "Type/id" of every output line of the manifest.
func (h *harness) ids(m manifest, hdr ...string) []string {
	h.t.Helper()
	var out []string
	for _, it := range m.Output {
		for _, l := range h.lines(it, hdr...) {
			out = append(out, fmt.Sprintf("%s/%s", l["resourceType"], l["id"]))
		}
	}
	slices.Sort(out)
	return out
}

// validate checks FHIR JSON against the R4 schema when it is configured
// (IISBRIDGE_FHIR_SCHEMA), without skipping the test otherwise.
func validate(t testing.TB, resource []byte) {
	t.Helper()
	if err := fhirtest.Check(resource); err != nil && !errors.Is(err, fhirtest.ErrNoSchema) {
		t.Error(err)
	}
}

package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
)

func repeatList(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, ",")
}

// Issue 14 item 4: every list parameter has a documented cap; beyond it
// the kick-off is a 400 too-costly, lenient or not, and error responses
// stay small.
func TestListParameterCaps(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 100 })
	lenient := []string{"Prefer", "handling=lenient"}
	cases := []struct {
		name, query string
	}{
		{"_type", "_type=" + repeatList(maxTypes+1, func(i int) string { return fmt.Sprintf("T%d", i) })},
		{"_type repeated", strings.Repeat("_type=Patient&", maxTypes+1)},
		{"_elements", "_elements=" + repeatList(maxElements+1, func(int) string { return "identifier" })},
		{"_typeFilter queries", "_typeFilter=" + esc(repeatList(maxTypeFilters+1, func(int) string { return "Patient?gender=female" }))},
		{"_typeFilter values", "_typeFilter=" + esc("Patient?gender="+repeatList(maxFilterValues+1, func(int) string { return "female" }))},
		{"_typeFilter clauses", "_typeFilter=" + esc("Patient?"+strings.Repeat("gender=female&", maxFilterValues)+"gender=male")},
		{"_typeFilter values over queries", "_typeFilter=" + esc(repeatList(maxFilterValues/2+1, func(int) string { return "Patient?gender=female,male" }))},
	}
	for _, c := range cases {
		for _, hdr := range [][]string{nil, lenient} {
			r := h.kick("/Patient/$export", c.query, hdr...)
			b := expectStatus(t, r, 400, "too-costly")
			if len(b) > 2000 {
				t.Errorf("%s: %d-byte error", c.name, len(b))
			}
		}
	}
	// One huge value is quoted only in part.
	b := expectStatus(t, h.kick("/Patient/$export", "_type="+strings.Repeat("é", 100000)), 400, "_type")
	if len(b) > 2000 {
		t.Errorf("a huge _type value: %d-byte error", len(b))
	}
	// At the caps a kick-off works.
	h.done(h.accepted(h.kick("/Patient/$export", "_type="+repeatList(maxTypes, func(int) string { return "Patient" }))))
	h.done(h.accepted(h.kick("/Patient/$export", "_elements="+repeatList(maxElements, func(int) string { return "identifier" }))))
	h.done(h.accepted(h.kick("/Patient/$export", "_typeFilter="+esc("Patient?gender="+repeatList(maxFilterValues, func(int) string { return "female" })))))

	// patient: capped, and the references are de-duplicated.
	refs := func(n int) []map[string]any {
		var ps []map[string]any
		for i := range n {
			ps = append(ps, map[string]any{"name": "patient", "valueReference": map[string]any{"reference": fmt.Sprintf("Patient/p%d", i%4+1)}})
		}
		return ps
	}
	expectStatus(t, h.kickPost("/Patient/$export", refs(maxPatientRefs+1)), 400, "too-costly")
	h.done(h.accepted(h.kickPost("/Patient/$export", refs(maxPatientRefs))))
	if q := h.exp.lastQuery(); !slices.Equal(q.PatientIDs, []string{"p1", "p2", "p3", "p4"}) {
		t.Errorf("patient ids %v", q.PatientIDs)
	}

	// Many problems under the caps: the response lists maxIssues of them.
	q := "_type=" + repeatList(maxTypes, func(i int) string { return fmt.Sprintf("Nope%d", i) })
	b = expectStatus(t, h.kick("/Patient/$export", q), 400, "more problems of this request are not listed")
	if n := strings.Count(b, `"severity"`); n != maxIssues+1 {
		t.Errorf("%d issues listed, want %d", n, maxIssues+1)
	}
	q = "_type=Patient," + repeatList(maxTypes-1, func(i int) string { return fmt.Sprintf("Nope%d", i) })
	m := h.done(h.accepted(h.kick("/Patient/$export", q, lenient...)))
	var warnings int
	for _, it := range m.Error {
		for _, l := range h.lines(it) {
			for _, is := range l["issue"].([]any) {
				if is.(map[string]any)["severity"] == "warning" {
					warnings++
				}
			}
		}
	}
	if warnings != maxIssues+1 {
		t.Errorf("lenient: %d warnings, want %d", warnings, maxIssues+1)
	}
}

// Issue 14 item 7: in lenient mode an unsupported _typeFilter clause is
// ignored alone (the rest of its query still applies) and named in the
// error file; strict mode refuses it.
func TestLenientTypeFilterDropsOnlyTheBadClause(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	f := "_type=Patient&_typeFilter=" + esc("Patient?gender=female") + "," + esc("Patient?gender=male&bogus=1")
	expectStatus(t, h.kick("/Patient/$export", f), 400, "bogus")
	m := h.done(h.accepted(h.kick("/Patient/$export", f, "Prefer", "handling=lenient")))
	if got, want := h.ids(m), []string{"Patient/p1", "Patient/p2", "Patient/p3"}; !slices.Equal(got, want) {
		t.Errorf("lenient export %v, want %v (females and males)", got, want)
	}
	var warned []string
	for _, it := range m.Error {
		for _, l := range h.lines(it) {
			for _, is := range l["issue"].([]any) {
				if is := is.(map[string]any); is["severity"] == "warning" {
					warned = append(warned, is["diagnostics"].(string))
				}
			}
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "bogus=1") || strings.Contains(warned[0], "gender=female\"") {
		t.Errorf("warnings %q", warned)
	}
}

// Issue 14 item 8: _since and _until take exactly the FHIR instant syntax
// and a time the server can compare.
func TestSinceExactInstant(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 10 })
	for _, bad := range []string{
		"2024-01-01T00:00:00%2B24:00", "2024-01-01T00:00:00%2B14:30", "0000-01-01T00:00:00Z", "2024-02-30T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T00:00:00", "2024-1-01T00:00:00Z", "2300-01-01T00:00:00Z", "1600-01-01T00:00:00Z",
		"2024-01-01T00:00:00.Z", "+2024-01-01T00:00:00Z", "2024-01-01T00:00:00z", "2024-01-01t00:00:00Z",
	} {
		expectStatus(t, h.kick("/Patient/$export", "_since="+bad), 400, "_since")
		expectStatus(t, h.kick("/Patient/$export", "_until="+bad), 400, "_until")
	}
	for _, good := range []string{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123456789%2B14:00", "2015-02-07T13:28:17-05:00", "1970-01-01T00:00:00Z"} {
		h.done(h.accepted(h.kick("/Patient/$export", "_since="+good)))
	}
}

// Issue 14 item 9: a Parameters entry with two value[x] is refused,
// whatever the map order would have picked.
func TestParameterWithTwoValues(t *testing.T) {
	h := newHarness(t, nil)
	expectStatus(t, h.kickPost("/Patient/$export", []map[string]any{
		{"name": "_type", "valueString": "Patient", "valueCode": "Immunization"}}), 400, "more than one value[x]")
}

// streamExporter streams resources, deletions or issues without end and
// without looking at ctx: only the sink's errors stop it.
type streamExporter struct {
	fakeExporter
	kind    string
	started chan struct{}
	stopped chan error
	sent    atomic.Int64
}

func (e *streamExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	close(e.started)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for i := 0; err == nil && time.Now().Before(deadline); i++ {
		switch e.kind {
		case "resource":
			err = sink.Resource(fakePatient{id: fmt.Sprintf("s%d", i), gender: "female", birth: "2020-01-01", updated: "2024-01-01T00:00:00Z"}.resource())
		case "deleted":
			err = sink.Deleted("Patient", fmt.Sprintf("s%d", i), time.Now())
		default:
			err = sink.Issue(fhirout.OperationOutcome(fhirout.Issue{Severity: "warning", Code: "value", Diagnostics: "x"}))
		}
		e.sent.Add(1)
	}
	e.stopped <- err
	return err
}

// Issue 14 item 4: a cancelled job stops its work, whatever the exporter
// streams.
func TestCancelledJobStopsWork(t *testing.T) {
	for _, kind := range []string{"resource", "deleted", "issue"} {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t, nil)
			ex := &streamExporter{kind: kind, started: make(chan struct{}), stopped: make(chan error, 1)}
			h.s.exporter = ex
			st := h.accepted(h.kick("/Patient/$export", "_since=2020-01-01T00:00:00Z"))
			<-ex.started
			for ex.sent.Load() < 100 {
				time.Sleep(time.Millisecond)
			}
			expectStatus(t, h.do("DELETE", st, ""), http.StatusAccepted, "")
			select {
			case err := <-ex.stopped:
				if err == nil {
					t.Error("exporter stopped without an error from the sink")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the job kept working after DELETE")
			}
		})
	}
}

// Issue 14 item 10: 405 names the allowed methods; an unsatisfiable
// Range (bytes=-0 included) is a 416 with a valid Content-Range and an
// OperationOutcome body.
func TestHTTPSemantics(t *testing.T) {
	h := newHarness(t, nil)
	for _, c := range []struct{ method, path, allow string }{
		{"DELETE", "/fhir/metadata", "GET, HEAD"},
		{"PUT", "/fhir/bulkstatus/abc", "DELETE, GET"},
		{"PATCH", "/fhir/Patient/$export", "GET, POST"},
		{"POST", "/healthz", "GET, HEAD"},
	} {
		r := h.do(c.method, h.url(c.path), "")
		expectStatus(t, r, 405, c.method)
		if got := r.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	m := h.done(h.accepted(h.kick("/Patient/$export", "_type=Patient")))
	u := m.Output[0].URL
	full := body(t, h.do("GET", u, ""))
	for _, rg := range []string{"bytes=-0", fmt.Sprintf("bytes=%d-", len(full)+5), "bytes=-0,-0"} {
		for _, enc := range []string{"identity", "gzip"} {
			r := h.do("GET", u, "", "Range", rg, "Accept-Encoding", enc)
			expectStatus(t, r, 416, "range")
			size := len(full)
			if enc == "gzip" {
				size = -1
			}
			if ce := r.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("%s (%s): 416 OperationOutcome sent as Content-Encoding %q", rg, enc, ce)
			}
			cr := r.Header.Get("Content-Range")
			if !strings.HasPrefix(cr, "bytes */") || (size >= 0 && cr != fmt.Sprintf("bytes */%d", size)) {
				t.Errorf("%s (%s): Content-Range %q", rg, enc, cr)
			}
		}
	}
	// A satisfiable range beside a -0 is served.
	r := h.do("GET", u, "", "Range", "bytes=-0,0-4")
	if b := body(t, r); r.StatusCode != 206 || b != full[:5] {
		t.Errorf("bytes=-0,0-4: %d %q", r.StatusCode, b)
	}
}

// leftChecker answers MissingPatients only once the client has gone, as
// a slow check over many references would.
type leftChecker struct {
	fakeExporter
	asked chan struct{}
}

func (c *leftChecker) MissingPatients(ctx context.Context, ids []string) ([]string, error) {
	close(c.asked)
	<-ctx.Done()
	return nil, nil
}

// Issue 14 item 4: a kick-off whose client left while it was checked
// starts no job.
func TestKickoffAbandonedStartsNothing(t *testing.T) {
	h := newHarness(t, nil)
	ch := &leftChecker{asked: make(chan struct{})}
	h.s.exporter = ch
	ctx, cancel := context.WithCancel(context.Background())
	b := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/p1"}}]}`
	req, _ := http.NewRequestWithContext(ctx, "POST", h.url("/fhir/Patient/$export"), strings.NewReader(b))
	for i := 0; i+1 < len(kickHeaders); i += 2 {
		req.Header.Set(kickHeaders[i], kickHeaders[i+1])
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	go func() { <-ch.asked; cancel() }()
	if r, err := plainTransport.RoundTrip(req); err == nil {
		r.Body.Close()
		t.Fatalf("the request was answered: %d", r.StatusCode)
	}
	time.Sleep(200 * time.Millisecond)
	var n int
	if err := h.s.store.db.QueryRow(`SELECT count(*) FROM jobs`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d jobs started for a client that left (%v)", n, err)
	}
	// Nor is the client's leaving an internal error.
	if strings.Contains(h.logs(), "internal error") {
		t.Errorf("logged as an internal error: %s", h.logs())
	}
}

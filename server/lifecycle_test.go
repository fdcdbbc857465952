package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// blockingHarness starts a server whose exporter waits until released.
func blockingHarness(t *testing.T, mod func(*Options)) (*harness, func()) {
	h := newHarness(t, mod)
	h.exp.block = make(chan struct{})
	h.exp.started = make(chan struct{}, 16)
	var once sync.Once
	release := func() { once.Do(func() { close(h.exp.block) }) }
	t.Cleanup(release)
	return h, release
}

func (h *harness) awaitStarted() {
	h.t.Helper()
	select {
	case <-h.exp.started:
	case <-time.After(5 * time.Second):
		h.t.Fatal("exporter never started")
	}
}

func TestPollingWhileRunning(t *testing.T) {
	h, release := blockingHarness(t, func(o *Options) { o.MinPollSpacing = 0 })
	st := h.accepted(h.kick("/Patient/$export", ""))
	h.awaitStarted()
	r := h.do("GET", st, "", "Accept", "application/json")
	expectStatus(t, r, 202, "")
	if p := r.Header.Get("X-Progress"); p == "" || len(p) >= 100 || !strings.HasPrefix(p, "running") {
		t.Errorf("X-Progress %q", p)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra != 1 {
		t.Errorf("Retry-After %q, want integer 1", r.Header.Get("Retry-After"))
	}
	// Too fast: 429 with Retry-After.
	r = h.do("GET", st, "", "Accept", "application/json")
	expectStatus(t, r, 429, "Retry-After")
	if r.Header.Get("Retry-After") != "1" {
		t.Errorf("429 Retry-After %q", r.Header.Get("Retry-After"))
	}
	// A client honouring Retry-After is never throttled.
	time.Sleep(time.Second)
	expectStatus(t, h.do("GET", st, "", "Accept", "application/json"), 202, "")
	release()
	m := h.done(st)
	if len(m.Output) != 2 {
		t.Errorf("output %+v", m.Output)
	}
}

func TestDeleteRunningAndFinished(t *testing.T) {
	h, release := blockingHarness(t, nil)
	st := h.accepted(h.kick("/Patient/$export", ""))
	h.awaitStarted()
	expectStatus(t, h.do("DELETE", st, ""), 202, "")
	expectStatus(t, h.do("GET", st, ""), 404, "no export job")
	expectStatus(t, h.do("DELETE", st, ""), 404, "")
	id := st[strings.LastIndex(st, "/")+1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(h.dir, "jobs", id)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cancelled job left its directory")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The cancelled job freed its slot at once.
	release()
	st = h.accepted(h.kick("/Patient/$export", ""))
	m := h.done(st)
	file := m.Output[0].URL
	expectStatus(t, h.do("GET", file, ""), 200, "")
	expectStatus(t, h.do("DELETE", st, ""), 202, "")
	expectStatus(t, h.do("GET", st, ""), 404, "")
	expectStatus(t, h.do("GET", file, ""), 404, "")
}

func TestPerClientLimit(t *testing.T) {
	h, release := blockingHarness(t, func(o *Options) { o.PerClient = 2; o.Concurrency = 1 })
	a := h.accepted(h.kick("/Patient/$export", ""))
	h.accepted(h.kick("/$export", "")) // queued behind the first: counts too
	r := h.kick("/Patient/$export", "")
	expectStatus(t, r, 429, "limit 2")
	if _, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil {
		t.Errorf("429 without integer Retry-After: %q", r.Header.Get("Retry-After"))
	}
	// Another client is not affected.
	h.accepted(h.kick("/Patient/$export", "", "X-Client", "client-b"))
	// DELETE frees a slot at once.
	expectStatus(t, h.do("DELETE", a, ""), 202, "")
	h.accepted(h.kick("/Patient/$export", ""))
	release()
}

func TestDownloadRangeGzipAndIsolation(t *testing.T) {
	h := newHarness(t, nil)
	m := h.done(h.accepted(h.kick("/Patient/$export", "_type=Patient")))
	u := m.Output[0].URL
	r := h.do("GET", u, "")
	full := expectStatus(t, r, 200, "")
	etag := r.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || r.Header.Get("Accept-Ranges") != "bytes" || r.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("headers: ETag %q Accept-Ranges %q Vary %q", etag, r.Header.Get("Accept-Ranges"), r.Header.Get("Vary"))
	}
	// Resume from byte 10.
	r = h.do("GET", u, "", "Range", "bytes=10-")
	if got := expectStatus(t, r, 206, ""); got != full[10:] {
		t.Errorf("range body differs")
	}
	r = h.do("GET", u, "", "Range", "bytes=10-", "If-Range", etag)
	expectStatus(t, r, 206, "")
	r = h.do("GET", u, "", "Range", "bytes=10-", "If-Range", `"stale"`)
	expectStatus(t, r, 200, "")
	r = h.do("GET", u, "", "Range", fmt.Sprintf("bytes=%d-", len(full)+5))
	if r.StatusCode != 416 {
		t.Errorf("range past the end: %d", r.StatusCode)
	}
	// gzip: same content, its own ETag, ranges over the gzip bytes.
	r = h.do("GET", u, "", "Accept-Encoding", "gzip")
	gzBody := []byte(expectStatus(t, r, 200, ""))
	if r.Header.Get("Content-Encoding") != "gzip" || r.Header.Get("ETag") == etag {
		t.Errorf("gzip headers: %v", r.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gzBody))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != full {
		t.Error("gzip body differs from the file")
	}
	r = h.do("GET", u, "", "Accept-Encoding", "gzip", "Range", "bytes=5-")
	if got := expectStatus(t, r, 206, ""); got != string(gzBody[5:]) {
		t.Error("gzip range not consistent with the gzip stream")
	}
	r = h.do("GET", u, "", "Accept-Encoding", "gzip;q=0")
	expectStatus(t, r, 200, "")
	if r.Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 still compressed")
	}
	// Another client cannot read the file or the status.
	expectStatus(t, h.do("GET", u, "", "X-Client", "client-b"), 404, "")
	st := u[:strings.Index(u, "/bulkfiles/")] + "/bulkstatus/" + strings.Split(u[strings.Index(u, "/bulkfiles/")+11:], "/")[0]
	expectStatus(t, h.do("GET", st, "", "X-Client", "client-b"), 404, "")
	expectStatus(t, h.do("DELETE", st, "", "X-Client", "client-b"), 404, "")
	// A file of one job is not reachable through another job's URL, nor
	// by a path that is not in the manifest.
	m2 := h.done(h.accepted(h.kick("/Patient/$export", "_type=Immunization")))
	other := m2.Output[0].URL
	job2 := strings.Split(other[strings.Index(other, "/bulkfiles/")+11:], "/")[0]
	job1 := strings.Split(u[strings.Index(u, "/bulkfiles/")+11:], "/")[0]
	expectStatus(t, h.do("GET", strings.Replace(u, job1, job2, 1), ""), 404, "")
	for _, bad := range []string{"/output/..%2F..%2Fiisbridge.db", "/output/Patient.ndjson.gz", "/error/Patient.ndjson", "/../output/Patient.ndjson"} {
		r := h.do("GET", h.url("/fhir/bulkfiles/"+job1+bad), "")
		if r.StatusCode == http.StatusMovedPermanently { // the router cleans dot segments first
			r = h.do("GET", h.url(r.Header.Get("Location")), "")
		}
		if r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", bad, r.StatusCode)
		}
	}
	// Unauthenticated: 401 with WWW-Authenticate.
	r = h.do("GET", u, "", "X-Client", "nobody")
	expectStatus(t, r, 401, "bearer")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
}

func TestTypesThePrincipalMayRead(t *testing.T) {
	h := newHarness(t, nil)
	hdr := []string{"X-Client", "plan", "X-Types", "Patient"}
	expectStatus(t, h.kick("/Patient/$export", "_type=Immunization", hdr...), 403, "Immunization")
	m := h.done(h.accepted(h.kick("/Patient/$export", "", hdr...)), hdr...)
	if len(m.Output) != 1 || m.Output[0].Type != "Patient" {
		t.Errorf("default types for a Patient-only client: %+v", m.Output)
	}
}

func TestRestartKeepsFinishedFailsInterrupted(t *testing.T) {
	h := newHarness(t, nil)
	done := h.accepted(h.kick("/Patient/$export", ""))
	m := h.done(done)
	h.exp.block = make(chan struct{})
	h.exp.started = make(chan struct{}, 1)
	running := h.accepted(h.kick("/$export", ""))
	h.awaitStarted()
	// A crash: a second process opens the same data dir while the first
	// still has the job running.
	h2 := &harness{t: t, exp: &fakeExporter{}, dir: h.dir, log: &bytes.Buffer{}}
	h2.start(nil)
	close(h.exp.block)
	swap := func(u string) string { return strings.Replace(u, h.ts.URL, h2.ts.URL, 1) }
	// The restarted server's URLs use its own base; same job ids.
	r := h2.do("GET", swap(done), "")
	if r.StatusCode != 200 {
		t.Fatalf("finished job after restart: %d %s", r.StatusCode, body(t, r))
	}
	for _, it := range m.Output {
		it.URL = swap(it.URL)
		h2.lines(it)
	}
	expectStatus(t, h2.do("GET", swap(running), ""), 500, "interrupted by server restart; start a new export")
	// The first process's worker must not overwrite the verdict.
	time.Sleep(200 * time.Millisecond)
	expectStatus(t, h2.do("GET", swap(running), ""), 500, "interrupted")
}

// failingWriter fails after n writes, like a full disk.
type failingWriter struct {
	n int
}

func (w *failingWriter) Write(r *fhirout.Object) error {
	if w.n--; w.n < 0 {
		return &os.PathError{Op: "write", Path: "/data/jobs/x/output/Patient.ndjson", Err: syscall.ENOSPC}
	}
	return nil
}

func (w *failingWriter) Close() ([]fhirout.FileInfo, error) { return nil, nil }

func TestWriteFailureFailsJobOnly(t *testing.T) {
	h := newHarness(t, nil)
	fail := true
	h.s.opts.newWriter = func(dir string, o fhirout.RotateOptions) (resourceWriter, error) {
		if fail && strings.HasSuffix(dir, "output") {
			return &failingWriter{n: 3}, nil
		}
		return fhirout.NewDirWriter(dir, o)
	}
	st := h.accepted(h.kick("/Patient/$export", ""))
	r := h.wait(st)
	expectStatus(t, r, 500, "disk is full")
	// The server stays healthy and the next job works.
	fail = false
	expectStatus(t, h.do("GET", h.url("/healthz"), ""), 200, "ok")
	h.done(h.accepted(h.kick("/Patient/$export", "")))
	// An unusable jobs directory (a file in its way) fails the job cleanly.
	h2 := newHarness(t, nil)
	os.WriteFile(filepath.Join(h2.dir, "jobs"), []byte("x"), 0o644)
	expectStatus(t, h2.wait(h2.accepted(h2.kick("/Patient/$export", ""))), 500, "writing the export files failed")
}

func TestDuplicateIDsWrittenOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.exp.extra = []*fhirout.Object{fakePatients[0].resource(), fakeImms[2].resource()}
	m := h.done(h.accepted(h.kick("/Patient/$export", "")))
	for _, it := range m.Output {
		if (it.Type == "Patient" && it.Count != 4) || (it.Type == "Immunization" && it.Count != 6) {
			t.Errorf("%s count %d", it.Type, it.Count)
		}
	}
	// A repeat is an exporter bug: counted and logged, not hidden.
	if !strings.Contains(h.logs(), "repeats dropped") || !strings.Contains(h.logs(), "repeats=2") {
		t.Errorf("repeats not logged: %s", h.logs())
	}
}

func TestExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, func(o *Options) { o.Now = clock; o.Expiry = 10 * time.Minute })
	st := h.accepted(h.kick("/Patient/$export", ""))
	m := h.done(st)
	r := h.do("GET", st, "")
	exp, _ := http.ParseTime(r.Header.Get("Expires"))
	if d := exp.Sub(now); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("Expires %v is not ~10m ahead", exp)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	expectStatus(t, h.do("GET", st, ""), 404, "expired")
	expectStatus(t, h.do("GET", m.Output[0].URL, ""), 404, "expired")
	h.s.purgeExpired(context.Background())
	id := st[strings.LastIndex(st, "/")+1:]
	if _, err := os.Stat(filepath.Join(h.dir, "jobs", id)); !os.IsNotExist(err) {
		t.Errorf("expired files not purged: %v", err)
	}
}

func TestMetadataDiscoveryHealthMetrics(t *testing.T) {
	h := newHarness(t, nil)
	// Open routes bypass the Authorizer.
	b := expectStatus(t, h.do("GET", h.url("/fhir/metadata"), "", "X-Client", "nobody"), 200, `"fhirVersion":"4.0.1"`)
	validateCapability(t, b)
	for _, want := range []string{
		`"instantiates":["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"]`,
		`{"name":"export","definition":"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}`,
		`"definition":"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"`,
		`"definition":"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"`,
		`"name":"vaccine-code"`, `"name":"address-postalcode"`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("CapabilityStatement lacks %s", want)
		}
	}
	expectStatus(t, h.do("GET", h.url("/fhir/.well-known/smart-configuration"), "", "X-Client", "nobody"), 404, "not enabled")
	expectStatus(t, h.do("GET", h.url("/healthz"), "", "X-Client", "nobody"), 200, "ok")
	expectStatus(t, h.do("GET", h.url("/metrics"), "", "X-Client", "nobody"), 401, "")
	expectStatus(t, h.do("GET", h.url("/fhir/Group"), "", "X-Client", "nobody"), 401, "")
	expectStatus(t, h.do("GET", h.url("/fhir/nothing-here"), ""), 404, "")

	m := h.done(h.accepted(h.kick("/Patient/$export", "", "X-Request-Id", "req-123")))
	h.ids(m)
	r := h.do("GET", h.url("/healthz"), "", "X-Request-Id", "abc.1")
	if r.Header.Get("X-Request-Id") != "abc.1" {
		t.Errorf("request id not echoed: %q", r.Header.Get("X-Request-Id"))
	}
	if r := h.do("GET", h.url("/healthz"), ""); len(r.Header.Get("X-Request-Id")) < 8 {
		t.Error("no request id generated")
	}
	b = expectStatus(t, h.do("GET", h.url("/metrics"), ""), 200, "")
	for _, want := range []string{
		`iisbridge_jobs{state="done"} 1`,
		`iisbridge_resources_exported_total{type="Patient"} 4`,
		`iisbridge_resources_exported_total{type="Immunization"} 6`,
		`iisbridge_job_duration_seconds_count 1`,
		`iisbridge_http_requests_total{code="202",route="/fhir/Patient/$export"} 1`,
		`iisbridge_http_requests_total{code="404",route="unmatched"} 1`,
		`iisbridge_file_bytes_served_total `,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("metrics lack %q:\n%s", want, b)
		}
	}
	// Logs carry route templates and job ids, never query strings.
	h.kick("/Patient/$export", "_typeFilter="+esc("Patient?identifier=MR-1001"))
	logs := h.logs()
	if strings.Contains(logs, "MR-1001") || strings.Contains(logs, "_typeFilter") {
		t.Errorf("logs leak the query: %s", logs)
	}
	if !strings.Contains(logs, "request_id=req-123") || !strings.Contains(logs, `route=/fhir/Patient/$export`) {
		t.Errorf("logs lack request id or route: %s", logs)
	}
}

func TestSmartConfigurationWithAuth(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.TokenURL = "https://iis.example.org/auth/token" })
	b := expectStatus(t, h.do("GET", h.url("/fhir/.well-known/smart-configuration"), ""), 200, `"token_endpoint": "https://iis.example.org/auth/token"`)
	for _, want := range []string{`"client_credentials"`, `"client-confidential-asymmetric"`, `"S256"`, `"private_key_jwt"`, `"system/*.rs"`} {
		if !strings.Contains(b, want) {
			t.Errorf("discovery lacks %s", want)
		}
	}
	b = expectStatus(t, h.do("GET", h.url("/fhir/metadata"), ""), 200, `"code":"SMART-on-FHIR"`)
	validateCapability(t, b)
	m := h.done(h.accepted(h.kick("/Patient/$export", "")))
	if !m.RequiresAccessToken {
		t.Error("requiresAccessToken false with auth on")
	}
	if got := TokenURL("https://iis.example.org:8443/base/fhir/"); got != "https://iis.example.org:8443/base/fhir/auth/token" {
		t.Errorf("TokenURL %q", got)
	}
}

func TestManifestSTU4Style(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ManifestStyle = "stu4" })
	r := h.wait(h.accepted(h.kick("/Patient/$export", "")))
	b := expectStatus(t, r, 200, `"outcome":[`)
	if strings.Contains(b, `"request"`) || strings.Contains(b, `"error"`) {
		t.Errorf("stu4 manifest: %s", b)
	}
}

func TestManyConcurrentExports(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Concurrency = 3; o.Rotate = fhirout.RotateOptions{MaxResources: 2} })
	var sts []string
	for i := range 10 {
		sts = append(sts, h.accepted(h.kick("/Patient/$export", "", "X-Client", fmt.Sprintf("c%d", i))))
	}
	for i, st := range sts {
		hdr := []string{"X-Client", fmt.Sprintf("c%d", i)}
		m := h.done(st, hdr...)
		if len(m.Output) != 5 { // Patient 2+2, Immunization 2+2+2
			t.Errorf("job %d: %d files, want 5 with rotation at 2", i, len(m.Output))
		}
		if got := h.ids(m, hdr...); len(got) != 10 {
			t.Errorf("job %d: %d resources", i, len(got))
		}
	}
}

// validateCapability validates a CapabilityStatement. The R4 JSON schema's
// fhirVersion enum stops at 4.0.0 (a defect of the published schema), so
// the check runs on a copy saying 4.0.0; the served value stays 4.0.1.
func validateCapability(t *testing.T, b string) {
	t.Helper()
	validate(t, []byte(strings.Replace(b, `"fhirVersion":"4.0.1"`, `"fhirVersion":"4.0.0"`, 1)))
}

func TestShutdownEndsRunningJobs(t *testing.T) {
	h, _ := blockingHarness(t, nil)
	st := h.accepted(h.kick("/Patient/$export", ""))
	h.awaitStarted()
	old := h.ts.URL
	h.stop() // graceful: cancels the running export
	h2 := &harness{t: t, exp: &fakeExporter{}, dir: h.dir, log: &bytes.Buffer{}}
	h2.start(nil)
	st = strings.Replace(st, old, h2.ts.URL, 1)
	expectStatus(t, h2.do("GET", st, ""), 500, "interrupted by server shutdown; start a new export")
	id := st[strings.LastIndex(st, "/")+1:]
	if _, err := os.Stat(filepath.Join(h.dir, "jobs", id)); !os.IsNotExist(err) {
		t.Errorf("interrupted job left files: %v", err)
	}
}

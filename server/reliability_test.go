package server

import (
	"bytes"
	"context"
	"errors"
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
	"github.com/iisbridge/iisbridge/pipeline"
)

// bigPatients are n Patients of about size bytes each: files larger than
// the loopback socket buffers, so a client that stops reading holds its
// download open.
func bigPatients(n, size int) []*fhirout.Object {
	pad := strings.Repeat("x", size)
	out := make([]*fhirout.Object, n)
	for i := range out {
		o := fhirout.NewResource("Patient")
		o.Set("id", fmt.Sprintf("big-%d", i))
		n := fhirout.NewObject()
		n.Set("family", pad)
		o.Append("name", n)
		out[i] = o
	}
	return out
}

func jobID(statusURL string) string { return statusURL[strings.LastIndex(statusURL, "/")+1:] }

// gone waits until path no longer exists.
func gone(t *testing.T, path string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still on disk after %v", path, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openDownload starts a download and reads only its first bytes, leaving
// the response open like a slow client.
func (h *harness) openDownload(url string) *http.Response {
	h.t.Helper()
	r := h.do("GET", url, "")
	if r.StatusCode != 200 {
		h.t.Fatalf("download: %d", r.StatusCode)
	}
	if _, err := io.ReadFull(r.Body, make([]byte, 16)); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// Issue 14 item 2: a DELETE while a download is open must not leave the
// job's files on disk once the download ends.
func TestDeleteDuringDownloadRemovesFiles(t *testing.T) {
	h := newHarness(t, nil)
	h.exp.extra = bigPatients(24, 1<<20)
	st := h.accepted(h.kick("/Patient/$export", "_type=Patient"))
	m := h.done(st)
	dir := filepath.Join(h.dir, "jobs", jobID(st))
	dl := h.openDownload(m.Output[0].URL)
	expectStatus(t, h.do("DELETE", st, ""), 202, "")
	expectStatus(t, h.do("GET", m.Output[0].URL, ""), 404, "")
	dl.Body.Close()
	gone(t, dir, 3*time.Second)
}

// A job deleted while downloaded, then a crash before the files went: the
// next start removes them.
func TestRestartRemovesDeletedJobFiles(t *testing.T) {
	h := newHarness(t, nil)
	st := h.accepted(h.kick("/Patient/$export", "_type=Patient"))
	h.done(st)
	dir := filepath.Join(h.dir, "jobs", jobID(st))
	// The state a crash between "deleted" and the removal leaves behind.
	if err := h.s.store.markDeleted(t.Context(), jobID(st)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	// A stray directory no job owns and a gzip temporary of a live job.
	stray := filepath.Join(h.dir, "jobs", "0123456789abcdef0123456789abcdef")
	os.MkdirAll(filepath.Join(stray, "output"), 0o750)
	live := h.accepted(h.kick("/Patient/$export", "_type=Patient"))
	lm := h.done(live)
	tmp := filepath.Join(h.dir, "jobs", jobID(live), "output", ".gz-123456")
	os.WriteFile(tmp, []byte("partial"), 0o600)
	h2 := &harness{t: t, exp: &fakeExporter{}, dir: h.dir, log: &bytes.Buffer{}}
	h2.start(nil)
	gone(t, dir, time.Second)
	gone(t, stray, time.Second)
	gone(t, tmp, time.Second)
	it := lm.Output[0]
	it.URL = strings.Replace(it.URL, h.ts.URL, h2.ts.URL, 1)
	h2.lines(it) // the live job still serves
}

// Issue 14 item 12: a job interrupted by a restart expires like any other.
func TestInterruptedJobExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h, _ := blockingHarness(t, func(o *Options) { o.Now = clock; o.Expiry = 10 * time.Minute })
	st := h.accepted(h.kick("/Patient/$export", ""))
	h.awaitStarted()
	h2 := &harness{t: t, exp: &fakeExporter{}, dir: h.dir, log: &bytes.Buffer{}}
	h2.start(func(o *Options) { o.Now = clock; o.Expiry = 10 * time.Minute })
	st = strings.Replace(st, h.ts.URL, h2.ts.URL, 1)
	expectStatus(t, h2.do("GET", st, ""), 500, "interrupted")
	rec, err := h2.s.store.job(t.Context(), jobID(st))
	if err != nil || rec.Expires.IsZero() {
		t.Fatalf("interrupted job expires %v (%v)", rec.Expires, err)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	expectStatus(t, h2.do("GET", st, ""), 404, "expired")
	h2.s.purgeExpired(t.Context())
	if rec, _ := h2.s.store.job(t.Context(), jobID(st)); rec.State != stateDeleted {
		t.Errorf("interrupted job not purged: %s", rec.State)
	}
}

// fullDisk is a writer on a disk that fills after room bytes.
type fullDisk struct {
	w    io.Writer
	room int
}

func (d *fullDisk) Write(b []byte) (int, error) {
	if len(b) > d.room {
		n, _ := d.w.Write(b[:d.room])
		d.room = 0
		return n, &os.PathError{Op: "write", Path: "/srv/iisbridge/export/jobs/x/output/.gz-1", Err: syscall.ENOSPC}
	}
	d.room -= len(b)
	return d.w.Write(b)
}

// Issue 14 item 12: when the gzip copy cannot be written (disk full) the
// plain file is served, and no partial copy stays behind.
func TestGzipOnFullDiskServesPlain(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.gzipOut = func(w io.Writer) io.Writer { return &fullDisk{w: w, room: 100} }
	})
	h.exp.extra = bigPatients(2, 64<<10)
	m := h.done(h.accepted(h.kick("/Patient/$export", "_type=Patient")))
	u := m.Output[0].URL
	plain := expectStatus(t, h.do("GET", u, ""), 200, "")
	r := h.do("GET", u, "", "Accept-Encoding", "gzip")
	got := expectStatus(t, r, 200, "")
	if r.Header.Get("Content-Encoding") != "" || got != plain {
		t.Errorf("full disk: Content-Encoding %q, %d bytes (plain is %d)", r.Header.Get("Content-Encoding"), len(got), len(plain))
	}
	left, _ := filepath.Glob(filepath.Join(h.dir, "jobs", "*", "output", "*.gz*"))
	left2, _ := filepath.Glob(filepath.Join(h.dir, "jobs", "*", "output", ".gz-*"))
	if len(left)+len(left2) > 0 {
		t.Errorf("gzip leftovers: %v %v", left, left2)
	}
	if !strings.Contains(h.logs(), "serving the plain file") {
		t.Errorf("not logged: %s", h.logs())
	}
}

// Issue 14 item 12: a kick-off that cannot record its job because the
// disk is full answers 503 with Retry-After, not 500. The job store is
// held at its current size (SQLite's max_page_count), a real "full" seam.
func TestKickoffOnFullDisk(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.PerClient = 1000 })
	db := h.s.store.db
	var pages int
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	var r *http.Response
	for i := range 500 {
		r = h.kick("/Patient/$export", "_type=Patient&_elements=id"+strings.Repeat(",identifier", 50))
		if r.StatusCode != http.StatusAccepted {
			break
		}
		if i == 499 {
			t.Fatal("the job store never filled")
		}
		body(t, r)
	}
	expectStatus(t, r, 503, "disk")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
}

// errExporter fails every export with an error that names server paths.
type errExporter struct{ fakeExporter }

func (e *errExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	return errors.New("reading /srv/registry/archive/2019/batch-7.hl7: permission denied")
}

// Issue 14 item 6: a failed job's status names no server path; decode
// errors name no Go types; every response says nosniff; manifests and
// files are not cached.
func TestNoInternalsReachClients(t *testing.T) {
	h := newHarness(t, nil)
	h.s.opts.newWriter = func(dir string, o fhirout.RotateOptions) (resourceWriter, error) {
		if strings.HasSuffix(dir, "output") {
			return &failingWriter{n: 1}, nil
		}
		return fhirout.NewDirWriter(dir, o)
	}
	b := expectStatus(t, h.wait(h.accepted(h.kick("/Patient/$export", ""))), 500, "disk is full")
	if strings.Contains(b, "/data/") || strings.Contains(b, h.dir) {
		t.Errorf("failed status leaks a path: %s", b)
	}
	os.RemoveAll(filepath.Join(h.dir, "jobs"))
	os.WriteFile(filepath.Join(h.dir, "jobs"), nil, 0o600) // a file where the jobs directory belongs
	h.s.opts.newWriter = func(dir string, o fhirout.RotateOptions) (resourceWriter, error) { return fhirout.NewDirWriter(dir, o) }
	b = expectStatus(t, h.wait(h.accepted(h.kick("/Patient/$export", ""))), 500, "writing the export files failed")
	if strings.Contains(b, h.dir) || strings.Contains(b, "/jobs") {
		t.Errorf("failed status leaks a path: %s", b)
	}
	os.Remove(filepath.Join(h.dir, "jobs"))

	he := newHarness(t, nil)
	he.s.exporter = &errExporter{}
	b = expectStatus(t, he.wait(he.accepted(he.kick("/Patient/$export", ""))), 500, "export failed")
	if strings.Contains(b, "/srv/") || strings.Contains(b, "batch-7") {
		t.Errorf("failed status leaks the exporter's error: %s", b)
	}
	if !strings.Contains(he.logs(), "batch-7.hl7") {
		t.Error("the server log lacks the real error")
	}

	for _, bad := range []string{`{"resourceType": 7}`, `{"resourceType":"Parameters","parameter":{"name":1}}`, `{"resourceType":"Parameters"`, `[1,2]`} {
		b := expectStatus(t, h.do("POST", h.url("/fhir/Patient/$export"), bad, kickHeaders...), 400, "")
		for _, leak := range []string{"Go ", "struct field", "of type", "json.RawMessage", "main.", "server."} {
			if strings.Contains(b, leak) {
				t.Errorf("%s: decode error leaks %q: %s", bad, leak, b)
			}
		}
	}

	st := h.accepted(h.kick("/Patient/$export", ""))
	m := h.done(st)
	for _, u := range []string{st, m.Output[0].URL} {
		r := h.do("GET", u, "")
		body(t, r)
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", u, r.Header.Get("Cache-Control"))
		}
	}
	for _, u := range []string{st, m.Output[0].URL, h.url("/fhir/metadata"), h.url("/healthz"), h.url("/nothing"), h.url("/metrics")} {
		r := h.do("GET", u, "")
		body(t, r)
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", u, r.Header.Get("X-Content-Type-Options"))
		}
	}
}

// Issue 14 item 12: when the job store cannot be written as a job ends
// (a full disk fills SQLite's WAL too), the outcome is kept in memory and
// recorded by the janitor later: the client sees the failure at once and
// its per-client slot is free, instead of a job "queued" until restart.
func TestJobEndRecordedWhenStoreWritable(t *testing.T) {
	h, release := blockingHarness(t, func(o *Options) { o.PerClient = 1 })
	h.s.opts.newWriter = func(dir string, o fhirout.RotateOptions) (resourceWriter, error) {
		w, err := fhirout.NewDirWriter(dir, o)
		if strings.HasSuffix(dir, "output") {
			return &fullDiskWriter{resourceWriter: w}, err
		}
		return w, err
	}
	st := h.accepted(h.kick("/Patient/$export", ""))
	h.awaitStarted()
	db := h.s.store.db
	if _, err := db.Exec(`PRAGMA query_only = ON`); err != nil { // the store refuses writes from now on
		t.Fatal(err)
	}
	release()
	expectStatus(t, h.wait(st), 500, "disk is full")
	db.Exec(`PRAGMA query_only = OFF`)
	// The slot is free, and the janitor records the outcome.
	h.exp.block = nil
	h.s.purgeExpired(t.Context())
	rec, err := h.s.store.job(t.Context(), jobID(st))
	if err != nil || rec.State != stateFailed || !strings.Contains(rec.Error, "disk is full") {
		t.Fatalf("recorded %+v, %v", rec, err)
	}
	h.s.opts.newWriter = func(dir string, o fhirout.RotateOptions) (resourceWriter, error) { return fhirout.NewDirWriter(dir, o) }
	next := h.accepted(h.kick("/Patient/$export", ""))
	h.done(next)
	assertOnly(t, h.dir, jobID(next)) // nothing of the failed job

	// A finished job the store cannot record keeps its files and is
	// served once recorded.
	h.exp.block, h.exp.started = make(chan struct{}), make(chan struct{}, 1)
	st = h.accepted(h.kick("/Patient/$export", "", "X-Client", "other"))
	h.awaitStarted()
	db.Exec(`PRAGMA query_only = ON`)
	close(h.exp.block)
	waitFor(t, "the job to end", func() bool { _, ok := h.s.pendingEnd(jobID(st)); return ok })
	expectStatus(t, h.do("GET", st, "", "X-Client", "other"), 202, "")
	db.Exec(`PRAGMA query_only = OFF`)
	h.s.purgeExpired(t.Context())
	m := h.done(st, "X-Client", "other")
	if got := h.ids(m, "X-Client", "other"); len(got) != len(allIDs) {
		t.Errorf("recorded late: %v", got)
	}
}

// Issue 14 item 2: the janitor revisits deleted jobs: a removal that
// failed is retried on its next round, without a restart.
func TestJanitorRetriesDeletedJobFiles(t *testing.T) {
	h := newHarness(t, nil)
	st := h.accepted(h.kick("/Patient/$export", "_type=Patient"))
	h.done(st)
	// The state a failed removal leaves: deleted in the store, files on disk.
	if err := h.s.store.markDeleted(t.Context(), jobID(st)); err != nil {
		t.Fatal(err)
	}
	h.s.purgeExpired(t.Context())
	gone(t, filepath.Join(h.dir, "jobs", jobID(st)), time.Second)
}

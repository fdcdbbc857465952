package server

// The fault-injection suite: crashes (a real kill -9 of a server process),
// a full disk, slow clients and DELETE races, over real HTTP. Every case
// checks that nothing wrong is served and that nothing of a deleted,
// failed or interrupted job stays on disk.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
)

// faultHelperEnv makes the test binary run a bare server process (see
// TestMain) for the kill -9 cases: "export" blocks mid-export, "gzip"
// blocks mid-compression. faultDirEnv is its data directory.
const (
	faultHelperEnv = "IISBRIDGE_TEST_FAULT_HELPER"
	faultDirEnv    = "IISBRIDGE_TEST_FAULT_DIR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(faultHelperEnv); mode != "" {
		runFaultHelper(mode, os.Getenv(faultDirEnv))
		return
	}
	os.Exit(m.Run())
}

// stuckExporter writes n Patients, then hangs like a process about to be
// killed.
type stuckExporter struct {
	fakeExporter
	n int
}

func (e *stuckExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	for i := range e.n {
		if err := sink.Resource(fakePatient{id: fmt.Sprintf("x%d", i), gender: "female", birth: "2020-01-01", updated: "2024-01-01T00:00:00Z"}.resource()); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// stuckWriter passes room bytes, then hangs.
type stuckWriter struct {
	w    io.Writer
	room int
}

func (s *stuckWriter) Write(b []byte) (int, error) {
	if len(b) > s.room {
		s.w.Write(b[:s.room])
		if f, ok := s.w.(*os.File); ok {
			f.Sync()
		}
		select {}
	}
	s.room -= len(b)
	return s.w.Write(b)
}

func runFaultHelper(mode, dir string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o := Options{DataDir: dir, BaseURL: "http://" + ln.Addr().String() + "/fhir", Authorizer: headerAuth{},
		RetryAfter: time.Second, MinPollSpacing: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	switch mode {
	case "export":
		o.Exporter = &stuckExporter{n: 3000}
	case "gzip":
		o.Exporter = &fakeExporter{extra: bigPatients(4, 64<<10)}
		o.gzipOut = func(w io.Writer) io.Writer { return &stuckWriter{w: w, room: 10} }
	}
	s, err := New(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(o.BaseURL)
	s.HTTPServer().Serve(s.LimitListener(ln))
}

// startHelper runs a server process on dir and returns its base URL.
func startHelper(t *testing.T, mode, dir string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), faultHelperEnv+"="+mode, faultDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper server: %v %s", err, stderr.String())
	}
	return strings.TrimSpace(line), cmd
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// onDisk lists what lies under the jobs directory, relative to it.
func onDisk(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "jobs")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// assertOnly checks that the jobs directory holds the live jobs' files
// and nothing else: no directory of another job, no gzip temporary.
func assertOnly(t *testing.T, dir string, live ...string) {
	t.Helper()
	for _, p := range onDisk(t, dir) {
		id, _, _ := strings.Cut(p, string(filepath.Separator))
		if !contains(live, id) || strings.Contains(filepath.Base(p), ".gz-") {
			t.Errorf("left on disk: jobs/%s", p)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := plainTransport.RoundTrip(req)
	if err != nil {
		t.Error(err) // not Fatal: called from goroutines
		return 0, ""
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func TestFaults(t *testing.T) {
	t.Run("kill -9 mid-export, restart", func(t *testing.T) {
		dir := t.TempDir()
		base, cmd := startHelper(t, "export", dir)
		req, _ := http.NewRequest("GET", base+"/Patient/$export", nil)
		req.Header.Set("Accept", "application/fhir+json")
		req.Header.Set("Prefer", "respond-async")
		r, err := plainTransport.RoundTrip(req)
		if err != nil || r.StatusCode != 202 {
			t.Fatalf("kick-off: %v %v", r, err)
		}
		st := r.Header.Get("Content-Location")
		id := jobID(st)
		waitFor(t, "the export to write", func() bool {
			fs, _ := filepath.Glob(filepath.Join(dir, "jobs", id, "output", "*"))
			return len(fs) > 0
		})
		kill9(t, cmd)
		h := &harness{t: t, exp: &fakeExporter{}, dir: dir, log: &bytes.Buffer{}}
		h.start(nil)
		st = strings.Replace(st, base, h.ts.URL+"/fhir", 1)
		expectStatus(t, h.do("GET", st, ""), 500, "interrupted by server restart")
		for _, f := range []string{"output/Patient.ndjson", "output/Patient.000.ndjson", "error/OperationOutcome.ndjson"} {
			expectStatus(t, h.do("GET", h.url("/fhir/bulkfiles/"+id+"/"+f), ""), 404, "")
		}
		assertOnly(t, dir)
		m := h.done(h.accepted(h.kick("/Patient/$export", "")))
		if got := h.ids(m); len(got) != len(allIDs) {
			t.Errorf("export after restart: %v", got)
		}
	})

	t.Run("kill -9 mid-gzip, restart", func(t *testing.T) {
		dir := t.TempDir()
		base, cmd := startHelper(t, "gzip", dir)
		req, _ := http.NewRequest("GET", base+"/Patient/$export?_type=Patient", nil)
		req.Header.Set("Accept", "application/fhir+json")
		req.Header.Set("Prefer", "respond-async")
		r, err := plainTransport.RoundTrip(req)
		if err != nil || r.StatusCode != 202 {
			t.Fatalf("kick-off: %v %v", r, err)
		}
		st := r.Header.Get("Content-Location")
		waitFor(t, "the job to finish", func() bool { c, _ := get(t, st); return c == 200 })
		file := base + "/bulkfiles/" + jobID(st) + "/output/Patient.ndjson"
		go func() { // hangs: the helper stops mid-compression
			req, _ := http.NewRequest("GET", file, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			if r, err := plainTransport.RoundTrip(req); err == nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}()
		waitFor(t, "a partial gzip copy", func() bool {
			fs, _ := filepath.Glob(filepath.Join(dir, "jobs", jobID(st), "output", ".gz-*"))
			return len(fs) == 1
		})
		kill9(t, cmd)
		h := &harness{t: t, exp: &fakeExporter{}, dir: dir, log: &bytes.Buffer{}}
		h.start(nil)
		assertOnly(t, dir, jobID(st))
		file = strings.Replace(file, base, h.ts.URL+"/fhir", 1)
		_, plain := get(t, file)
		code, gz := get(t, file, "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(strings.NewReader(gz))
		if code != 200 || err != nil {
			t.Fatalf("gzip after restart: %d %v", code, err)
		}
		if unz, err := io.ReadAll(zr); err != nil || string(unz) != plain || !strings.Contains(plain, `"id":"big-3"`) {
			t.Errorf("gzip after restart differs from the file (%v)", err)
		}
	})

	t.Run("disk full mid-export", func(t *testing.T) {
		h := newHarness(t, nil)
		h.s.opts.newWriter = func(dir string, o fhirout.RotateOptions) (resourceWriter, error) {
			w, err := fhirout.NewDirWriter(dir, o)
			if strings.HasSuffix(dir, "output") {
				return &fullDiskWriter{resourceWriter: w, left: 3}, err
			}
			return w, err
		}
		st := h.accepted(h.kick("/Patient/$export", ""))
		b := expectStatus(t, h.wait(st), 500, "disk is full")
		if strings.Contains(b, h.dir) {
			t.Errorf("status leaks the data dir: %s", b)
		}
		expectStatus(t, h.do("GET", h.url("/fhir/bulkfiles/"+jobID(st)+"/output/Patient.ndjson"), ""), 404, "")
		assertOnly(t, h.dir)
	})

	t.Run("slow clients and DELETE", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.HTTP.WriteTimeout = 500 * time.Millisecond; o.PerClient = 10 })
		h.exp.extra = bigPatients(16, 1<<20)
		st := h.accepted(h.kick("/Patient/$export", "_type=Patient"))
		m := h.done(st)
		keep := h.accepted(h.kick("/Patient/$export", "_type=Immunization"))
		h.done(keep)
		var slow []*http.Response
		for range 3 {
			slow = append(slow, h.openDownload(m.Output[0].URL))
		}
		expectStatus(t, h.do("DELETE", st, ""), 202, "")
		expectStatus(t, h.do("GET", m.Output[0].URL, ""), 404, "")
		expectStatus(t, h.do("GET", st, ""), 404, "")
		assertOnly(t, h.dir, jobID(keep)) // gone at once, readers or not
		for _, r := range slow {
			r.Body.Close()
		}
	})

	t.Run("DELETE races", func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.PerClient = 100; o.MinPollSpacing = -1; o.HTTP.MaxConnsPerClient = 1000 })
		h.exp.extra = bigPatients(4, 256<<10)
		rng := rand.New(rand.NewPCG(14, 2))
		var wg sync.WaitGroup
		for i := range 12 {
			st := h.accepted(h.kick("/Patient/$export", "", "X-Client", fmt.Sprintf("c%d", i)))
			hdr := []string{"X-Client", fmt.Sprintf("c%d", i)}
			if i%2 == 0 {
				h.done(st, hdr...)
			}
			delay := time.Duration(rng.IntN(5)) * time.Millisecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				var inner sync.WaitGroup
				for k := range 4 { // pollers and downloaders beside the DELETE
					inner.Add(1)
					go func() {
						defer inner.Done()
						for range 5 {
							get(t, st, hdr...)
							get(t, h.url(fmt.Sprintf("/fhir/bulkfiles/%s/output/Patient.ndjson", jobID(st))), append(hdr, "Accept-Encoding", []string{"gzip", "identity"}[k%2])...)
						}
					}()
				}
				time.Sleep(delay)
				req, _ := http.NewRequest("DELETE", st, nil)
				req.Header.Set("X-Client", hdr[1])
				if r, err := plainTransport.RoundTrip(req); err == nil {
					r.Body.Close()
					if r.StatusCode != 202 {
						t.Errorf("DELETE: %d", r.StatusCode)
					}
				}
				// Once DELETE answered, nothing of the job is served.
				if c, _ := get(t, st, hdr...); c != 404 {
					t.Errorf("status after DELETE: %d", c)
				}
				if c, _ := get(t, h.url("/fhir/bulkfiles/"+jobID(st)+"/output/Patient.ndjson"), hdr...); c != 404 {
					t.Errorf("file after DELETE: %d", c)
				}
				inner.Wait()
			}()
		}
		wg.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for len(onDisk(t, h.dir)) > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		assertOnly(t, h.dir)
		if t.Failed() {
			for _, l := range strings.Split(h.logs(), "\n") {
				if !strings.Contains(l, "msg=http") {
					t.Log(l)
				}
			}
		}
	})
}

// fullDiskWriter fails with ENOSPC after left writes.
type fullDiskWriter struct {
	resourceWriter
	left int
}

func (w *fullDiskWriter) Write(r *fhirout.Object) error {
	if w.left--; w.left < 0 {
		return &os.PathError{Op: "write", Path: "/srv/export/jobs/x/output/Patient.ndjson", Err: syscall.ENOSPC}
	}
	return w.resourceWriter.Write(r)
}

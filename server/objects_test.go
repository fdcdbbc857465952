package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/storage"
	"github.com/iisbridge/iisbridge/storage/storagetest"
)

func openObjectStore(t *testing.T, c storage.Config) storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// objectNames lists what a store holds under prefix.
func objectNames(t *testing.T, st storage.Store, prefix string) []string {
	t.Helper()
	var names []string
	if err := st.List(context.Background(), prefix, func(i storage.Info) error {
		names = append(names, i.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestObjectStorePresigned: against each real store, an export's files are
// uploaded while written; the manifest's urls are the store's own
// pre-signed URLs (requiresAccessToken false) that a plain GET with no
// token reads, counts equal to the manifest; a re-fetched manifest carries
// fresh URLs; a tampered or expired URL is refused by the store itself;
// DELETE removes the objects.
func TestObjectStorePresigned(t *testing.T) {
	for _, kind := range storagetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			st := openObjectStore(t, storagetest.Config(t, kind))
			h := newHarness(t, func(o *Options) {
				o.TokenURL = "http://127.0.0.1:1/token"
				o.Rotate = fhirout.RotateOptions{MaxResources: 2}
				o.Storage = &ObjectStore{Store: st, FileURLs: FileURLsPresigned, URLTTL: time.Minute}
			})
			status := h.accepted(h.kick("/$export", ""))
			m := h.done(status)
			if m.RequiresAccessToken {
				t.Error("presigned manifest says requiresAccessToken true")
			}
			if len(m.Output) != 6 { // Group 2, Patient 4 → 2 files, Immunization 6 → 3 files
				t.Fatalf("output %+v", m.Output)
			}
			var total int64
			for _, it := range m.Output {
				if strings.HasPrefix(it.URL, h.ts.URL) {
					t.Fatalf("url %s points at the server, not the store", it.URL)
				}
				total += int64(len(h.lines(it))) // no token, no header: the URL alone
			}
			if total != 12 {
				t.Errorf("%d lines in all, want 12", total)
			}
			id := jobID(status)
			if n := len(objectNames(t, st, id+"/output/")); n != 6 {
				t.Errorf("%d objects under the job's output, want 6", n)
			}
			if _, err := st.Stat(context.Background(), id+"/output/Patient.ndjson"); err != nil {
				t.Errorf("object not named job/kind/file: %v", err)
			}

			time.Sleep(1100 * time.Millisecond) // signatures carry the signing second
			if m2 := h.done(status); m2.Output[0].URL == m.Output[0].URL {
				t.Error("re-fetched manifest has the same URL: not signed when served")
			}

			if kind != "gcs" { // fake-gcs-server does not check signatures
				if code := plainGet(t, tamper(t, m.Output[0].URL)); code != http.StatusForbidden {
					t.Errorf("tampered pre-signed URL: %d, want 403 from the store", code)
				}
				short, err := st.SignedURL(context.Background(), id+"/output/Patient.ndjson", storage.URLParams{TTL: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(2100 * time.Millisecond)
				if code := plainGet(t, short); code != http.StatusForbidden {
					t.Errorf("expired pre-signed URL: %d, want 403 from the store", code)
				}
			}

			expectStatus(t, h.do("DELETE", status, ""), http.StatusAccepted, "")
			if left := objectNames(t, st, id+"/"); len(left) != 0 {
				t.Errorf("DELETE left objects: %v", left)
			}
		})
	}
}

// TestObjectStoreRedirect: with file_urls redirect the manifest points at
// the server (requiresAccessToken true); the route checks the token and
// ownership and answers 307 to a fresh pre-signed URL that needs no token.
func TestObjectStoreRedirect(t *testing.T) {
	for _, kind := range storagetest.Kinds {
		t.Run(kind, func(t *testing.T) {
			st := openObjectStore(t, storagetest.Config(t, kind))
			h := newHarness(t, func(o *Options) {
				o.TokenURL = "http://127.0.0.1:1/token"
				o.Storage = &ObjectStore{Store: st, FileURLs: FileURLsRedirect}
			})
			status := h.accepted(h.kick("/$export", ""))
			m := h.done(status)
			if !m.RequiresAccessToken {
				t.Error("redirect manifest says requiresAccessToken false")
			}
			for _, it := range m.Output {
				if !strings.HasPrefix(it.URL, h.ts.URL+"/fhir/bulkfiles/") {
					t.Fatalf("url %s is not the server's file route", it.URL)
				}
				expectStatus(t, h.do("GET", it.URL, "", "X-Client", "nobody"), http.StatusUnauthorized, "")
				expectStatus(t, h.do("GET", it.URL, "", "X-Client", "client-b"), http.StatusNotFound, "")
				r := h.do("GET", it.URL, "")
				if r.StatusCode != http.StatusTemporaryRedirect {
					t.Fatalf("GET %s: %d, want 307", it.URL, r.StatusCode)
				}
				loc := r.Header.Get("Location")
				if strings.HasPrefix(loc, h.ts.URL) || loc == "" {
					t.Fatalf("Location %q is not the store", loc)
				}
				h.lines(item{Type: it.Type, URL: loc, Count: it.Count}) // no token
			}
		})
	}
}

// TestObjectStoreUnreachable: a store that stays unreachable fails the job
// with a status saying so, names no secret in the log, and the server
// stays healthy.
func TestObjectStoreUnreachable(t *testing.T) {
	const secret = "never-show-this-secret-key"
	st := openObjectStore(t, storage.Config{Kind: "s3", Endpoint: "http://127.0.0.1:1", Region: "us-east-1", PathStyle: true,
		Bucket: "exports", AccessKeyID: "AKIDTEST", SecretAccessKey: secret, Retries: 2, RetryBase: 5 * time.Millisecond})
	h := newHarness(t, func(o *Options) { o.Storage = &ObjectStore{Store: st} })
	r := h.wait(h.accepted(h.kick("/$export", "")))
	expectStatus(t, r, http.StatusInternalServerError, "export file store could not be written")
	expectStatus(t, h.do("GET", h.url("/healthz"), ""), http.StatusOK, "")
	if strings.Contains(h.logs(), secret) {
		t.Errorf("log holds the secret: %s", h.logs())
	}
	if !strings.Contains(h.logs(), "export job failed") {
		t.Errorf("log does not record the failure: %s", h.logs())
	}
}

func plainGet(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// tamper changes one character of the URL's signature (S3 or Azure SAS).
func tamper(t *testing.T, raw string) string {
	t.Helper()
	u, _ := url.Parse(raw)
	q := u.Query()
	for _, k := range []string{"X-Amz-Signature", "sig"} {
		if s := q.Get(k); s != "" {
			c := "0"
			if s[0] == '0' {
				c = "1"
			}
			q.Set(k, c+s[1:])
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	t.Fatalf("no signature in %s", raw)
	return ""
}

// TestObjectStorePerClient: a client with its own storage entry (here the
// data directory) keeps its files there while others use the server's
// object store.
func TestObjectStorePerClient(t *testing.T) {
	st := openObjectStore(t, storagetest.Config(t, "s3"))
	h := newHarness(t, func(o *Options) {
		o.Storage = &ObjectStore{Store: st}
		o.ClientStorage = map[string]*ObjectStore{"client-b": {}}
	})
	ma := h.done(h.accepted(h.kick("/$export", "")))
	sb := h.accepted(h.kick("/$export", "", "X-Client", "client-b"))
	mb := h.done(sb, "X-Client", "client-b")
	if strings.HasPrefix(ma.Output[0].URL, h.ts.URL) {
		t.Errorf("client-a's url %s is not the store's", ma.Output[0].URL)
	}
	if !strings.HasPrefix(mb.Output[0].URL, h.ts.URL+"/fhir/bulkfiles/") {
		t.Errorf("client-b's url %s is not the server's", mb.Output[0].URL)
	}
	if len(h.ids(mb, "X-Client", "client-b")) == 0 {
		t.Error("client-b's files are empty")
	}
	if left := objectNames(t, st, jobID(sb)+"/"); len(left) != 0 {
		t.Errorf("client-b's job has objects: %v", left)
	}
	local, err := storage.Open(context.Background(), storage.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Exporter: h.exp, DataDir: t.TempDir(), BaseURL: "http://x/fhir", Storage: &ObjectStore{Store: local}}); err == nil {
		t.Error("a local store accepted as an object store")
	}
}

// TestObjectStoreExpiry: an expired job's objects are removed by the
// janitor's purge, and a job deleted while running leaves none.
func TestObjectStoreExpiry(t *testing.T) {
	st := openObjectStore(t, storagetest.Config(t, "s3"))
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, func(o *Options) { o.Now = clock; o.Expiry = 10 * time.Minute; o.Storage = &ObjectStore{Store: st} })
	status := h.accepted(h.kick("/$export", ""))
	h.done(status)
	id := jobID(status)
	if len(objectNames(t, st, id+"/")) == 0 {
		t.Fatal("no objects written")
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	h.s.purgeExpired(context.Background())
	if left := objectNames(t, st, id+"/"); len(left) != 0 {
		t.Errorf("expired job's objects left: %v", left)
	}

	// A job deleted while it runs leaves no objects.
	h.exp.block = make(chan struct{})
	h.exp.started = make(chan struct{}, 1)
	status = h.accepted(h.kick("/$export", ""))
	<-h.exp.started
	expectStatus(t, h.do("DELETE", status, ""), http.StatusAccepted, "")
	close(h.exp.block)
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.s.mu.Lock()
		running := len(h.s.running)
		h.s.mu.Unlock()
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted job still running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left := objectNames(t, st, jobID(status)+"/"); len(left) != 0 {
		t.Errorf("deleted running job left objects %v", left)
	}
}

// memStore is an object store in memory that records aborted uploads.
type memStore struct {
	mu        sync.Mutex
	objects   map[string][]byte
	aborted   []string
	deletions []string
}

type memWriter struct {
	s    *memStore
	name string
	buf  []byte
}

func (w *memWriter) Write(p []byte) (int, error) { w.buf = append(w.buf, p...); return len(p), nil }
func (w *memWriter) Close() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.objects[w.name] = w.buf
	return nil
}
func (w *memWriter) Abort() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.aborted = append(w.s.aborted, w.name)
	return nil
}

func (s *memStore) Create(_ context.Context, name string) (storage.Writer, error) {
	return &memWriter{s: s, name: name}, nil
}
func (s *memStore) Stat(context.Context, string) (storage.Info, error) { return storage.Info{}, nil }
func (s *memStore) Delete(context.Context, string) error               { return nil }
func (s *memStore) DeletePrefix(_ context.Context, p string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deletions = append(s.deletions, p)
	for k := range s.objects {
		if strings.HasPrefix(k, p) {
			delete(s.objects, k)
		}
	}
	return nil
}
func (s *memStore) List(context.Context, string, func(storage.Info) error) error { return nil }
func (s *memStore) SignedURL(_ context.Context, name string, _ storage.URLParams) (string, error) {
	return "https://store.example/" + name + "?sig=x", nil
}

// TestObjectStoreAbortsOnCancel: a job cancelled while files are open
// aborts their uploads rather than committing them, and its prefix is
// removed; the data dir gets no files at any point. (No server needed.)
func TestObjectStoreAbortsOnCancel(t *testing.T) {
	ms := &memStore{objects: map[string][]byte{}}
	h := newHarness(t, func(o *Options) { o.Storage = &ObjectStore{Store: ms} })
	h.exp.block = make(chan struct{})
	h.exp.started = make(chan struct{}, 1)
	status := h.accepted(h.kick("/$export", ""))
	<-h.exp.started // the Group file is open, written, not closed
	expectStatus(t, h.do("DELETE", status, ""), http.StatusAccepted, "")
	close(h.exp.block)
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.s.mu.Lock()
		running := len(h.s.running)
		h.s.mu.Unlock()
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deleted job still running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	id := jobID(status)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if len(ms.aborted) == 0 || ms.aborted[0] != id+"/output/Group.ndjson" {
		t.Errorf("aborted uploads %v, want the open Group file", ms.aborted)
	}
	if len(ms.objects) != 0 {
		t.Errorf("objects committed by a cancelled job: %v", ms.objects)
	}
	if !slices.Contains(ms.deletions, id+"/") {
		t.Errorf("prefix not removed: %v", ms.deletions)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "jobs", id)); !os.IsNotExist(err) {
		t.Errorf("an object-store job has a directory in the data dir: %v", err)
	}
}

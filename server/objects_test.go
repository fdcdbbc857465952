package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"iisbridge/fhirout"
	"iisbridge/storage"
	"iisbridge/storage/storagetest"
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

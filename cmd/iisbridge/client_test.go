package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/bulkclient"
	"github.com/iisbridge/iisbridge/bulkclient/bulkclienttest"
	"github.com/iisbridge/iisbridge/config"
	"github.com/iisbridge/iisbridge/server"
)

// runExport runs `client export` with args and returns its exit code,
// the JSON summary from stdout and stderr.
func runExport(t *testing.T, args ...string) (int, bulkclient.Summary, string) {
	t.Helper()
	return runExportTTY(t, false, args...)
}

// runExportTTY is runExport with the terminal progress bar when tty.
func runExportTTY(t *testing.T, tty bool, args ...string) (int, bulkclient.Summary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := clientExport(context.Background(), append(args, "--json"), &stdout, &stderr, tty)
	var sum bulkclient.Summary
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
			t.Fatalf("summary on stdout is not JSON: %v\n%s", err, stdout.String())
		}
	}
	return code, sum, stderr.String()
}

// `iisbridge client export` against the real server (no auth) on
// generated data, at the three levels: everything arrives with counts
// equal to the manifest (the client checks each file), the Patients are
// the truth's persons or the Group's members, and the job is gone after.
func TestClientExportFromIISBridge(t *testing.T) {
	t.Parallel() // mostly waiting out Retry-After
	_, truth, cfg := genWorld(t, t.TempDir())
	_, c, _ := startBridge(t, cfg, false)

	// The Group of the organization with most members.
	members := map[string]int{}
	for _, l := range truth.Links {
		members[l.OrgKey]++
	}
	org := ""
	for k, n := range members {
		if org == "" || n > members[org] || n == members[org] && k < org {
			org = k
		}
	}
	resp, body := c.do(http.MethodGet, c.base+"/Group?"+url.Values{"identifier": {server.GroupIdentifierSystem + "|" + org}}.Encode())
	var bundle map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &bundle) != nil || len(arr(bundle, "entry")) != 1 {
		t.Fatalf("Group search by identifier %s: %d %s", org, resp.StatusCode, body)
	}
	group := obj(arr(bundle, "entry")[0], "resource")

	for _, tc := range []struct {
		level    []string
		patients int
	}{
		{[]string{"--system", "--param", "_outputFormat=application/fhir+ndjson"}, len(truth.Persons)},
		{[]string{"--patient-level", "--type", "Patient,Immunization", "--since", "2000-01-01T00:00:00Z"}, len(truth.Persons)},
		{[]string{"--group", str(group, "id"), "--type-filter", "Immunization?status=completed"}, len(arr(group, "member"))},
	} {
		t.Run(tc.level[0], func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			code, sum, stderr := runExport(t, append([]string{"--server", c.base, "--out", out}, tc.level...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var m struct {
				Output []struct {
					Type  string `json:"type"`
					Count int64  `json:"count"`
				} `json:"output"`
			}
			raw, err := os.ReadFile(filepath.Join(out, "manifest.json"))
			if err != nil || json.Unmarshal(raw, &m) != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			want := map[string]int64{}
			for _, f := range m.Output {
				want[f.Type] += f.Count
			}
			got := sum.Resources()
			if len(got) == 0 || len(got) != len(want) {
				t.Errorf("types %v, manifest %v", got, want)
			}
			for typ, n := range want {
				if got[typ] != n {
					t.Errorf("%s: %d lines, manifest %d", typ, got[typ], n)
				}
			}
			if got["Patient"] != int64(tc.patients) {
				t.Errorf("%d Patients, want %d", got["Patient"], tc.patients)
			}
			if got["Immunization"] == 0 {
				t.Error("no Immunizations")
			}
			if !sum.JobDeleted {
				t.Error("job not deleted")
			}
			if resp, _ := c.do(http.MethodGet, sum.StatusURL); resp.StatusCode != http.StatusNotFound {
				t.Errorf("status after the client's DELETE: %d, want 404", resp.StatusCode)
			}
			if !strings.Contains(stderr, "export accepted") {
				t.Errorf("stderr shows no progress:\n%s", stderr)
			}
		})
	}
}

// halfWriter passes half of a 200 response (of its Content-Length, or
// of its first write when it has none, as a gzip-encoded one) and then
// drops the connection.
type halfWriter struct {
	http.ResponseWriter
	status int
	left   int64 // -1: not known yet
}

func (w *halfWriter) WriteHeader(code int) {
	w.status, w.left = code, -1
	if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
		w.left = n / 2
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *halfWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.left < 0 {
		w.left = int64(len(p)) / 2
	}
	if w.status != http.StatusOK || int64(len(p)) <= w.left {
		w.left -= int64(len(p))
		return w.ResponseWriter.Write(p)
	}
	w.ResponseWriter.Write(p[:w.left])
	w.ResponseWriter.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// startBreakingFirstDownloads serves cfg on a test server whose first
// transfer of every export file is cut in half (halfWriter); it sets
// cfg's listen address and base URL.
func startBreakingFirstDownloads(t *testing.T, cfg *config.Config) {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	cfg.Listen, cfg.BaseURL = ts.Listener.Addr().String(), "http://"+ts.Listener.Addr().String()+"/fhir"
	cfg.Jobs.RetryAfter.Duration = time.Second
	b, err := openBridge(cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		ts.Close()
		t.Fatal(err)
	}
	var mu sync.Mutex
	broken := map[string]bool{}
	h := b.srv.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := strings.Contains(r.URL.Path, "/bulkfiles/") && !broken[r.URL.Path]
		broken[r.URL.Path] = true
		mu.Unlock()
		if first {
			w = &halfWriter{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.close(ctx)
	})
}

// A download broken midway resumes against the real server's Range,
// If-Range and ETag handling, over its gzip encoding: every file's
// first transfer is cut in half.
func TestClientExportResumesAgainstIISBridge(t *testing.T) {
	t.Parallel()
	_, _, cfg := genWorld(t, t.TempDir())
	startBreakingFirstDownloads(t, cfg)
	code, sum, stderr := runExport(t, "--server", cfg.BaseURL, "--system", "--out", filepath.Join(t.TempDir(), "out"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if len(sum.Files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range sum.Files {
		if f.Resumes != 1 || !f.Gzip || f.Count == nil || f.Lines != *f.Count {
			t.Errorf("%s %s: resumed %d×, gzip %v, %d lines, count %v", f.Kind, f.Type, f.Resumes, f.Gzip, f.Lines, f.Count)
		}
	}
}

// A server whose manifest count lies: exit 1, the file named, the job kept.
func TestClientExportCountMismatchExitCode(t *testing.T) {
	t.Parallel()
	srv := bulkclienttest.New(t, bulkclienttest.Options{Lie: true, Polls: 1})
	code, sum, stderr := runExportTTY(t, true, "--server", srv.Base, "--out", filepath.Join(t.TempDir(), "out"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if len(sum.Failed()) != 1 || !strings.Contains(stderr, "manifest's count is 4") || !strings.Contains(stderr, "--job "+sum.StatusURL) {
		t.Errorf("failed %v; stderr:\n%s", sum.Failed(), stderr)
	}
	if srv.Stats().Deleted {
		t.Error("job deleted after a failed download")
	}
}

// With credentials: keygen's files, registered with the strict server,
// carry the whole export.
func TestClientExportWithKeygenKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "keys")
	var kout, kerr bytes.Buffer
	if code := clientKeygen([]string{"--alg", "es384", "--out", dir}, &kout, &kerr); code != 0 || !strings.Contains(kout.String(), "jwks.json") {
		t.Fatalf("keygen exit %d: %s%s", code, kout.String(), kerr.String())
	}
	jwks, _ := os.ReadFile(filepath.Join(dir, "jwks.json"))
	var opts bulkclienttest.Options
	if err := json.Unmarshal(jwks, &opts.JWKS); err != nil {
		t.Fatal(err)
	}
	opts.ClientID, opts.Polls = "school-1", 2
	srv := bulkclienttest.New(t, opts)
	code, sum, stderr := runExport(t, "--server", srv.Base, "--client-id", "school-1", "--key", filepath.Join(dir, "private.pem"),
		"--out", filepath.Join(t.TempDir(), "out"), "--keep-job")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if sum.Tokens == 0 || sum.JobDeleted || srv.Stats().Deleted {
		t.Errorf("tokens %d, job deleted %v despite --keep-job", sum.Tokens, sum.JobDeleted)
	}
}

func TestClientExportUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--server", "http://x/fhir", "--system", "--group", "g"},
		{"--server", "http://x/fhir", "--client-id", "a"},
		{"--server", "http://x/fhir", "--client-id", "a", "--key", "/nonexistent/key.pem"},
		{"--server", "http://x/fhir", "stray"},
		{"--server", "http://x/fhir", "--param", "novalue"},
	} {
		var stdout, stderr bytes.Buffer
		if code := clientExport(context.Background(), args, &stdout, &stderr, false); code != 2 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	var kout, kerr bytes.Buffer
	if code := clientKeygen([]string{"--alg", "HS256", "--out", t.TempDir()}, &kout, &kerr); code != 2 || !strings.Contains(kerr.String(), "RS384 or ES384") {
		t.Errorf("keygen HS256: exit %d, stderr %q", code, kerr.String())
	}
}

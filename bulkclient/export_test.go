package bulkclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/iisbridge/iisbridge/bulkclient"
	"github.com/iisbridge/iisbridge/bulkclient/bulkclienttest"
)

// registered makes a key and the server options registering it.
func registered(t *testing.T, alg string) (*bulkclient.Key, bulkclienttest.Options) {
	t.Helper()
	k, err := bulkclient.GenerateKey(alg)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	js, err := k.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &set); err != nil {
		t.Fatal(err)
	}
	return k, bulkclienttest.Options{ClientID: "clinic-7", JWKS: set}
}

// checkSaved compares every file the client saved with what the server
// served, and the summary's lines with the truth.
func checkSaved(t *testing.T, srv *bulkclienttest.Server, sum bulkclient.Summary) {
	t.Helper()
	if len(sum.Files) != len(srv.Files) {
		t.Fatalf("%d files in the summary, the server has %d", len(sum.Files), len(srv.Files))
	}
	for i, f := range srv.Files {
		got := sum.Files[i]
		if got.Kind != f.Kind || got.Type != f.Type {
			t.Errorf("file %d: %s %s, want %s %s", i, got.Kind, got.Type, f.Kind, f.Type)
		}
		data, err := os.ReadFile(got.Path)
		if err != nil {
			t.Errorf("%s %s: %v", f.Kind, f.Type, err)
			continue
		}
		if !bytes.Equal(data, f.Data) {
			t.Errorf("%s: saved %d bytes differ from the %d served", got.Path, len(data), len(f.Data))
		}
		if got.Lines != int64(f.Count) {
			t.Errorf("%s: %d lines in the summary, %d served", got.Path, got.Lines, f.Count)
		}
		if strings.Contains(got.URL, "?") && !strings.HasSuffix(got.URL, "?…") {
			t.Errorf("summary URL %q shows its query", got.URL)
		}
	}
}

// The whole flow against a server that makes a client work for it:
// discovery, a signed assertion per token, tokens expiring mid-export,
// 429 at kick-off and while polling, Retry-After as seconds and as a
// date, a transfer broken midway (resumed by Range + If-Range over the
// gzip encoding), deleted and error files, DELETE at the end.
func TestExportAgainstStrictSMARTServer(t *testing.T) {
	for _, alg := range []string{bulkclient.RS384, bulkclient.ES384} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			key, opts := registered(t, alg)
			opts.Throttle, opts.Break, opts.TokenLife = true, true, 2*time.Second
			srv := bulkclienttest.New(t, opts)
			out := filepath.Join(t.TempDir(), "out")
			var statuses []string
			sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
				Server: srv.Base, Level: bulkclient.Group, Group: "g 1",
				Types: []string{"Patient", "Immunization"}, Since: "2024-01-01T00:00:00+05:00",
				TypeFilters: []string{"Immunization?status=completed"},
				ClientID:    opts.ClientID, Key: key, OutDir: out, Parallel: 3,
				PollInterval: 100 * time.Millisecond,
				Progress:     recorder{mu: &sync.Mutex{}, status: &statuses},
			})
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			checkSaved(t, srv, sum)
			st := srv.Stats()
			if len(st.Kickoffs) != 1 {
				t.Fatalf("kick-offs %v, want one accepted", st.Kickoffs)
			}
			const want = "/fhir/Group/g%201/$export?_since=2024-01-01T00%3A00%3A00%2B05%3A00&_type=Patient%2CImmunization&_typeFilter=Immunization%3Fstatus%3Dcompleted"
			if st.Kickoffs[0] != want {
				t.Errorf("kick-off\n got %s\nwant %s", st.Kickoffs[0], want)
			}
			if st.TokensIssued < 2 || sum.Tokens != st.TokensIssued {
				t.Errorf("%d tokens issued (client counted %d): the export outlives a token, so at least 2", st.TokensIssued, sum.Tokens)
			}
			if sc := st.Scopes[0]; sc != "system/Patient.rs system/Immunization.rs system/Group.rs" {
				t.Errorf("scope %q: want read on the types and on Group", sc)
			}
			if st.Throttled != 2 {
				t.Errorf("%d 429s sent, want 2", st.Throttled)
			}
			if st.RangeGets != 1 || sum.Files[0].Resumes != 1 {
				t.Errorf("Range requests %d, resumes of the broken file %d: want 1 each", st.RangeGets, sum.Files[0].Resumes)
			}
			if !sum.Files[0].Gzip || st.GzipSent == 0 {
				t.Errorf("the Patient file did not travel gzip-encoded")
			}
			if !st.Deleted || !sum.JobDeleted {
				t.Error("the job was not deleted after a complete download")
			}
			if sum.TransactionTime != "2026-01-02T03:04:05Z" || !sum.RequiresAccessToken {
				t.Errorf("summary transactionTime %q requiresAccessToken %v", sum.TransactionTime, sum.RequiresAccessToken)
			}
			if !strings.HasPrefix(sum.Files[3].Path, filepath.Join(out, "deleted")) || !strings.HasPrefix(sum.Files[4].Path, filepath.Join(out, "error")) {
				t.Errorf("deleted and error files at %s, %s", sum.Files[3].Path, sum.Files[4].Path)
			}
			if _, err := os.Stat(filepath.Join(out, ".partial")); !os.IsNotExist(err) {
				t.Errorf("partial downloads left behind: %v", err)
			}
			if fi, err := os.Stat(filepath.Join(out, "manifest.json")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("manifest.json: %v", err)
			}
			shown, _ := json.Marshal(sum)
			shown = append(shown, strings.Join(statuses, "\n")...)
			for _, tok := range srv.IssuedTokens() {
				if bytes.Contains(shown, []byte(tok)) {
					t.Errorf("an access token appears in the summary or progress")
				}
			}
			progress := strings.Join(statuses, "\n")
			for _, s := range []string{"step 1 of 4", "429", "resuming"} {
				if !strings.Contains(progress, s) {
					t.Errorf("progress never said %q:\n%s", s, progress)
				}
			}
		})
	}
}

// Signed URLs carry their own credential: requiresAccessToken false
// means no bearer token (the server fails the test if one arrives).
func TestExportSignedURLsGetNoToken(t *testing.T) {
	t.Parallel()
	key, opts := registered(t, bulkclient.ES384)
	opts.Signed, opts.Polls, opts.PermissionV1 = true, 1, true
	srv := bulkclienttest.New(t, opts)
	sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base, Level: bulkclient.System, ClientID: opts.ClientID, Key: key,
		OutDir: filepath.Join(t.TempDir(), "out"),
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	checkSaved(t, srv, sum)
	if sum.RequiresAccessToken {
		t.Error("summary says requiresAccessToken")
	}
	st := srv.Stats()
	if st.Downloads != len(srv.Files) {
		t.Errorf("%d complete transfers, want %d", st.Downloads, len(srv.Files))
	}
	if len(st.Scopes) != 1 || st.Scopes[0] != "system/*.read" {
		t.Errorf("scopes %q: want v1 read on everything from a server without permission-v2", st.Scopes)
	}
}

// A manifest count that disagrees with the file fails the export, keeps
// the job, and says which file.
func TestExportCountMismatchFails(t *testing.T) {
	t.Parallel()
	srv := bulkclienttest.New(t, bulkclienttest.Options{Lie: true, Polls: 1})
	sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base, Level: bulkclient.Patient, OutDir: filepath.Join(t.TempDir(), "out"),
	})
	if err == nil {
		t.Fatal("export succeeded although a count lies")
	}
	failed := sum.Failed()
	if len(failed) != 1 || failed[0].Type != "Immunization" || !strings.Contains(failed[0].Err, "3 lines, but the manifest's count is 4") {
		t.Fatalf("failed files %+v", failed)
	}
	if srv.Stats().Deleted || sum.JobDeleted {
		t.Error("job deleted although the download failed")
	}
	if !strings.Contains(err.Error(), "job stays on the server") || sum.StatusURL == "" {
		t.Errorf("error %q does not say the job stays, or no status URL (%q)", err, sum.StatusURL)
	}
}

// Without credentials no token is requested or sent (the server fails
// the test on an Authorization header).
func TestExportOpenServer(t *testing.T) {
	t.Parallel()
	srv := bulkclienttest.New(t, bulkclienttest.Options{Polls: 1, Break: true})
	sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base + "/", Level: bulkclient.System, OutDir: filepath.Join(t.TempDir(), "out"), Parallel: 1,
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	checkSaved(t, srv, sum)
	if sum.Tokens != 0 {
		t.Errorf("%d tokens", sum.Tokens)
	}
}

// A transfer that stops sending is abandoned after the stall timeout and
// resumed.
func TestExportResumesStalledTransfer(t *testing.T) {
	t.Parallel()
	srv := bulkclienttest.New(t, bulkclienttest.Options{Stall: true, Polls: 1})
	sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base, OutDir: filepath.Join(t.TempDir(), "out"), StallTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	checkSaved(t, srv, sum)
	if sum.Files[1].Resumes != 1 || srv.Stats().RangeGets != 1 {
		t.Errorf("stalled file resumed %d times, %d Range requests; want 1", sum.Files[1].Resumes, srv.Stats().RangeGets)
	}
}

// A server that refuses GET kick-offs (STU4) gets the same request as a
// POST Parameters body.
func TestExportFallsBackToPOST(t *testing.T) {
	t.Parallel()
	srv := bulkclienttest.New(t, bulkclienttest.Options{PostOnly: true, Polls: 1})
	sum, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base, Level: bulkclient.Patient, Types: []string{"Patient", "Immunization"},
		Since: "2024-01-01T00:00:00Z", TypeFilters: []string{"Immunization?status=completed"},
		OutDir: filepath.Join(t.TempDir(), "out"),
	})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	checkSaved(t, srv, sum)
	const want = `/fhir/Patient/$export {"parameter":[{"name":"_since","valueInstant":"2024-01-01T00:00:00Z"},{"name":"_type","valueString":"Patient"},{"name":"_type","valueString":"Immunization"},{"name":"_typeFilter","valueString":"Immunization?status=completed"}],"resourceType":"Parameters"}`
	if k := srv.Stats().Kickoffs; len(k) != 1 || k[0] != want {
		t.Errorf("kick-offs %q\nwant %q", k, want)
	}
}

// --job continues a job an earlier run left on the server: no new
// kick-off.
func TestExportContinuesJob(t *testing.T) {
	t.Parallel()
	srv := bulkclienttest.New(t, bulkclienttest.Options{Polls: 1})
	first, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base, OutDir: filepath.Join(t.TempDir(), "one"), KeepJob: true,
	})
	if err != nil || first.JobDeleted || srv.Stats().Deleted {
		t.Fatalf("first export: %v (job deleted %v)", err, first.JobDeleted)
	}
	second, err := bulkclient.Export(context.Background(), bulkclient.Config{
		Server: srv.Base, OutDir: filepath.Join(t.TempDir(), "two"), StatusURL: first.StatusURL,
	})
	if err != nil {
		t.Fatalf("continued export: %v", err)
	}
	checkSaved(t, srv, second)
	if st := srv.Stats(); len(st.Kickoffs) != 1 || !st.Deleted || !second.JobDeleted {
		t.Errorf("kick-offs %d, deleted %v: want 1 and the job deleted by the second run", len(st.Kickoffs), st.Deleted)
	}
}

func TestExportRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	key, _ := bulkclient.GenerateKey(bulkclient.ES384)
	for _, tc := range []struct {
		cfg  bulkclient.Config
		want string
	}{
		{bulkclient.Config{OutDir: dir}, "no server"},
		{bulkclient.Config{Server: "ftp://x", OutDir: dir}, "not an absolute http(s) URL"},
		{bulkclient.Config{Server: "http://x/fhir", OutDir: full}, "not empty"},
		{bulkclient.Config{Server: "http://x/fhir", OutDir: dir, Level: bulkclient.Group}, "needs the Group id"},
		{bulkclient.Config{Server: "http://x/fhir", OutDir: dir, Since: "yesterday"}, "not a FHIR instant"},
		{bulkclient.Config{Server: "http://x/fhir", OutDir: dir, TypeFilters: []string{"status=x"}}, "Type?search"},
		{bulkclient.Config{Server: "http://x/fhir", OutDir: dir, Key: key}, "both the client id and the private key"},
	} {
		_, err := bulkclient.Export(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// recorder keeps the status lines; downloads report from several
// goroutines.
type recorder struct {
	mu     *sync.Mutex
	status *[]string
}

func (r recorder) Status(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.status = append(*r.status, msg)
}
func (recorder) Downloading(int, int64)         {}
func (recorder) Received(int64)                 {}
func (recorder) FileDone(bulkclient.FileResult) {}

// Line counts are what a manifest's count means: resources, so blank
// lines do not count and a last line without its newline does, however
// the bytes are split into writes.
func TestLineCount(t *testing.T) {
	for _, tc := range []struct {
		data string
		want int64
	}{
		{"", 0},
		{"{}\n{}\n", 2},
		{"{}\n{}", 2},
		{"{}\r\n{}\r\n", 2},
		{"{}\n\n{}\n\n", 2},
		{"\n \n\t\r\n", 0},
		{"  {}\n", 1},
	} {
		for split := 0; split <= len(tc.data); split++ {
			got, err := bulkclient.CountLines(strings.NewReader(tc.data[:split]), strings.NewReader(tc.data[split:]))
			if err != nil || got != tc.want {
				t.Errorf("%q split at %d: %d lines (%v), want %d", tc.data, split, got, err, tc.want)
			}
		}
	}
}

// Server refusals reach the user as the server worded them (RFC 6749
// error and description, OperationOutcome issues), and nothing secret
// comes along.
func TestExportShowsServerErrors(t *testing.T) {
	key, _ := bulkclient.GenerateKey(bulkclient.ES384)
	oo := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":%q,"diagnostics":%q}]}`, code, msg)
	}
	for _, tc := range []struct {
		name    string
		handler func(base string) http.HandlerFunc
		auth    bool
		want    string
	}{
		{"token refused", func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/fhir/.well-known/smart-configuration":
					fmt.Fprintf(w, `{"token_endpoint":%q,"capabilities":["permission-v2"]}`, base+"/token")
				case "/token":
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, `{"error":"invalid_client","error_description":"kid not registered for this client"}`)
				default:
					t.Errorf("%s %s after the token was refused", r.Method, r.URL.Path)
				}
			}
		}, true, "token request refused (401 invalid_client): kid not registered for this client"},
		{"no discovery", func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { oo(w, http.StatusNotFound, "not-found", "no SMART here") }
		}, true, "SMART discovery: GET " + "BASE/fhir/.well-known/smart-configuration: 404 Not Found: error not-found: no SMART here"},
		{"kick-off refused", func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				oo(w, http.StatusBadRequest, "invalid", "_type Observation is not supported")
			}
		}, false, "kick-off GET BASE/fhir/Patient/$export?…: 400 Bad Request: error invalid: _type Observation is not supported"},
		{"job failed", func(base string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "$export") {
					w.Header().Set("Content-Location", base+"/fhir/status/9")
					w.WriteHeader(http.StatusAccepted)
					return
				}
				oo(w, http.StatusInternalServerError, "exception", "source archive unreadable")
			}
		}, false, "export failed: 500 Internal Server Error: error exception: source archive unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var base string
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.handler(base)(w, r) }))
			defer ts.Close()
			base = ts.URL
			cfg := bulkclient.Config{Server: base + "/fhir", Types: []string{"Observation"}, OutDir: filepath.Join(t.TempDir(), "out"), Retries: 1, PollInterval: 10 * time.Millisecond}
			if tc.auth {
				cfg.ClientID, cfg.Key = "c1", key
			}
			_, err := bulkclient.Export(context.Background(), cfg)
			want := strings.ReplaceAll(tc.want, "BASE", base)
			if err == nil || err.Error() != want {
				t.Errorf("error\n got %v\nwant %s", err, want)
			}
		})
	}
}

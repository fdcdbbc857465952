// Package bulkclient is a FHIR Bulk Data client (Bulk Data IG v2, with
// the STU3/STU4 manifest spellings it meets): SMART Backend Services
// authorization (client-confidential-asymmetric), $export kick-off at
// system, Patient or Group level, status polling, and downloads that
// resume, decompress and check the manifest's counts.
//
// It talks to any Bulk Data server and assumes nothing beyond the specs:
// the token endpoint comes from [base]/.well-known/smart-configuration,
// URLs from the server's headers and manifest, a bearer token goes to
// file URLs only when the manifest says requiresAccessToken (signed URLs
// carry their own credential), and retry timing comes from Retry-After.
//
// Export is the whole flow; the iisbridge client command is a thin shell
// around it, and tests call it directly.
package bulkclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Level is the kick-off endpoint.
type Level string

const (
	System  Level = "system"  // [base]/$export
	Patient Level = "patient" // [base]/Patient/$export
	Group   Level = "group"   // [base]/Group/[id]/$export
)

// Config describes one export. Server and OutDir are required; so is
// Group with Level Group. Without ClientID and Key the client sends no
// token (an open server).
type Config struct {
	Server      string // FHIR base URL
	Level       Level  // default Patient
	Group       string // Group id for Level Group
	Types       []string
	Since       string   // FHIR instant
	TypeFilters []string // each "Type?search", sent as _typeFilter
	// Params are further kick-off parameters, sent as given.
	Params url.Values
	// Operation, when set, kicks off another asynchronous operation
	// instead of $export (a server's Group/$roster-import): polling and
	// downloads are the export's. Level, Group, Types, Since, TypeFilters
	// and Params are then unused.
	Operation *Operation

	ClientID string
	Key      *Key
	Scope    string // default: read on the exported types, in the server's scope syntax
	TokenURL string // default: discovered from smart-configuration

	OutDir   string // created; must be empty when it exists
	Parallel int    // concurrent downloads, default 4
	KeepJob  bool   // leave the job on the server after the download
	// StatusURL continues an existing job (from an earlier run's
	// summary) instead of starting one.
	StatusURL string

	HTTPClient *http.Client // default: a client with sane timeouts
	Progress   Progress     // default: silent
	// Retries bounds consecutive retries of one request (network errors,
	// 429, 5xx, broken downloads); default 5.
	Retries int
	// PollInterval is the first wait between polls when the server gives
	// no Retry-After; it doubles up to a minute. Default 1 s.
	PollInterval time.Duration
	// StallTimeout aborts and resumes a download that receives nothing
	// for this long; default 2 minutes.
	StallTimeout time.Duration
}

// Operation is an asynchronous kick-off by POST: Path (after the base
// URL, with any query) and a body of ContentType.
type Operation struct {
	Path        string
	ContentType string
	Body        []byte
}

// Progress receives what a user watching the export wants to know. The
// calls come from several goroutines.
type Progress interface {
	// Status is a one-line state change: job accepted, X-Progress, a
	// retry and why.
	Status(msg string)
	// Downloading announces the files; resources is the sum of the
	// manifest's counts, or -1 when some are missing.
	Downloading(files int, resources int64)
	// Received reports n more bytes received over the wire.
	Received(n int64)
	// FileDone reports a finished (or failed) file.
	FileDone(f FileResult)
}

// FileResult is one manifest file after download.
type FileResult struct {
	Kind    string `json:"kind"` // output, deleted or error
	Type    string `json:"type"`
	URL     string `json:"url"`  // without its query: signed URLs keep their credential there
	Path    string `json:"path"` // where it was saved
	Lines   int64  `json:"lines"`
	Count   *int64 `json:"count,omitempty"` // the manifest's, when given
	Bytes   int64  `json:"bytes"`           // received, as encoded
	Gzip    bool   `json:"gzip,omitempty"`
	Resumes int    `json:"resumes,omitempty"` // Range requests after a break
	Err     string `json:"error,omitempty"`
}

// Summary is what an export did.
type Summary struct {
	StatusURL           string        `json:"statusUrl,omitempty"`
	TransactionTime     string        `json:"transactionTime,omitempty"`
	RequiresAccessToken bool          `json:"requiresAccessToken"`
	Files               []FileResult  `json:"files"`
	Tokens              int           `json:"tokens"` // access tokens obtained
	JobDeleted          bool          `json:"jobDeleted"`
	Elapsed             time.Duration `json:"-"`
	ElapsedSeconds      float64       `json:"elapsedSeconds"`
}

// Failed lists the files that did not arrive complete and correct.
func (s *Summary) Failed() []FileResult {
	var out []FileResult
	for _, f := range s.Files {
		if f.Err != "" {
			out = append(out, f)
		}
	}
	return out
}

// Resources sums the lines of the output files per type.
func (s *Summary) Resources() map[string]int64 {
	m := map[string]int64{}
	for _, f := range s.Files {
		if f.Kind == "output" {
			m[f.Type] += f.Lines
		}
	}
	return m
}

type client struct {
	cfg    Config
	hc     *http.Client
	tokens *tokenSource // nil: no authorization
	prog   Progress
}

// Export runs one export to completion: token, kick-off (unless
// cfg.StatusURL continues a job), polling, downloads, DELETE of the job.
// The error is nil only when every file arrived complete with the
// manifest's count and the job was released (or kept on request); the
// Summary says what happened either way, including the status URL to
// continue a job that was left on the server.
func Export(ctx context.Context, cfg Config) (Summary, error) {
	start := time.Now()
	var sum Summary
	c, err := newClient(cfg)
	if err != nil {
		return sum, err
	}
	err = c.export(ctx, &sum)
	sum.Elapsed = time.Since(start)
	sum.ElapsedSeconds = sum.Elapsed.Seconds()
	if c.tokens != nil {
		sum.Tokens = c.tokens.Issued()
	}
	return sum, err
}

func (c *client) export(ctx context.Context, sum *Summary) error {
	cfg := c.cfg
	if err := prepareOutDir(cfg.OutDir); err != nil {
		return err
	}
	if cfg.ClientID != "" {
		if err := c.setupAuth(ctx); err != nil {
			return err
		}
	}
	sum.StatusURL = cfg.StatusURL
	if sum.StatusURL == "" {
		var err error
		if sum.StatusURL, err = c.kickoff(ctx); err != nil {
			return err
		}
	}
	m, raw, err := c.poll(ctx, sum.StatusURL)
	if err != nil {
		return err
	}
	sum.TransactionTime, sum.RequiresAccessToken = m.TransactionTime, m.RequiresAccessToken
	// The manifest as received: it carries transactionTime, the _since of
	// the next incremental export. Signed URLs in it are credentials for
	// a while, hence 0600.
	if err := os.WriteFile(filepath.Join(cfg.OutDir, "manifest.json"), raw, 0o600); err != nil {
		return fmt.Errorf("saving the manifest: %w", err)
	}
	sum.Files = c.downloadAll(ctx, m)
	if f := sum.Failed(); len(f) > 0 {
		return fmt.Errorf("%d of %d files failed (first: %s %s: %s); the job stays on the server",
			len(f), len(sum.Files), f[0].Kind, f[0].Type, f[0].Err)
	}
	os.Remove(filepath.Join(cfg.OutDir, partialDir)) // empty after success
	if cfg.KeepJob {
		return nil
	}
	if err := c.deleteJob(ctx, sum.StatusURL); err != nil {
		return err
	}
	sum.JobDeleted = true
	return nil
}

func newClient(cfg Config) (*client, error) {
	if cfg.Server == "" {
		return nil, errors.New("no server base URL")
	}
	u, err := url.Parse(cfg.Server)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("server %q is not an absolute http(s) URL", cfg.Server)
	}
	cfg.Server = strings.TrimSuffix(cfg.Server, "/")
	if cfg.OutDir == "" {
		return nil, errors.New("no output directory")
	}
	if cfg.Level == "" {
		cfg.Level = Patient
	}
	switch cfg.Level {
	case System, Patient:
		if cfg.Group != "" {
			return nil, fmt.Errorf("a Group id was given for a %s-level export", cfg.Level)
		}
	case Group:
		if cfg.Group == "" {
			return nil, errors.New("a Group-level export needs the Group id")
		}
	default:
		return nil, fmt.Errorf("unknown export level %q (system, patient, group)", cfg.Level)
	}
	if cfg.Since != "" {
		if _, err := time.Parse(time.RFC3339Nano, cfg.Since); err != nil {
			return nil, fmt.Errorf("_since %q is not a FHIR instant (like 2024-01-31T00:00:00Z)", cfg.Since)
		}
	}
	for _, f := range cfg.TypeFilters {
		if t, _, ok := strings.Cut(f, "?"); !ok || t == "" {
			return nil, fmt.Errorf("_typeFilter %q is not of the form Type?search", f)
		}
	}
	if (cfg.ClientID == "") != (cfg.Key == nil) {
		return nil, errors.New("authorization needs both the client id and the private key (or neither, for an open server)")
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 2 * time.Minute
	}
	c := &client{cfg: cfg, hc: cfg.HTTPClient, prog: cfg.Progress}
	if c.hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = 2 * time.Minute
		c.hc = &http.Client{Transport: t}
	}
	if c.prog == nil {
		c.prog = silent{}
	}
	return c, nil
}

type silent struct{}

func (silent) Status(string)          {}
func (silent) Downloading(int, int64) {}
func (silent) Received(int64)         {}
func (silent) FileDone(FileResult)    {}

const partialDir = ".partial"

// prepareOutDir creates dir, or accepts it when empty: files of an
// earlier export beside this one's would be taken for part of it.
func prepareOutDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o755)
	case err != nil:
		return fmt.Errorf("output directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("output directory %s is not empty: choose a new one", dir)
	}
	return nil
}

func (c *client) setupAuth(ctx context.Context) error {
	tokenURL := c.cfg.TokenURL
	var sc *smartConfig
	if tokenURL == "" {
		var err error
		if sc, err = discover(ctx, c.hc, c.cfg.Server); err != nil {
			return err
		}
		tokenURL = sc.TokenEndpoint
	}
	scope := c.cfg.Scope
	if scope == "" {
		scope = defaultScope(sc, c.cfg.Types, c.cfg.Level)
	}
	c.tokens = &tokenSource{hc: c.hc, tokenURL: tokenURL, clientID: c.cfg.ClientID, key: c.cfg.Key, scope: scope, now: time.Now}
	// Fail early, before a job exists, when the server refuses us.
	_, err := c.tokens.Token(ctx, "")
	return err
}

// send performs one request, with a bearer token when withToken and the
// client authorizes. A 401 gets one retry with a new token: the token
// may have expired in flight or the server's clock may run ahead.
func (c *client) send(ctx context.Context, method, u string, hdr http.Header, withToken bool) (*http.Response, error) {
	return c.sendBody(ctx, method, u, hdr, nil, withToken)
}

func (c *client) sendBody(ctx context.Context, method, u string, hdr http.Header, body []byte, withToken bool) (*http.Response, error) {
	stale := ""
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, redactURL(u), err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if withToken && c.tokens != nil {
			tok, err := c.tokens.Token(ctx, stale)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			stale = tok
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, redactErr(err)
		}
		if resp.StatusCode == http.StatusUnauthorized && withToken && c.tokens != nil && attempt == 0 {
			drain(resp)
			c.prog.Status("access token refused (401): getting a new one")
			continue
		}
		return resp, nil
	}
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func readBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return b
}

// kickoffRequest is the export request: endpoint URL and parameters.
func (c *client) kickoffRequest() (string, url.Values) {
	var path string
	switch c.cfg.Level {
	case System:
		path = "/$export"
	case Patient:
		path = "/Patient/$export"
	case Group:
		path = "/Group/" + url.PathEscape(c.cfg.Group) + "/$export"
	}
	q := url.Values{}
	for k, v := range c.cfg.Params {
		q[k] = append([]string(nil), v...)
	}
	if len(c.cfg.Types) > 0 {
		q.Set("_type", strings.Join(c.cfg.Types, ","))
	}
	if c.cfg.Since != "" {
		q.Set("_since", c.cfg.Since)
	}
	for _, f := range c.cfg.TypeFilters {
		q.Add("_typeFilter", f)
	}
	return c.cfg.Server + path, q
}

// parametersBody is the kick-off as a POST Parameters resource, for
// servers that refuse GET (STU4 makes POST the only kick-off): one
// parameter per value, _type split into one per type.
func parametersBody(q url.Values) []byte {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	params := []map[string]any{}
	for _, k := range keys {
		for _, v := range q[k] {
			switch k {
			case "_type":
				for _, t := range strings.Split(v, ",") {
					params = append(params, map[string]any{"name": k, "valueString": t})
				}
			case "_since", "_until":
				params = append(params, map[string]any{"name": k, "valueInstant": v})
			default:
				params = append(params, map[string]any{"name": k, "valueString": v})
			}
		}
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
	return b
}

var kickoffHeaders = http.Header{"Accept": {"application/fhir+json"}, "Prefer": {"respond-async"}}

// kickoff starts the job and returns its status URL. 429 and 503 (a
// server refusing a concurrent job or busy) are retried after
// Retry-After.
func (c *client) kickoff(ctx context.Context) (string, error) {
	endpoint, q := c.kickoffRequest()
	u := endpoint
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	method, hdr, reqBody := http.MethodGet, kickoffHeaders, []byte(nil)
	if op := c.cfg.Operation; op != nil {
		method, u, reqBody = http.MethodPost, c.cfg.Server+op.Path, op.Body
		hdr = kickoffHeaders.Clone()
		hdr.Set("Content-Type", op.ContentType)
	}
	for retry := 0; ; retry++ {
		resp, err := c.sendBody(ctx, method, u, hdr, reqBody, true)
		if err != nil {
			if ctx.Err() != nil || retry >= c.cfg.Retries {
				return "", fmt.Errorf("kick-off: %w", err)
			}
			c.prog.Status(fmt.Sprintf("kick-off: %v; retrying", err))
			if err := sleep(ctx, backoff(c.cfg.PollInterval, retry)); err != nil {
				return "", err
			}
			continue
		}
		if resp.StatusCode == http.StatusMethodNotAllowed && method == http.MethodGet && c.cfg.Operation == nil {
			drain(resp)
			c.prog.Status("kick-off: GET refused (405); trying POST with a Parameters body")
			method, u, reqBody = http.MethodPost, endpoint, parametersBody(q)
			hdr = kickoffHeaders.Clone()
			hdr.Set("Content-Type", "application/fhir+json")
			retry--
			continue
		}
		body := readBody(resp)
		switch {
		case resp.StatusCode == http.StatusAccepted:
			loc := resp.Header.Get("Content-Location")
			if loc == "" {
				return "", errors.New("kick-off: 202 without Content-Location: the server did not say where to poll")
			}
			abs, err := resp.Request.URL.Parse(loc) // absolute per the IG; be lenient
			if err != nil {
				return "", fmt.Errorf("kick-off: Content-Location %q: %v", loc, err)
			}
			c.prog.Status("export accepted; status at " + redactURL(abs.String()))
			return abs.String(), nil
		case retryable(resp.StatusCode, body) && retry < c.cfg.Retries:
			wait := retryAfter(resp, backoff(c.cfg.PollInterval, retry))
			c.prog.Status(fmt.Sprintf("kick-off: %s; retrying in %s", describeFailure(resp, body), wait))
			if err := sleep(ctx, wait); err != nil {
				return "", err
			}
		default:
			return "", fmt.Errorf("kick-off %s %s: %s", method, redactURL(u), describeFailure(resp, body))
		}
	}
}

// retryable says whether a failed response is worth repeating: throttled,
// unavailable, a gateway in trouble, or an OperationOutcome that calls
// itself transient.
func retryable(status int, body []byte) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return status >= 500 && outcomeHasCode(body, "transient")
}

// retryAfter reads Retry-After as seconds or an HTTP date; def when the
// header is absent or unreadable.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return def
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return def
}

// backoff is first doubled n times, at most a minute.
func backoff(first time.Duration, n int) time.Duration {
	d := first
	for range n {
		if d *= 2; d >= time.Minute {
			return time.Minute
		}
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Manifest is the completed job's description (Bulk Data IG §Response -
// Complete Status). STU4's "outcome" is read as "error".
type Manifest struct {
	TransactionTime     string         `json:"transactionTime"`
	Request             string         `json:"request"`
	RequiresAccessToken bool           `json:"requiresAccessToken"`
	Output              []ManifestFile `json:"output"`
	Deleted             []ManifestFile `json:"deleted"`
	Error               []ManifestFile `json:"error"`
	Outcome             []ManifestFile `json:"outcome"`
}

// ManifestFile is one file item.
type ManifestFile struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count *int64 `json:"count"`
}

// poll asks for the status until the manifest arrives, waiting as
// Retry-After says (a growing interval when it says nothing).
func (c *client) poll(ctx context.Context, status string) (*Manifest, []byte, error) {
	hdr := http.Header{"Accept": {"application/json"}}
	failures, quiet, lastProgress := 0, 0, ""
	for {
		resp, err := c.send(ctx, http.MethodGet, status, hdr, true)
		if err != nil {
			if ctx.Err() != nil || failures >= c.cfg.Retries {
				return nil, nil, fmt.Errorf("polling %s: %w", redactURL(status), err)
			}
			failures++
			c.prog.Status(fmt.Sprintf("polling: %v; retrying", err))
			if err := sleep(ctx, backoff(c.cfg.PollInterval, failures)); err != nil {
				return nil, nil, err
			}
			continue
		}
		body := readBody(resp)
		var wait time.Duration
		switch {
		case resp.StatusCode == http.StatusOK:
			var m Manifest
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, nil, fmt.Errorf("the manifest at %s is not JSON: %v", redactURL(status), err)
			}
			if m.Error == nil {
				m.Error = m.Outcome
			}
			// Absolute per the IG; relative ones are read against the
			// status URL rather than refused.
			for _, list := range [][]ManifestFile{m.Output, m.Deleted, m.Error} {
				for i := range list {
					if u, err := resp.Request.URL.Parse(list[i].URL); err == nil && list[i].URL != "" {
						list[i].URL = u.String()
					}
				}
			}
			return &m, body, nil
		case resp.StatusCode == http.StatusAccepted:
			failures = 0
			wait = retryAfter(resp, backoff(c.cfg.PollInterval, quiet))
			if resp.Header.Get("Retry-After") == "" {
				quiet++
			}
			p := resp.Header.Get("X-Progress")
			if p == "" {
				p = "in progress"
			}
			if p != lastProgress {
				c.prog.Status("export " + p)
				lastProgress = p
			}
		case retryable(resp.StatusCode, body) && failures < c.cfg.Retries:
			failures++
			wait = retryAfter(resp, backoff(c.cfg.PollInterval, failures))
			c.prog.Status(fmt.Sprintf("status: %s; next poll in %s", describeFailure(resp, body), wait.Round(time.Millisecond)))
		default:
			return nil, nil, fmt.Errorf("export failed: %s", describeFailure(resp, body))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, nil, err
		}
	}
}

// deleteJob tells the server the files may go.
func (c *client) deleteJob(ctx context.Context, status string) error {
	resp, err := c.send(ctx, http.MethodDelete, status, http.Header{"Accept": {"application/fhir+json"}}, true)
	if err != nil {
		return fmt.Errorf("deleting the job: %w", err)
	}
	body := readBody(resp)
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
		return nil
	}
	return fmt.Errorf("deleting the job %s: %s", redactURL(status), describeFailure(resp, body))
}

// downloadAll fetches every manifest file with at most cfg.Parallel at
// once, in manifest order in the result.
func (c *client) downloadAll(ctx context.Context, m *Manifest) []FileResult {
	var items []fileJob
	seq := map[string]int{}
	add := func(kind string, files []ManifestFile) {
		for _, f := range files {
			typ := safeName(f.Type)
			key := kind + "/" + typ
			seq[key]++
			name := fmt.Sprintf("%s.%03d.ndjson", typ, seq[key])
			path := filepath.Join(c.cfg.OutDir, name)
			if kind != "output" {
				path = filepath.Join(c.cfg.OutDir, kind, name)
			}
			items = append(items, fileJob{kind: kind, file: f, path: path, token: m.RequiresAccessToken})
		}
	}
	add("output", m.Output)
	add("deleted", m.Deleted)
	add("error", m.Error)
	var total int64
	for _, it := range items {
		if it.file.Count == nil {
			total = -1
			break
		}
		total += *it.file.Count
	}
	c.prog.Downloading(len(items), total)
	results := make([]FileResult, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(c.cfg.Parallel, max(len(items), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = c.download(ctx, items[i])
				c.prog.FileDone(results[i])
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// safeName keeps a server-given type name usable as a file name.
func safeName(t string) string {
	b := []byte(t)
	for i, ch := range b {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "untyped"
	}
	return string(b)
}

// Package server serves the bridge's data with the FHIR Bulk Data Access
// IG's $export protocol: kick-off at system, Patient and Group level,
// status polling, manifests and NDJSON file download, plus the Groups
// learned from v2 traffic, CapabilityStatement, SMART discovery, health
// and metrics. Jobs run in a worker pool and persist in SQLite, so a
// restart keeps finished exports.
//
// Choices where the IG leaves room:
//   - Restart: jobs queued or running when the process stopped are not
//     resumed; their status answers 500 "interrupted by server restart;
//     start a new export" and partial files are removed. A graceful
//     shutdown ends them the same way ("...server shutdown...").
//   - gzip: with Accept-Encoding: gzip a file is compressed once into a
//     sibling .gz and served with http.ServeContent, so Range, If-Range and
//     strong ETags work on the gzip bytes too (ETag suffixed -gzip).
//   - Expiry: files live Options.Expiry (default 1h) after the job ends
//     (interrupted jobs too); an expired job answers 404 at once and is
//     purged by a janitor. Files of an expired or deleted job are removed
//     at once even during a download: the open file serves that client to
//     its end and the disk space is freed when it closes. At start-up
//     every directory no finished job owns is removed, with any .gz-*
//     temporary a killed process left.
//   - _since at Group level: members who joined the Group after _since
//     get their full history, the others what changed (groupexport.go);
//     Group resources count as updated at their last change or membership
//     refresh. The Group API's own choices are in groupapi.go and cohort.go.
//   - _elements: a type that no listed element applies to is left whole;
//     SUBSETTED is tagged only when something was removed.
//   - A client bound to Groups (Principal.Groups) may export only through
//     Group/[id]/$export; system and Patient level answer 403.
//   - Authorization (package auth implements it for SMART): the
//     Principal's Levels and Types bound a kick-off (403 outside them),
//     its Groups bound Group export and reads (404 outside them); Group
//     reads need read on Group, output files read on their type. With a
//     FileURLVerifier a signed file URL stands in for the token (any
//     Authorization header is ignored; a signature that does not hold is
//     403), and jobs of a Principal with SignedURLs get manifests whose
//     URLs are signed when the manifest is served.
//   - Without authorization (NoAuth) SMART discovery answers 404 and the
//     CapabilityStatement declares no security service: nothing is claimed
//     that does not exist.
//   - An export whose source could not be read in full (Options.OnUnreadable)
//     fails by default; with "warn" it completes with an `extension` on the
//     manifest and an OperationOutcome (code incomplete) counting the loss.
//     Source-wide broken-input issues go to system exports only.
//   - Each Type/id is written once per export (first wins; a deletion of a
//     written id is dropped). The exporter guarantees it globally (person
//     by person, ids derived from the person); the server re-checks over a
//     sliding window of the last 65,536 ids so memory stays flat, and logs
//     the number of repeats at ERROR: a repeat is an exporter bug.
//   - Limits: a kick-off may carry at most 10,000 `patient` references,
//     50 _type values, 100 _elements entries, 50 _typeFilter queries with
//     100 search values in all (each value is a test on every resource),
//     and 10,100 parameters in all; beyond a limit it is refused
//     with 400 too-costly (lenient or not). A response lists at most 20
//     issues and counts the rest; so does a job's list of lenient warnings.
//   - Prefer: handling=lenient ignores exactly what is unsupported: a
//     _type value, a parameter, or one clause of a _typeFilter query (the
//     rest of that query still applies), each named in the error file.
//   - _since and _until take the FHIR instant syntax exactly, and only
//     times the server can compare (1678 to 2261).
//   - Connections (HTTPLimits): a request must be read within ReadTimeout
//     (30s), keep-alives close after IdleTimeout (60s) idle, a response may
//     stall at most WriteTimeout (60s) — for a download, per 256 KB chunk,
//     so a download is cut only when its client stops reading (Range
//     resumes it) — and one client address holds at most 32 connections.
//   - Failures: a failed job's status says what failed in the client's
//     terms (disk full, writing files, internal) and never carries server
//     paths, which the log has under the job id. A kick-off that cannot be
//     recorded because the disk is full answers 503 with Retry-After; a
//     gzip copy that cannot be written falls back to the plain file; a job
//     whose end cannot be recorded is answered from memory (a failure at
//     once, a success once recorded) and recorded by the janitor later.
//   - Object stores (Options.Storage, per client ClientStorage): files are
//     uploaded as they are written and never touch the data dir; manifests
//     carry the store's pre-signed URLs (signed when served) or, with
//     FileURLsRedirect, the file route answers 307 to one after the token
//     and owner checks. DELETE, expiry and failure remove the job's objects;
//     start-up sweeps interrupted jobs' objects and incomplete uploads.
//   - Every response carries X-Content-Type-Options: nosniff; status
//     answers and files carry Cache-Control: no-store; 405 lists Allow;
//     416 (bytes=-0 included) carries Content-Range: bytes */size and an
//     OperationOutcome.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/membership"
	"github.com/iisbridge/iisbridge/pipeline"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	Exporter pipeline.Exporter
	DataDir  string // required: job store and export files live here
	// BaseURL is the public FHIR base, e.g. https://iis.example.org/fhir;
	// routes are served under its path and every URL handed out is built
	// from it.
	BaseURL    string
	Authorizer Authorizer // nil = NoAuth
	// TokenURL is the SMART token endpoint; "" means authorization is off
	// and discovery says so.
	TokenURL string
	// TokenEndpoint serves POST [base]/auth/token (no Authorizer on it).
	TokenEndpoint http.Handler
	// URLSigner and URLVerifier enable signed file URLs for principals
	// with SignedURLs; Auditor receives an event per export action.
	URLSigner      FileURLSigner
	URLVerifier    FileURLVerifier
	Auditor        Auditor
	Concurrency    int                   // workers; default 2
	PerClient      int                   // queued+running jobs per client; default 2
	Rotate         fhirout.RotateOptions // per output file
	Expiry         time.Duration         // how long finished files stay; default 1h
	RetryAfter     time.Duration         // polling interval advised; default 2s (whole seconds)
	GroupRefresh   time.Duration         // re-read memberships; 0 = only on RefreshGroups
	ManifestStyle  string                // "stu2" (default) or "stu4"
	StaticGroups   []StaticGroup
	Logger         *slog.Logger
	Now            func() time.Time
	MinPollSpacing time.Duration // polls closer than this get 429; default RetryAfter/2
	// Metrics is the process's metric set (shared with Starting); nil = a
	// private one.
	Metrics *Metrics
	// Version names the build in the CapabilityStatement (software.version).
	Version string
	// OnUnreadable is what a job does when the exporter could not read
	// part of the source: UnreadableFail (default) or UnreadableWarn.
	OnUnreadable string

	HTTP HTTPLimits
	// Matcher runs Patient/$bulk-match (bulkmatch.go); nil = match.New(nil).
	Matcher *match.Matcher

	// Storage keeps export files in an object store (nil: in the data
	// directory); ClientStorage overrides it per client_id (an entry with
	// no Store: the data directory for that client).
	Storage       *ObjectStore
	ClientStorage map[string]*ObjectStore

	// GroupInactiveAfter makes learned members without evidence for this
	// long inactive (left out of exports); 0 = never.
	GroupInactiveAfter time.Duration
	// GroupPolicy maps senders to organizations and says which evidence
	// makes a member of a learned Group; nil = membership.Default().
	GroupPolicy *membership.Policy

	newWriter func(dir string, opts fhirout.RotateOptions) (resourceWriter, error) // tests inject failures
	gzipOut   func(io.Writer) io.Writer                                            // tests inject a full disk
}

// StaticGroup is a configured Group (tests, demos).
type StaticGroup struct {
	ID, Name, OrgKey string
	Members          []string // Patient ids
}

// PatientChecker is implemented by exporters that can tell which Patient
// ids exist, so an unknown `patient` is refused at kick-off (400) rather
// than yielding an empty export.
type PatientChecker interface {
	MissingPatients(ctx context.Context, ids []string) ([]string, error)
}

// resourceWriter is what a job writes files with (a *fhirout.DirWriter).
type resourceWriter interface {
	Write(r *fhirout.Object) error
	Close() ([]fhirout.FileInfo, error)
}

// Server is the $export server. Create with New, serve Handler, Close to
// stop workers.
type Server struct {
	opts     Options
	exporter pipeline.Exporter
	auth     Authorizer
	store    *store
	log      *slog.Logger
	now      func() time.Time
	baseURL  string // no trailing slash
	prefix   string // route prefix: the base URL's path
	jobsDir  string
	metrics  *Metrics
	mapping  atomic.Pointer[MappingInfo]

	sem     chan struct{}
	wg      sync.WaitGroup
	stop    chan struct{}
	mu      sync.Mutex
	running map[string]*liveJob
	// pendingEnds are outcomes the store could not record yet (jobs.go).
	pendingEnds map[string]jobEnd
	gzMu        sync.Mutex
	stopOnce    sync.Once
	// objRetry holds jobs whose objects could not be deleted (objects.go).
	objRetry map[string]bool
	// groupTasks are asynchronous Group creates and updates (groupapi.go).
	gtMu sync.Mutex
	// the candidate store of matching (candidates.go)
	candMu     sync.Mutex
	cand       *match.SQLStore
	candM      *match.Matcher
	groupTasks map[string]*groupTask
	counts     map[countKey]int // active members by Group state
}

// New opens (or creates) the job store in DataDir, fails jobs a previous
// process left running, loads static Groups and starts the janitor.
func New(o Options) (*Server, error) {
	if o.Exporter == nil {
		return nil, errors.New("server: Options.Exporter is required")
	}
	if o.DataDir == "" {
		return nil, errors.New("server: Options.DataDir is required")
	}
	u, err := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server: BaseURL %q is not an absolute http(s) URL", o.BaseURL)
	}
	if o.Authorizer == nil {
		o.Authorizer = NoAuth{}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.PerClient <= 0 {
		o.PerClient = 2
	}
	if o.Expiry <= 0 {
		o.Expiry = time.Hour
	}
	if o.RetryAfter < time.Second {
		o.RetryAfter = 2 * time.Second
	}
	o.RetryAfter = o.RetryAfter.Truncate(time.Second)
	if o.MinPollSpacing == 0 {
		o.MinPollSpacing = o.RetryAfter / 2
	}
	if o.ManifestStyle == "" {
		o.ManifestStyle = "stu2"
	}
	switch o.OnUnreadable {
	case "":
		o.OnUnreadable = UnreadableFail
	case UnreadableFail, UnreadableWarn:
	default:
		return nil, fmt.Errorf("server: OnUnreadable %q: want %s or %s", o.OnUnreadable, UnreadableFail, UnreadableWarn)
	}
	if err := checkObjectStore(o.Storage, "Storage"); err != nil {
		return nil, err
	}
	for id, cs := range o.ClientStorage {
		if err := checkObjectStore(cs, "ClientStorage["+id+"]"); err != nil {
			return nil, err
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	o.HTTP = o.HTTP.withDefaults()
	if o.newWriter == nil {
		o.newWriter = func(dir string, opts fhirout.RotateOptions) (resourceWriter, error) {
			return fhirout.NewDirWriter(dir, opts)
		}
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	st, err := openStore(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	// Rosters spooled for jobs of a previous process (failed below).
	os.RemoveAll(filepath.Join(o.DataDir, rosterDir))
	s := &Server{
		opts: o, exporter: o.Exporter, auth: o.Authorizer, store: st, log: o.Logger, now: o.Now,
		baseURL: u.String(), prefix: strings.TrimRight(u.Path, "/"),
		jobsDir: filepath.Join(o.DataDir, "jobs"), metrics: o.Metrics,
		sem: make(chan struct{}, o.Concurrency), stop: make(chan struct{}),
		running: map[string]*liveJob{}, pendingEnds: map[string]jobEnd{}, objRetry: map[string]bool{},
	}
	ctx := context.Background()
	ids, err := st.failInterrupted(ctx, s.now(), s.now().Add(o.Expiry))
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("server: recovering jobs: %w", err)
	}
	for _, id := range ids {
		s.log.Warn("export job interrupted by restart", "job", id)
	}
	s.sweepJobDirs(ctx, true)
	started := s.now()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		go func() { // Close must not wait for a slow store
			select {
			case <-s.stop:
				cancel()
			case <-sctx.Done():
			}
		}()
		s.sweepObjects(sctx, started, ids)
	}()
	if err := s.loadStaticGroups(ctx, o.StaticGroups); err != nil {
		st.Close()
		return nil, fmt.Errorf("server: static groups: %w", err)
	}
	s.metrics.attach(s)
	s.wg.Add(1)
	go s.janitor()
	return s, nil
}

// Close cancels running jobs (they end as interrupted, like after a
// crash), waits for workers up to ctx's deadline and closes the store.
func (s *Server) Close(ctx context.Context) error {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.mu.Lock()
		for _, j := range s.running {
			j.cancel(errShutdown)
		}
		s.mu.Unlock()
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("server: workers still running at close: %w", ctx.Err())
	}
	s.metrics.detach(s)
	return errors.Join(s.closeCandidates(), s.store.Close())
}

func (s *Server) jobDir(id string) string { return filepath.Join(s.jobsDir, id) }

// outputWriter opens the single output directory of an operation's job
// ($bulk-match, $roster-import); a failure is the server's, not the request's.
func (s *Server) outputWriter(j *liveJob) (resourceWriter, error) {
	dir := filepath.Join(s.jobDir(j.id), "output")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, &writeError{err}
	}
	wr, err := s.opts.newWriter(dir, s.opts.Rotate)
	if err != nil {
		return nil, &writeError{err}
	}
	return wr, nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler { return s.observe(s.router()) }

// router holds every route: open (discovery, health, token), behind
// s.authorize, or behind s.authorizeFile.
func (s *Server) router() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no such endpoint")
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", ")) // RFC 9110 15.5.6: MUST
		s.outcome(w, req, http.StatusMethodNotAllowed, "not-supported", "method "+req.Method+" is not allowed here")
	})
	r.Use(s.routeName)
	p := s.prefix
	open := r.NewRoute().Subrouter()
	open.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	open.HandleFunc("/readyz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	open.HandleFunc(p+"/metadata", s.capabilityStatement).Methods(http.MethodGet, http.MethodHead)
	open.HandleFunc(p+"/.well-known/smart-configuration", s.smartConfiguration).Methods(http.MethodGet, http.MethodHead)
	if s.opts.TokenEndpoint != nil {
		open.Handle(p+"/auth/token", s.opts.TokenEndpoint).Methods(http.MethodPost)
	}

	sec := r.NewRoute().Subrouter()
	sec.Use(s.authorize)
	sec.HandleFunc("/metrics", s.serveMetrics).Methods(http.MethodGet)
	sec.HandleFunc(p+"/$export", s.kickoff(levelSystem)).Methods(http.MethodGet, http.MethodPost)
	sec.HandleFunc(p+"/Patient/$export", s.kickoff(levelPatient)).Methods(http.MethodGet, http.MethodPost)
	sec.HandleFunc(p+"/Patient/$bulk-match", s.bulkMatch).Methods(http.MethodPost)
	sec.HandleFunc(p+"/Group/{id}/$export", s.kickoff(levelGroup)).Methods(http.MethodGet, http.MethodPost)
	sec.HandleFunc(p+"/Group", s.searchGroups).Methods(http.MethodGet)
	sec.HandleFunc(p+"/Group/{id}", s.readGroup).Methods(http.MethodGet)
	sec.HandleFunc(p+"/Group/{id}/_history/{vid}", s.readGroup).Methods(http.MethodGet)
	s.groupRoutes(sec)
	sec.HandleFunc(p+"/bulkstatus/{job}", s.status).Methods(http.MethodGet)
	sec.HandleFunc(p+"/bulkstatus/{job}", s.deleteJob).Methods(http.MethodDelete)
	files := r.NewRoute().Subrouter()
	files.Use(s.authorizeFile)
	files.HandleFunc(p+"/bulkfiles/{job}/{kind}/{file}", s.download).Methods(http.MethodGet, http.MethodHead)
	return r
}

// allowedMethods lists the methods some route serves at req's path,
// asking the router itself so the list cannot drift from the routes.
func allowedMethods(r *mux.Router, req *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodDelete, http.MethodGet, http.MethodHead, http.MethodOptions,
		http.MethodPatch, http.MethodPost, http.MethodPut} {
		c := req.Clone(req.Context())
		c.Method = m
		var match mux.RouteMatch
		if r.Match(c, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return allow
}

type ctxKey int

const (
	keyInfo ctxKey = iota
	keyPrincipal
)

// reqInfo travels with a request so the outer logging middleware learns
// the route template and job id chosen inside.
type reqInfo struct {
	id    string
	route string
	job   string
	group string // Group created or changed (audit)
}

func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(keyInfo).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

func principal(r *http.Request) *Principal {
	if p, ok := r.Context().Value(keyPrincipal).(*Principal); ok {
		return p
	}
	return &Principal{ClientID: AnonymousClient}
}

func (s *Server) routeName(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt := mux.CurrentRoute(r); rt != nil {
			if t, err := rt.GetPathTemplate(); err == nil {
				info(r).route = t
			}
		}
		next.ServeHTTP(w, r)
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// observe gives every request an id (X-Request-Id echoed or generated),
// counts it and logs it by route template: never the query string, which
// may hold patient references.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{id: r.Header.Get("X-Request-Id"), route: "unmatched"}
		if !validRequestID(ri.id) {
			ri.id = newID()[:16]
		}
		// The response must leave within WriteTimeout; downloads extend
		// it while their bytes flow (files.go).
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.HTTP.WriteTimeout))
		w.Header().Set("X-Request-Id", ri.id)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), keyInfo, ri)))
		s.metrics.request(ri.route, sw.status, time.Since(start))
		attrs := []any{"request_id", ri.id, "method", r.Method, "route", ri.route, "status", sw.status,
			"bytes", sw.bytes, "ms", time.Since(start).Milliseconds()}
		if ri.job != "" {
			attrs = append(attrs, "job", ri.job)
		}
		s.log.Info("http", attrs...)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// ReadFrom keeps the connection's sendfile path for file downloads
// (http.ServeContent copies with io.Copy, which a plain wrapper hides).
func (w *statusWriter) ReadFrom(src io.Reader) (int64, error) {
	w.wrote = true
	n, err := readFrom(w.ResponseWriter, src)
	w.bytes += n
	return n, err
}

// readFrom copies src to w through w's own ReadFrom when it has one.
func readFrom(w http.ResponseWriter, src io.Reader) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w}, src)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authorize(r)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		s.serveAs(w, r, p, next)
	})
}

// authorizeFile lets a signed file URL stand for the token: with a
// signature present the Authorization header is ignored and a signature
// that does not hold is a 403.
func (s *Server) authorizeFile(next http.Handler) http.Handler {
	auth := s.authorize(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.URLVerifier == nil {
			auth.ServeHTTP(w, r)
			return
		}
		v := mux.Vars(r)
		client, signed, err := s.opts.URLVerifier.VerifyFileURL(r, FileRef{Job: v["job"], Kind: v["kind"], Name: v["file"]})
		if !signed {
			auth.ServeHTTP(w, r)
			return
		}
		if err != nil {
			info(r).job = v["job"]
			s.refuse(w, r, &AuthError{Status: http.StatusForbidden, Code: "signature", Msg: err.Error()})
			return
		}
		s.serveAs(w, r, &Principal{ClientID: client}, next)
	})
}

// refuse answers an Authorizer's error: 401 with WWW-Authenticate, or 403.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusUnauthorized, "", "authorization failed"
	var ae *AuthError
	if errors.As(err, &ae) {
		if ae.Status != 0 {
			status = ae.Status
		}
		code, msg = ae.Code, ae.Msg
	}
	oo := "login"
	if status == http.StatusForbidden {
		oo = "forbidden"
		if code == "insufficient_scope" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="iisbridge", error="insufficient_scope"`)
		}
	} else {
		if code == "" {
			code = "invalid_token"
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="iisbridge", error="`+code+`"`)
	}
	s.outcome(w, r, status, oo, msg)
	s.audit(r, nil, status, code)
}

// serveAs runs next for principal p and audits the export actions.
func (s *Server) serveAs(w http.ResponseWriter, r *http.Request, p *Principal, next http.Handler) {
	sw, ok := w.(*statusWriter)
	if !ok {
		sw = &statusWriter{ResponseWriter: w, status: http.StatusOK}
	}
	next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), keyPrincipal, p)))
	s.audit(r, p, sw.status, "")
}

// audit sends one event for the actions the audit log records: kick-off,
// status polled to its end, DELETE, download, Group changes, and refused
// access. Polls still in progress and Group reads are left out.
func (s *Server) audit(r *http.Request, p *Principal, status int, reason string) {
	if s.opts.Auditor == nil {
		return
	}
	ri := info(r)
	route := strings.TrimPrefix(ri.route, s.prefix)
	ev := AuditEvent{Time: s.now().UTC(), Route: ri.route, Job: ri.job, Status: status, Reason: reason, Outcome: "ok"}
	if p != nil {
		ev.ClientID = p.ClientID
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		ev.Outcome = "refused"
	case status == http.StatusNotFound:
		ev.Outcome = "not-found"
	case status >= 400:
		ev.Outcome = "failed"
	}
	switch {
	case p == nil:
		ev.Event = "access.refused"
	case strings.HasSuffix(route, "/$export"):
		ev.Event = "export.kickoff"
	case strings.HasSuffix(route, "/$bulk-match"):
		ev.Event = "match.kickoff" // bulkmatch.go
	case route == "/bulkstatus/{job}" && r.Method == http.MethodDelete:
		ev.Event = "export.delete"
	case route == "/bulkstatus/{job}":
		if status == http.StatusAccepted || status == http.StatusTooManyRequests {
			return
		}
		ev.Event = "export.complete"
		if status != http.StatusOK {
			ev.Event = "export.status"
		}
	case route == "/bulkfiles/{job}/{kind}/{file}":
		ev.Event = "file.download"
		if status < 400 { // a refused path is the caller's text
			v := mux.Vars(r)
			ev.File = v["kind"] + "/" + v["file"]
		}
	case strings.HasPrefix(route, "/Group") && r.Method != http.MethodGet:
		ev.Event, ev.Group = groupAuditEvent(route, r.Method), ri.group // groupapi.go
		if ev.Group == "" {
			ev.Group = mux.Vars(r)["id"] // refused before the Group was looked up
		}
	case ev.Outcome == "refused":
		ev.Event = "access.refused"
	default:
		return
	}
	s.opts.Auditor.Audit(ev)
}

// writeResource writes a FHIR resource as application/fhir+json.
func writeResource(w http.ResponseWriter, status int, o *fhirout.Object) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	w.Write(append(o.AppendJSON(nil), '\n'))
}

// outcome answers with a one-issue OperationOutcome.
func (s *Server) outcome(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	sev := "error"
	if status >= 500 {
		sev = "fatal"
	}
	writeResource(w, status, fhirout.OperationOutcome(fhirout.Issue{Severity: sev, Code: code, Diagnostics: msg}))
}

// MappingInfo names the live mapping: the file as configured ("" for the
// built-in default) and the SHA-256 of its content.
type MappingInfo struct{ Path, SHA256 string }

// SetMapping records the live mapping for the CapabilityStatement and
// /metrics (after a reload too).
func (s *Server) SetMapping(mi MappingInfo) {
	s.mapping.Store(&mi)
	s.metrics.SetMapping(mi.Path, mi.SHA256)
}

// healthz serves /healthz (the process is alive and its job store answers)
// and, once the Server exists, /readyz: the index is current.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.store.db.PingContext(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "job store unavailable")
		return
	}
	fmt.Fprintln(w, "ok")
}

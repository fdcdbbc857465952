// Package bulkclienttest is a small, strict Bulk Data server with a SMART
// Backend Services token endpoint, for testing Bulk Data clients. It
// enforces what a client must do (signed assertions with aud, exp, jti
// and kid; bearer tokens that expire; Retry-After honoured; no token on
// signed URLs) and misbehaves on request the way real servers do (429,
// a download broken midway, gzip, a manifest count that lies). Every
// rule a client breaks is reported with t.Errorf.
package bulkclienttest

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Options choose the server's behaviour.
type Options struct {
	// ClientID and JWKS register one client; without them the server is
	// open (no token endpoint, no tokens checked).
	ClientID string
	JWKS     jose.JSONWebKeySet
	// TokenLife is expires_in of the access tokens (default 2 s, short
	// so that an export outlives its first token).
	TokenLife time.Duration
	// Polls is how many status polls answer 202 before the manifest
	// (default 4). With Throttle, the first kick-off and one poll answer
	// 429 instead, and polls alternate Retry-After in seconds and as an
	// HTTP date.
	Polls    int
	Throttle bool
	// Signed serves files at signed URLs with requiresAccessToken false;
	// a bearer token sent to them fails the test.
	Signed bool
	// Break cuts the first transfer of the Patient file in half (the
	// connection closes), so the client has to resume with Range.
	Break bool
	// Lie makes the manifest overstate one file's count by one.
	Lie bool
	// Stall sends half of the first transfer of the first Immunization
	// file and then nothing, holding the connection open.
	Stall bool
	// PermissionV1 advertises v1 scopes only (no permission-v2).
	PermissionV1 bool
	// PostOnly refuses GET kick-offs with 405, as STU4 servers may; a
	// POST kick-off is recorded as the path and its Parameters body.
	PostOnly bool
}

// File is one file the server serves.
type File struct {
	Kind  string // output, deleted, error
	Type  string
	Name  string
	Data  []byte // NDJSON, as the client should save it
	Count int    // true line count
	Gzip  bool   // sent gzip-encoded when the client accepts it
}

// Server is the running test server.
type Server struct {
	*httptest.Server
	Base     string // FHIR base URL
	TokenURL string
	Files    []File

	t    testing.TB
	opts Options
	key  []byte // HMAC key of signed URLs

	mu           sync.Mutex
	tokens       map[string]time.Time // access token → expiry
	jtis         map[string]bool
	stats        Stats
	notBefore    time.Time // next poll allowed
	polls        int
	transfers    map[string]int // file name → GETs
	throttledKO  bool
	throttledPol bool
}

// Stats is what the server saw.
type Stats struct {
	TokensIssued  int
	Scopes        []string // scope of each token request
	ExpiredTokens int      // requests refused because their token had expired
	Kickoffs      []string
	Polls         int
	Throttled     int // 429s sent
	RangeGets     int // file GETs with Range
	GzipSent      int
	Downloads     int // complete file transfers
	Deleted       bool
}

// New starts the server; it stops at cleanup.
func New(t testing.TB, opts Options) *Server {
	if opts.TokenLife == 0 {
		opts.TokenLife = 2 * time.Second
	}
	if opts.Polls == 0 {
		opts.Polls = 4
	}
	s := &Server{t: t, opts: opts, tokens: map[string]time.Time{}, jtis: map[string]bool{}, transfers: map[string]int{}}
	s.key = make([]byte, 32)
	rand.Read(s.key)
	s.Files = []File{
		{Kind: "output", Type: "Patient", Name: "patient.ndjson", Gzip: true, Data: lines(400, `{"resourceType":"Patient","id":"p%d","name":[{"family":"Test%d"}]}`)},
		{Kind: "output", Type: "Immunization", Name: "imm1.ndjson", Data: lines(250, `{"resourceType":"Immunization","id":"i%d","status":"completed","patient":{"reference":"Patient/p%d"}}`)},
		{Kind: "output", Type: "Immunization", Name: "imm2.ndjson", Gzip: true, Data: lines(3, `{"resourceType":"Immunization","id":"j%d","status":"completed","patient":{"reference":"Patient/p%d"}}`)},
		{Kind: "deleted", Type: "Bundle", Name: "deleted.ndjson", Data: lines(2, `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Immunization/x%d-%d"}}]}`)},
		{Kind: "error", Type: "OperationOutcome", Name: "errors.ndjson", Data: lines(1, `{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"processing","diagnostics":"record %d/%d skipped"}]}`)},
	}
	for i := range s.Files {
		s.Files[i].Count = bytes.Count(s.Files[i].Data, []byte("\n"))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fhir/.well-known/smart-configuration", s.smartConfig)
	mux.HandleFunc("POST /auth/token", s.token)
	mux.HandleFunc("GET /fhir/$export", s.kickoff)
	mux.HandleFunc("GET /fhir/Patient/$export", s.kickoff)
	mux.HandleFunc("GET /fhir/Group/{id}/$export", s.kickoff)
	mux.HandleFunc("POST /fhir/$export", s.kickoff)
	mux.HandleFunc("POST /fhir/Patient/$export", s.kickoff)
	mux.HandleFunc("POST /fhir/Group/{id}/$export", s.kickoff)
	mux.HandleFunc("GET /fhir/status/{job}", s.status)
	mux.HandleFunc("DELETE /fhir/status/{job}", s.delete)
	mux.HandleFunc("GET /fhir/files/{name}", s.file)
	mux.HandleFunc("GET /signed/{name}", s.signedFile)
	s.Server = httptest.NewServer(mux)
	s.Base = s.URL + "/fhir"
	s.TokenURL = s.URL + "/auth/token"
	t.Cleanup(s.Close)
	return s
}

func lines(n int, format string) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, format+"\n", i, i)
	}
	return b.Bytes()
}

// Stats returns a copy of what the server saw so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Kickoffs = append([]string(nil), st.Kickoffs...)
	st.Scopes = append([]string(nil), st.Scopes...)
	return st
}

// IssuedTokens lists every access token handed out, for tests that
// check a client never shows one.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for tok := range s.tokens {
		out = append(out, tok)
	}
	return out
}

func (s *Server) auth() bool { return s.opts.ClientID != "" }

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func outcome(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, "application/fhir+json", map[string]any{
		"resourceType": "OperationOutcome",
		"issue":        []any{map[string]any{"severity": "error", "code": code, "diagnostics": msg}},
	})
}

func (s *Server) smartConfig(w http.ResponseWriter, r *http.Request) {
	if !s.auth() {
		outcome(w, http.StatusNotFound, "not-found", "no authorization on this server")
		return
	}
	caps := []string{"client-confidential-asymmetric", "permission-v1", "permission-v2"}
	if s.opts.PermissionV1 {
		caps = caps[:2]
	}
	writeJSON(w, http.StatusOK, "application/json", map[string]any{
		"token_endpoint":                                   s.TokenURL,
		"grant_types_supported":                            []string{"client_credentials"},
		"token_endpoint_auth_methods_supported":            []string{"private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS384", "ES384"},
		"capabilities":                                     caps,
	})
}

// token is the SMART Backend Services token endpoint. A refusal fails
// the test: the client under test must never send a bad assertion.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, code, why string) {
		s.t.Errorf("token endpoint: %s: %s", code, why)
		writeJSON(w, status, "application/json", map[string]string{"error": code, "error_description": why})
	}
	if err := r.ParseForm(); err != nil {
		refuse(400, "invalid_request", "form: "+err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "client_credentials" {
		refuse(400, "unsupported_grant_type", "grant_type "+g)
		return
	}
	if a := r.PostForm.Get("client_assertion_type"); a != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		refuse(400, "invalid_request", "client_assertion_type "+a)
		return
	}
	if r.PostForm.Get("scope") == "" {
		refuse(400, "invalid_scope", "no scope")
		return
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS384, jose.ES384})
	if err != nil {
		refuse(401, "invalid_client", "assertion: "+err.Error())
		return
	}
	h := tok.Headers[0]
	if h.KeyID == "" {
		refuse(401, "invalid_client", "no kid")
		return
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		refuse(401, "invalid_client", "typ "+typ)
		return
	}
	keys := s.opts.JWKS.Key(h.KeyID)
	if len(keys) != 1 {
		refuse(401, "invalid_client", fmt.Sprintf("kid %q selects %d keys", h.KeyID, len(keys)))
		return
	}
	if keys[0].Algorithm != "" && keys[0].Algorithm != h.Algorithm {
		refuse(401, "invalid_client", "alg "+h.Algorithm+" for a "+keys[0].Algorithm+" key")
		return
	}
	var c jwt.Claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		refuse(401, "invalid_client", "signature: "+err.Error())
		return
	}
	now := time.Now()
	switch {
	case c.Issuer != s.opts.ClientID || c.Subject != s.opts.ClientID:
		refuse(401, "invalid_client", fmt.Sprintf("iss %q sub %q", c.Issuer, c.Subject))
		return
	case len(c.Audience) != 1 || c.Audience[0] != s.TokenURL:
		refuse(401, "invalid_client", fmt.Sprintf("aud %v, want %s", c.Audience, s.TokenURL))
		return
	case c.Expiry == nil || !c.Expiry.Time().After(now) || c.Expiry.Time().After(now.Add(5*time.Minute)):
		refuse(401, "invalid_client", "exp missing, past or more than 5 minutes ahead")
		return
	case c.ID == "":
		refuse(401, "invalid_client", "no jti")
		return
	}
	s.mu.Lock()
	replay := s.jtis[c.ID]
	s.jtis[c.ID] = true
	s.mu.Unlock()
	if replay {
		refuse(401, "invalid_client", "jti replayed")
		return
	}
	var b [16]byte
	rand.Read(b[:])
	access := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[access] = now.Add(s.opts.TokenLife)
	s.stats.TokensIssued++
	s.stats.Scopes = append(s.stats.Scopes, r.PostForm.Get("scope"))
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, "application/json", map[string]any{
		"access_token": access, "token_type": "bearer",
		"expires_in": s.opts.TokenLife.Seconds(), "scope": r.PostForm.Get("scope"),
	})
}

// authorized checks the bearer token; an expired one is an ordinary 401
// (clients get a new token), a missing or unknown one fails the test.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !s.auth() {
		if r.Header.Get("Authorization") != "" {
			s.t.Errorf("%s %s: Authorization sent to an open server", r.Method, r.URL.Path)
		}
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	expired := known && !time.Now().Before(exp)
	if expired {
		s.stats.ExpiredTokens++
	}
	s.mu.Unlock()
	if !ok || !known || expired {
		if !expired {
			s.t.Errorf("%s %s: no valid bearer token", r.Method, r.URL.Path)
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		outcome(w, http.StatusUnauthorized, "login", "missing, unknown or expired access token")
		return false
	}
	return true
}

func (s *Server) kickoff(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if r.Header.Get("Accept") != "application/fhir+json" || r.Header.Get("Prefer") != "respond-async" {
		s.t.Errorf("kick-off: Accept %q, Prefer %q", r.Header.Get("Accept"), r.Header.Get("Prefer"))
	}
	request := r.URL.RequestURI()
	switch {
	case r.Method == http.MethodGet && s.opts.PostOnly:
		w.Header().Set("Allow", "POST")
		outcome(w, http.StatusMethodNotAllowed, "not-supported", "kick-off by POST only")
		return
	case r.Method == http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "application/fhir+json" {
			s.t.Errorf("POST kick-off with Content-Type %q", ct)
		}
		body, _ := io.ReadAll(r.Body)
		request += " " + string(body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Throttle && !s.throttledKO {
		s.throttledKO = true
		s.stats.Throttled++
		w.Header().Set("Retry-After", "1")
		outcome(w, http.StatusTooManyRequests, "throttled", "another export is running")
		return
	}
	s.stats.Kickoffs = append(s.stats.Kickoffs, request)
	s.polls = 0
	s.notBefore = time.Time{}
	w.Header().Set("Content-Location", s.Base+"/status/1")
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stats.Deleted || r.PathValue("job") != "1" {
		outcome(w, http.StatusNotFound, "not-found", "no such job")
		return
	}
	s.stats.Polls++
	now := time.Now()
	if now.Before(s.notBefore) {
		s.t.Errorf("status polled %v before Retry-After allowed", s.notBefore.Sub(now))
	}
	if s.opts.Throttle && !s.throttledPol && s.polls == 1 {
		s.throttledPol = true
		s.stats.Throttled++
		w.Header().Set("Retry-After", "1")
		s.notBefore = now.Add(time.Second)
		outcome(w, http.StatusTooManyRequests, "throttled", "polled too fast")
		return
	}
	if s.polls < s.opts.Polls {
		s.polls++
		if s.opts.Throttle && s.polls%2 == 0 {
			// An HTTP date, second resolution: at least one second on.
			at := now.Add(2 * time.Second).Truncate(time.Second)
			w.Header().Set("Retry-After", at.UTC().Format(http.TimeFormat))
			s.notBefore = at
		} else {
			w.Header().Set("Retry-After", "1")
			s.notBefore = now.Add(time.Second)
		}
		w.Header().Set("X-Progress", fmt.Sprintf("step %d of %d", s.polls, s.opts.Polls))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	m := map[string]any{
		"transactionTime":     "2026-01-02T03:04:05Z",
		"request":             s.Base + "/$export",
		"requiresAccessToken": !s.opts.Signed,
	}
	lists := map[string][]any{"output": {}, "deleted": {}, "error": {}}
	for i, f := range s.Files {
		count := f.Count
		if s.opts.Lie && i == 2 {
			count++
		}
		u := s.Base + "/files/" + f.Name
		if s.opts.Signed {
			exp := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
			u = s.URL + "/signed/" + f.Name + "?exp=" + exp + "&sig=" + s.sign(f.Name, exp)
		}
		lists[f.Kind] = append(lists[f.Kind], map[string]any{"type": f.Type, "url": u, "count": count})
	}
	for k, v := range lists {
		m[k] = v
	}
	writeJSON(w, http.StatusOK, "application/json", m)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	s.stats.Deleted = true
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) sign(name, exp string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(name + "|" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	if s.opts.Signed {
		outcome(w, http.StatusNotFound, "not-found", "files are served at signed URLs")
		return
	}
	if !s.authorized(w, r) {
		return
	}
	s.serve(w, r, r.PathValue("name"))
}

// signedFile is a storage service's pre-signed URL: the query is the
// credential, and a request carrying a token too is refused.
func (s *Server) signedFile(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		s.t.Errorf("GET %s: bearer token sent to a signed URL", r.URL.Path)
		http.Error(w, "only one auth mechanism allowed", http.StatusBadRequest)
		return
	}
	name, exp := r.PathValue("name"), r.URL.Query().Get("exp")
	n, _ := strconv.ParseInt(exp, 10, 64)
	if !hmac.Equal([]byte(s.sign(name, exp)), []byte(r.URL.Query().Get("sig"))) || time.Now().Unix() > n {
		s.t.Errorf("GET %s: bad or expired signature", r.URL.Path)
		http.Error(w, "signature", http.StatusForbidden)
		return
	}
	s.serve(w, r, name)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, name string) {
	var f *File
	for i := range s.Files {
		if s.Files[i].Name == name {
			f = &s.Files[i]
		}
	}
	if f == nil {
		outcome(w, http.StatusNotFound, "not-found", "no such file")
		return
	}
	data, etag := f.Data, `"`+name+`-v1"`
	if f.Gzip && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data, etag = b.Bytes(), `"`+name+`-v1-gzip"`
		w.Header().Set("Content-Encoding", "gzip")
		s.mu.Lock()
		s.stats.GzipSent++
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/fhir+ndjson")
	w.Header().Set("ETag", etag)
	w.Header().Set("Vary", "Accept-Encoding")
	s.mu.Lock()
	s.transfers[name]++
	first := s.transfers[name] == 1
	if r.Header.Get("Range") != "" {
		s.stats.RangeGets++
		if r.Header.Get("If-Range") != etag {
			s.t.Errorf("GET %s: Range without the If-Range %s (got %q)", name, etag, r.Header.Get("If-Range"))
		}
	}
	s.mu.Unlock()
	if s.opts.Break && first && f.Type == "Patient" {
		// Promise everything, send half, drop the connection.
		w.Header().Set("Accept-Ranges", "bytes")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	if s.opts.Stall && first && name == "imm1.ndjson" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		select { // until the client gives up on us
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
			s.t.Errorf("GET %s: the client waited 30 s on a stalled transfer", name)
		}
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	s.mu.Lock()
	s.stats.Downloads++
	s.mu.Unlock()
}

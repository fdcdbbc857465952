// Package admin serves the mapping admin's web page: pick a message from a
// sample of the archive (or paste one), see it segment by segment with the
// standard field names, the FHIR resources the live mapping makes of it,
// the rule and source field behind every element, and the same with a
// draft mapping, the changes highlighted; and run a mapping diff of the
// draft against the live mapping over the sample.
//
// The page is one embedded HTML file with its script and style (no build
// step, nothing fetched from elsewhere). The JSON API under /api/ is what
// the page calls. Safety, since the page shows the archive's contents:
//
//   - Without a token the server must listen on loopback (the caller
//     checks the address) and answers only requests whose Host is a
//     loopback name, so a web page elsewhere cannot reach it through DNS
//     rebinding.
//   - With a token every /api/ request needs `Authorization: Bearer
//     TOKEN` (the page asks for it once and keeps it in the tab's
//     sessionStorage); the page itself holds no data and is served to all.
//   - POST bodies must be JSON (a cross-site form cannot send that without
//     a preflight the server never grants) and are limited to 1 MiB.
//   - No server path reaches the page: files are named by base name,
//     sample messages by number.
package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/iisbridge/iisbridge/diag"
	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/mapping/mapdiff"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

//go:embed static
var staticFS embed.FS

// Source is a mapping as the page knows it: compiled, with its text.
type Source struct {
	Mapping *mapping.Mapping
	Text    []byte // the YAML, shown next to the rules it holds
	// Path is the file it was loaded from ("" for the shipped default),
	// used to shorten rule positions to base names; never sent.
	Path string
}

// Config is what the page works on.
type Config struct {
	Live  Source
	Draft *Source // nil: none yet (the page can submit one)
	// DraftTables resolves the table files of a draft submitted from the
	// page (relative to the draft's folder); nil: the shipped tables, as
	// for an edited copy of the default mapping.
	DraftTables fs.FS
	// Samples are messages from the archive, shown by number.
	Samples []mapdiff.Record
	// Token, when set, is required on every API request.
	Token string
	Log   *slog.Logger
}

// Server is the admin page's handler.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	mu   sync.RWMutex
	live Source
	drft *Source
}

// maxBody bounds a POST body: a pasted message or a draft mapping.
const maxBody = 1 << 20

// New returns the handler of the admin page and its API.
func New(cfg Config) (*Server, error) {
	if cfg.Live.Mapping == nil {
		return nil, errors.New("admin: no live mapping")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.DraftTables == nil {
		cfg.DraftTables = mapping.DefaultFS()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), live: cfg.Live, drft: cfg.Draft}
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	s.mux.Handle("GET /{$}", files)
	s.mux.Handle("GET /admin.js", files)
	s.mux.Handle("GET /admin.css", files)
	s.mux.HandleFunc("GET /api/info", s.info)
	s.mux.HandleFunc("GET /api/samples", s.samples)
	s.mux.HandleFunc("GET /api/mapping/{which}", s.mappingText)
	s.mux.HandleFunc("POST /api/convert", s.convert)
	s.mux.HandleFunc("POST /api/diff", s.diff)
	s.mux.HandleFunc("POST /api/draft", s.setDraft)
	s.mux.HandleFunc("DELETE /api/draft", s.dropDraft)
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Cache-Control", "no-store")
	if s.cfg.Token == "" && !loopbackHost(r.Host) {
		fail(w, http.StatusForbidden, "forbidden", "this admin page answers on loopback names only (127.0.0.1, localhost, [::1]); give it a token to serve other names")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if s.cfg.Token != "" && !s.authorized(r) {
			h.Set("WWW-Authenticate", `Bearer realm="iisbridge-admin"`)
			fail(w, http.StatusUnauthorized, "login", "this admin page needs its token: Authorization: Bearer TOKEN")
			return
		}
		if r.Method == http.MethodPost {
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
				fail(w, http.StatusUnsupportedMediaType, "not-supported", "POST a JSON body (Content-Type: application/json)")
				return
			}
			if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
				fail(w, http.StatusForbidden, "forbidden", "cross-origin request refused")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
	}
	if _, pattern := s.mux.Handler(r); pattern == "" && strings.HasPrefix(r.URL.Path, "/api/") {
		if apiRoutes[r.URL.Path] || strings.HasPrefix(r.URL.Path, "/api/mapping/") {
			fail(w, http.StatusMethodNotAllowed, "not-supported", r.Method+" is not supported here")
		} else {
			fail(w, http.StatusNotFound, "not-found", "no such API route")
		}
		return
	}
	s.mux.ServeHTTP(w, r)
}

var apiRoutes = map[string]bool{"/api/info": true, "/api/samples": true, "/api/convert": true, "/api/diff": true, "/api/draft": true}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.Token)) == 1
}

// loopbackHost says whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// fail answers with an OperationOutcome, like the FHIR server does.
func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	oo := fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: code, Diagnostics: msg})
	w.Write(oo.AppendJSON(nil))
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail(w, http.StatusRequestEntityTooLarge, "too-costly", fmt.Sprintf("body over %d bytes", maxBody))
		} else {
			fail(w, http.StatusBadRequest, "invalid", "body is not the expected JSON: "+err.Error())
		}
		return false
	}
	return true
}

func (s *Server) current() (Source, *Source) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.live, s.drft
}

// ---- info, samples, mapping text ----

type mappingInfo struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Rules  int    `json:"rules"`
}

func describe(src *Source) *mappingInfo {
	if src == nil {
		return nil
	}
	sum := sha256.Sum256(src.Text)
	_, rules := src.Mapping.Stats()
	return &mappingInfo{Name: displayName(*src), SHA256: hex.EncodeToString(sum[:]), Rules: rules}
}

// displayName is a mapping's base name ("default.yaml" for the shipped).
func displayName(src Source) string {
	if src.Path == "" {
		return path.Base(src.Mapping.File())
	}
	return filepath.Base(src.Path)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	live, draft := s.current()
	reply(w, map[string]any{"live": describe(&live), "draft": describe(draft), "samples": len(s.cfg.Samples)})
}

type sampleInfo struct {
	ID    int    `json:"id"`
	Type  string `json:"type"`
	Label string `json:"label"`
}

func (s *Server) samples(w http.ResponseWriter, r *http.Request) {
	out := make([]sampleInfo, 0, len(s.cfg.Samples))
	for i, rec := range s.cfg.Samples {
		typ := "?"
		if m, err := hl7v2.Parse(rec.Data); err == nil {
			code, trig, _ := m.Type()
			typ = code + "^" + trig
		}
		out = append(out, sampleInfo{ID: i, Type: typ, Label: sampleLabel(i, rec.Loc)})
	}
	reply(w, out)
}

// sampleLabel names a sample without its server path.
func sampleLabel(i int, loc sources.Location) string {
	l := fmt.Sprintf("#%d · %s record %d", i+1, filepath.Base(loc.Source), loc.Index)
	if loc.ControlID != "" {
		l += " · " + loc.ControlID
	}
	return l
}

func (s *Server) mappingText(w http.ResponseWriter, r *http.Request) {
	live, draft := s.current()
	var src *Source
	switch r.PathValue("which") {
	case "live":
		src = &live
	case "draft":
		src = draft
	default:
		fail(w, http.StatusNotFound, "not-found", "no such mapping: live or draft")
		return
	}
	if src == nil {
		fail(w, http.StatusNotFound, "not-found", "no draft mapping yet")
		return
	}
	reply(w, map[string]any{"name": displayName(*src), "text": string(src.Text)})
}

// ---- convert ----

type convertReq struct {
	Sample *int   `json:"sample,omitempty"` // a sample's id
	Text   string `json:"text,omitempty"`   // or a pasted message
}

// Field is one field of a segment as shown.
type Field struct {
	N     int    `json:"n"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Segment is one segment as shown; Order is its ORDER group (1-based, 0
// outside any), so a source like "ORDER[2] RXA-5" finds its field.
type Segment struct {
	Name   string  `json:"name"`
	Order  int     `json:"order"`
	Fields []Field `json:"fields"`
}

type traceOut struct {
	Resource string `json:"resource"`
	Element  string `json:"element"`
	Value    string `json:"value"`
	Source   string `json:"source"`
	Rule     string `json:"rule"`
}

type issueOut struct {
	Severity string   `json:"severity"`
	Code     string   `json:"code"`
	Text     string   `json:"text"`
	Elements []string `json:"elements,omitempty"`
	Field    string   `json:"field,omitempty"`
	Rule     string   `json:"rule,omitempty"`
}

type result struct {
	Mapping   string            `json:"mapping"`
	Resources []json.RawMessage `json:"resources"`
	Trace     []traceOut        `json:"trace"`
	Issues    []issueOut        `json:"issues"`
}

func (s *Server) convert(w http.ResponseWriter, r *http.Request) {
	var req convertReq
	if !decode(w, r, &req) {
		return
	}
	var data []byte
	loc := sources.Location{Source: "pasted", Index: 1, Line: 1}
	switch {
	case req.Sample != nil:
		if *req.Sample < 0 || *req.Sample >= len(s.cfg.Samples) {
			fail(w, http.StatusNotFound, "not-found", fmt.Sprintf("no sample %d (there are %d)", *req.Sample, len(s.cfg.Samples)))
			return
		}
		rec := s.cfg.Samples[*req.Sample]
		data = rec.Data
		loc = rec.Loc
		loc.Source = fmt.Sprintf("sample #%d", *req.Sample+1)
	case strings.TrimSpace(req.Text) != "":
		var err error
		if data, err = firstMessage(req.Text); err != nil {
			fail(w, http.StatusUnprocessableEntity, "structure", err.Error())
			return
		}
	default:
		fail(w, http.StatusBadRequest, "required", "give sample (a sample id) or text (a pasted message)")
		return
	}
	msg, err := hl7v2.Parse(data)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, "structure", "message not parsed: "+err.Error())
		return
	}
	live, draft := s.current()
	in := mapping.Input{Msg: msg, Loc: loc}
	lo := live.Mapping.Apply(in, true)
	resp := map[string]any{
		"segments": segments(msg),
		"warnings": msg.Warnings(),
		"live":     s.result(live, lo),
	}
	if draft != nil {
		do := draft.Mapping.Apply(in, true)
		resp["draft"] = s.result(*draft, do)
		deltas := mapdiff.Deltas(lo, do)
		if deltas == nil {
			deltas = []mapdiff.Delta{}
		}
		resp["deltas"] = deltas
	}
	reply(w, resp)
}

// firstMessage takes the first message of pasted text, in any framing
// the archive reader accepts (line ends, MLLP, batches).
func firstMessage(text string) ([]byte, error) {
	rd, err := v2archive.OpenReader("pasted", strings.NewReader(text), v2archive.Options{})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	for {
		it, err := rd.Next()
		if err == io.EOF {
			return nil, errors.New("no HL7 v2 message in the text (it should start with MSH)")
		}
		if err != nil {
			return nil, err
		}
		if it.Err != nil {
			return nil, fmt.Errorf("not a message: %v", it.Err)
		}
		if it.Data != nil {
			return bytes.Clone(it.Data), nil
		}
	}
}

func (s *Server) result(src Source, out mapping.Output) result {
	res := result{Mapping: displayName(src), Resources: []json.RawMessage{}, Trace: []traceOut{}, Issues: []issueOut{}}
	for _, o := range out.Resources {
		res.Resources = append(res.Resources, o.AppendJSON(nil))
	}
	for _, t := range out.Trace {
		res.Trace = append(res.Trace, traceOut{Resource: t.Resource, Element: t.Element, Value: t.Value, Source: t.Source, Rule: shortRule(src, t.Rule)})
	}
	for _, is := range out.Issues {
		o := issueOut{Severity: is.Severity, Code: is.Code, Text: is.Diagnostics, Elements: is.Expression, Rule: shortRule(src, is.Rule)}
		if is.Input != nil {
			o.Field = is.Input.Field
		}
		res.Issues = append(res.Issues, o)
	}
	return res
}

// shortRule turns "dir/default.yaml:12" into "default.yaml:12".
func shortRule(src Source, rule string) string {
	if rule == "" {
		return ""
	}
	f, line, ok := cutLine(rule)
	if !ok {
		return path.Base(filepath.ToSlash(rule))
	}
	return path.Base(filepath.ToSlash(f)) + ":" + line
}

func cutLine(rule string) (file, line string, ok bool) {
	i := strings.LastIndexByte(rule, ':')
	if i < 0 {
		return "", "", false
	}
	if _, err := strconv.Atoi(rule[i+1:]); err != nil {
		return "", "", false
	}
	return rule[:i], rule[i+1:], true
}

// segments splits a message into named fields for display. MSH-1 is the
// field separator itself and MSH-2 the encoding characters.
func segments(msg *hl7v2.Message) []Segment {
	order := map[*byte]int{}
	for i, o := range msg.Orders() {
		for _, sg := range o.All {
			if raw := sg.Raw(); len(raw) > 0 {
				order[&raw[0]] = i + 1
			}
		}
	}
	sep := string(msg.Delimiters().Field)
	var out []Segment
	for _, sg := range msg.Segments() {
		raw := sg.Raw()
		if len(raw) == 0 {
			continue
		}
		parts := strings.Split(strings.TrimRight(string(raw), "\r\n"), sep)
		seg := Segment{Name: parts[0], Order: order[&raw[0]], Fields: []Field{}}
		vals := parts[1:]
		if seg.Name == "MSH" {
			vals = append([]string{sep}, vals...)
		}
		for i, v := range vals {
			if v == "" {
				continue
			}
			seg.Fields = append(seg.Fields, Field{N: i + 1, Name: FieldName(seg.Name, i+1), Value: v})
		}
		out = append(out, seg)
	}
	return out
}

// ---- diff ----

type diffReq struct {
	Sample int `json:"sample"` // how many of the samples (0: all)
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) {
	var req diffReq
	if !decode(w, r, &req) {
		return
	}
	live, draft := s.current()
	if draft == nil {
		fail(w, http.StatusConflict, "not-found", "no draft mapping: check one in first")
		return
	}
	recs := s.cfg.Samples
	if req.Sample > 0 && req.Sample < len(recs) {
		recs = recs[:req.Sample]
	}
	rep := mapdiff.Compare(live.Mapping, draft.Mapping, recs)
	// Examples name samples, not server paths; rules name base names.
	fix := func(e *mapdiff.Example) { e.Where = sampleLabel(e.Record, s.cfg.Samples[e.Record].Loc) }
	for i := range rep.Elements {
		fix(&rep.Elements[i].Example)
	}
	for i := range rep.Resources {
		for j := range rep.Resources[i].Examples {
			fix(&rep.Resources[i].Examples[j])
		}
	}
	for i := range rep.Issues {
		fix(&rep.Issues[i].Example)
		is := &rep.Issues[i]
		if is.Appeared > 0 {
			is.Rule = shortRule(*draft, is.Rule)
		} else {
			is.Rule = shortRule(live, is.Rule)
		}
	}
	reply(w, rep)
}

// ---- draft ----

type draftReq struct {
	YAML string `json:"yaml"`
}

type problemOut struct {
	Line  int    `json:"line"`
	Col   int    `json:"col"`
	Text  string `json:"text"`  // file:line:column: message, base names only
	Quote string `json:"quote"` // the line with a caret, when it is the draft's
}

func (s *Server) setDraft(w http.ResponseWriter, r *http.Request) {
	var req draftReq
	if !decode(w, r, &req) {
		return
	}
	data := []byte(req.YAML)
	const name = "draft.yaml"
	m, err := mapping.Parse(data, name, s.cfg.DraftTables, ".")
	if err != nil {
		var ce *mapping.CheckError
		if !errors.As(err, &ce) {
			fail(w, http.StatusUnprocessableEntity, "invalid", "draft not usable")
			return
		}
		probs := []problemOut{}
		for _, p := range ce.Problems {
			po := problemOut{Line: p.Line, Col: p.Col}
			p.File = path.Base(filepath.ToSlash(p.File)) // a table file: its base name
			po.Text = p.String()
			if p.File == name {
				po.Quote = diag.Quote(data, p)
			}
			probs = append(probs, po)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]any{"problems": probs})
		return
	}
	s.mu.Lock()
	s.drft = &Source{Mapping: m, Text: data, Path: name}
	s.mu.Unlock()
	s.cfg.Log.Info("admin: draft mapping replaced from the page", "sha256", describe(s.drft).SHA256)
	reply(w, map[string]any{"draft": describe(s.drft)})
}

func (s *Server) dropDraft(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.drft = s.cfg.Draft
	s.mu.Unlock()
	reply(w, map[string]any{"draft": describe(s.cfg.Draft)})
}

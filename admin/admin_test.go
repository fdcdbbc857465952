package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/mapping/mapdiff"
)

// cvxDisplayRule is the default mapping's rule for the CVX display; the
// test draft replaces it with a constant.
const cvxDisplayRule = `{target: display, value: 'table("cvx", $cvx, "display")'}`

// fixture is a server over the mapping package's test messages, with a
// draft (written to a temporary folder, whose path must never show).
type fixture struct {
	srv      *httptest.Server
	dir      string
	draftSrc string
	samples  []mapdiff.Record
}

func newFixture(t *testing.T, token string, withDraft bool) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	recs, _, err := mapdiff.Sample(context.Background(), []string{"../mapping/testdata"}, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.samples = recs
	cfg := Config{Live: Source{Mapping: mapping.Default(), Text: mapping.DefaultSource()}, Samples: recs, Token: token}
	f.draftSrc = strings.Replace(string(mapping.DefaultSource()), cvxDisplayRule, `{target: display, const: Changed}`, 1)
	if withDraft {
		if _, err := mapping.WriteDefault(f.dir, false); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(f.dir, "draft.yaml")
		os.WriteFile(p, []byte(f.draftSrc), 0o644)
		m, err := mapping.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Draft = &Source{Mapping: m, Text: []byte(f.draftSrc), Path: p}
		cfg.DraftTables = os.DirFS(f.dir)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, a.body)
	}
}

// do sends a request; body "" means none, else JSON.
func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{resp.StatusCode, resp.Header, string(b)}
	// No answer ever names a server path.
	if strings.Contains(a.body, f.dir) || strings.Contains(a.body, "/mapping/testdata") {
		t.Errorf("%s %s: the answer shows a server path:\n%s", method, path, a.body)
	}
	return a
}

// outcome checks an OperationOutcome error answer.
func outcome(t *testing.T, a answer, status int, text string) {
	t.Helper()
	if a.status != status || !strings.Contains(a.body, `"resourceType":"OperationOutcome"`) || !strings.Contains(a.body, text) {
		t.Errorf("want %d OperationOutcome with %q, got %d: %s", status, text, a.status, a.body)
	}
}

func TestStaticPage(t *testing.T) {
	f := newFixture(t, "", false)
	for path, want := range map[string]string{"/": "<title>iisbridge · mapping admin</title>", "/admin.js": "function convert", "/admin.css": ".leaf"} {
		a := f.do(t, "GET", path, "")
		if a.status != 200 || !strings.Contains(a.body, want) {
			t.Errorf("GET %s: %d, lacks %q", path, a.status, want)
		}
		if csp := a.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	// Nothing is loaded from elsewhere.
	for _, p := range []string{"/", "/admin.js", "/admin.css"} {
		if b := f.do(t, "GET", p, "").body; strings.Contains(b, "http://") || strings.Contains(b, "https://") {
			t.Errorf("%s refers to another site", p)
		}
	}
	if a := f.do(t, "GET", "/nope", ""); a.status != 404 {
		t.Errorf("GET /nope: %d", a.status)
	}
}

func TestLoopbackHostOnlyWithoutToken(t *testing.T) {
	f := newFixture(t, "", false)
	outcome(t, f.do(t, "GET", "/api/info", "", "Host", "evil.example:8081"), 403, "loopback")
	for _, h := range []string{"localhost:8081", "127.0.0.1:8081", "[::1]:8081"} {
		if a := f.do(t, "GET", "/api/info", "", "Host", h); a.status != 200 {
			t.Errorf("Host %s: %d", h, a.status)
		}
	}
}

func TestToken(t *testing.T) {
	f := newFixture(t, "s3cret", false)
	a := f.do(t, "GET", "/api/info", "")
	outcome(t, a, 401, "token")
	if a.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	outcome(t, f.do(t, "GET", "/api/samples", "", "Authorization", "Bearer wrong"), 401, "token")
	if a := f.do(t, "GET", "/api/info", "", "Authorization", "Bearer s3cret"); a.status != 200 {
		t.Errorf("with the token: %d %s", a.status, a.body)
	}
	// Any Host with a token; the page itself needs none (it holds no data).
	if a := f.do(t, "GET", "/", "", "Host", "admin.example:8081"); a.status != 200 {
		t.Errorf("page: %d", a.status)
	}
	if strings.Contains(f.do(t, "GET", "/api/info", "", "Authorization", "Bearer s3cret").body, "s3cret") {
		t.Error("the token is echoed")
	}
}

func TestInfoAndSamples(t *testing.T) {
	f := newFixture(t, "", true)
	var info struct {
		Live, Draft *struct {
			Name, SHA256 string
			Rules        int
		}
		Samples int
	}
	f.do(t, "GET", "/api/info", "").json(t, &info)
	if info.Live == nil || info.Live.Name != "default.yaml" || len(info.Live.SHA256) != 64 || info.Live.Rules < 100 {
		t.Errorf("live: %+v", info.Live)
	}
	if info.Draft == nil || info.Draft.Name != "draft.yaml" || info.Draft.SHA256 == info.Live.SHA256 {
		t.Errorf("draft: %+v", info.Draft)
	}
	if info.Samples != len(f.samples) {
		t.Errorf("samples %d, want %d", info.Samples, len(f.samples))
	}
	var list []struct {
		ID          int
		Type, Label string
	}
	f.do(t, "GET", "/api/samples", "").json(t, &list)
	if len(list) != len(f.samples) {
		t.Fatalf("%d samples listed", len(list))
	}
	types := map[string]bool{}
	for i, s := range list {
		types[s.Type] = true
		if s.ID != i || !strings.HasPrefix(s.Label, "#") || strings.Contains(s.Label, "/") {
			t.Errorf("sample %+v", s)
		}
	}
	if !types["VXU^V04"] || !types["RSP^K11"] {
		t.Errorf("types %v", types)
	}
}

func TestMappingText(t *testing.T) {
	f := newFixture(t, "", false)
	var m struct{ Name, Text string }
	f.do(t, "GET", "/api/mapping/live", "").json(t, &m)
	if m.Name != "default.yaml" || m.Text != string(mapping.DefaultSource()) {
		t.Errorf("live mapping text: %q, %d bytes", m.Name, len(m.Text))
	}
	outcome(t, f.do(t, "GET", "/api/mapping/draft", ""), 404, "no draft")
	outcome(t, f.do(t, "GET", "/api/mapping/other", ""), 404, "live or draft")
}

type convAnswer struct {
	Segments []struct {
		Name   string
		Order  int
		Fields []struct {
			N           int
			Name, Value string
		}
	}
	Live, Draft *struct {
		Mapping   string
		Resources []map[string]any
		Trace     []struct{ Resource, Element, Value, Source, Rule string }
		Issues    []struct{ Severity, Code, Text, Rule string }
	}
	Deltas []mapdiff.Delta
}

// vxuSample is the id of the vxu_full.hl7 sample.
func (f *fixture) vxuSample(t *testing.T) int {
	for i, r := range f.samples {
		if filepath.Base(r.Loc.Source) == "vxu_full.hl7" {
			return i
		}
	}
	t.Fatal("no vxu_full sample")
	return -1
}

func TestConvertSample(t *testing.T) {
	f := newFixture(t, "", true)
	var c convAnswer
	a := f.do(t, "POST", "/api/convert", `{"sample": `+itoa(f.vxuSample(t))+`}`)
	a.json(t, &c)
	if a.status != 200 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	// The message, field by field with names; RXA in ORDER 1.
	found := 0
	for _, s := range c.Segments {
		for _, fl := range s.Fields {
			switch {
			case s.Name == "PID" && fl.N == 5 && fl.Name == "Patient Name" && strings.HasPrefix(fl.Value, "Quillfeather^"):
				found++
			case s.Name == "RXA" && s.Order == 1 && fl.N == 5 && fl.Name == "Administered Code":
				found++
			case s.Name == "MSH" && fl.N == 1 && fl.Value == "|":
				found++
			}
		}
	}
	if found != 3 {
		t.Errorf("segments lack PID-5, RXA-5 in ORDER 1 or MSH-1 (%d found): %+v", found, c.Segments)
	}
	if c.Live == nil || len(c.Live.Resources) != 3 || c.Live.Resources[0]["resourceType"] != "Patient" {
		t.Fatalf("live resources: %+v", c.Live)
	}
	// The trace: element, source field and rule (base name and line).
	ok := false
	for _, tr := range c.Live.Trace {
		if tr.Element == "Patient.name[0].family" && tr.Value == "Quillfeather" && tr.Source == "PID-5[1].1.1" && strings.HasPrefix(tr.Rule, "default.yaml:") {
			ok = true
		}
	}
	if !ok {
		t.Error("trace lacks Patient.name[0].family from PID-5 with its rule")
	}
	// The draft changes every CVX display, and nothing else.
	if c.Draft == nil || c.Draft.Mapping != "draft.yaml" || len(c.Deltas) == 0 {
		t.Fatalf("draft: %+v deltas %+v", c.Draft, c.Deltas)
	}
	for _, d := range c.Deltas {
		if d.Kind != "changed" || d.After != "Changed" || !strings.HasPrefix(d.Element, "Immunization.vaccineCode.coding[") || !strings.HasPrefix(d.Resource, "Immunization/") {
			t.Errorf("delta %+v", d)
		}
	}
	for _, tr := range c.Draft.Trace {
		if strings.HasSuffix(tr.Element, ".display") && tr.Value == "Changed" && !strings.HasPrefix(tr.Rule, "draft.yaml:") {
			t.Errorf("draft trace rule %q", tr.Rule)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestConvertPastedAndBadRequests(t *testing.T) {
	f := newFixture(t, "", false)
	raw, _ := os.ReadFile("../mapping/testdata/vxu_full.hl7")
	text := strings.ReplaceAll(string(raw), "\r", "\n") // as pasted from an editor
	body, _ := json.Marshal(map[string]string{"text": text})
	var c convAnswer
	a := f.do(t, "POST", "/api/convert", string(body))
	a.json(t, &c)
	if a.status != 200 || len(c.Live.Resources) != 3 || c.Draft != nil || c.Deltas != nil {
		t.Errorf("pasted: %d, %+v", a.status, c.Live)
	}
	outcome(t, f.do(t, "POST", "/api/convert", `{"text": "hello"}`), 422, "")
	outcome(t, f.do(t, "POST", "/api/convert", `{}`), 400, "give sample")
	outcome(t, f.do(t, "POST", "/api/convert", `{"sample": 999}`), 404, "no sample 999")
	outcome(t, f.do(t, "POST", "/api/convert", `{"sampel": 1}`), 400, "unknown field")
	outcome(t, f.do(t, "POST", "/api/convert", `{"sample": `), 400, "not the expected JSON")
	big, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", maxBody)})
	outcome(t, f.do(t, "POST", "/api/convert", string(big)), 413, "body over")
	// Only JSON bodies, and only from this origin.
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/convert", strings.NewReader("sample=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("form body: %d", resp.StatusCode)
	}
	outcome(t, f.do(t, "POST", "/api/convert", `{"sample": 0}`, "Origin", "http://evil.example"), 403, "cross-origin")
	if a := f.do(t, "POST", "/api/convert", `{"sample": 0}`, "Origin", f.srv.URL); a.status != 200 {
		t.Errorf("same origin: %d %s", a.status, a.body)
	}
	outcome(t, f.do(t, "GET", "/api/convert", ""), 405, "not supported")
	outcome(t, f.do(t, "GET", "/api/nope", ""), 404, "no such API route")
}

func TestDraftFromThePage(t *testing.T) {
	f := newFixture(t, "", false)
	outcome(t, f.do(t, "POST", "/api/diff", `{}`), 409, "no draft")
	// A broken draft: every problem, the draft's lines quoted with a caret.
	broken := strings.Replace(f.draftSrc, "resource: Patient", "resource: Patiant", 1)
	body, _ := json.Marshal(map[string]string{"yaml": broken})
	var pr struct {
		Problems []struct {
			Line, Col   int
			Text, Quote string
		}
	}
	a := f.do(t, "POST", "/api/draft", string(body))
	a.json(t, &pr)
	if a.status != 422 || len(pr.Problems) == 0 {
		t.Fatalf("broken draft: %d %s", a.status, a.body)
	}
	p := pr.Problems[0]
	if !strings.HasPrefix(p.Text, "draft.yaml:") || !strings.Contains(p.Quote, "Patiant") || !strings.Contains(p.Quote, "^") {
		t.Errorf("problem %+v", p)
	}
	// A good one is used at once.
	body, _ = json.Marshal(map[string]string{"yaml": f.draftSrc})
	if a := f.do(t, "POST", "/api/draft", string(body)); a.status != 200 || !strings.Contains(a.body, `"name":"draft.yaml"`) {
		t.Fatalf("good draft: %d %s", a.status, a.body)
	}
	var m struct{ Text string }
	f.do(t, "GET", "/api/mapping/draft", "").json(t, &m)
	if m.Text != f.draftSrc {
		t.Error("the draft's text is not served back")
	}
	var rep mapdiff.Report
	a = f.do(t, "POST", "/api/diff", `{"sample": 0}`)
	a.json(t, &rep)
	if a.status != 200 || rep.Messages != len(f.samples) || len(rep.Elements) != 1 || rep.Elements[0].Element != "Immunization.vaccineCode.coding.display" {
		t.Fatalf("diff: %d %s", a.status, a.body)
	}
	if ex := rep.Elements[0].Example; !strings.HasPrefix(ex.Where, "#") || strings.Contains(ex.Where, "/") {
		t.Errorf("example names a server path: %+v", ex)
	}
	// A smaller sample.
	f.do(t, "POST", "/api/diff", `{"sample": 2}`).json(t, &rep)
	if rep.Messages != 2 {
		t.Errorf("diff of 2: %d messages", rep.Messages)
	}
	// Back to no draft.
	if a := f.do(t, "DELETE", "/api/draft", ""); a.status != 200 || !strings.Contains(a.body, `"draft":null`) {
		t.Errorf("DELETE draft: %d %s", a.status, a.body)
	}
	outcome(t, f.do(t, "GET", "/api/mapping/draft", ""), 404, "no draft")
}

func TestFieldName(t *testing.T) {
	for _, c := range []struct {
		seg  string
		n    int
		want string
	}{{"PID", 5, "Patient Name"}, {"RXA", 5, "Administered Code"}, {"MSH", 9, "Message Type"}, {"OBX", 5, "Observation Value"}, {"ZXY", 1, ""}, {"PID", 99, ""}, {"PID", 0, ""}} {
		if got := FieldName(c.seg, c.n); got != c.want {
			t.Errorf("FieldName(%s, %d) = %q", c.seg, c.n, got)
		}
	}
}

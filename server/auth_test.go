package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// seamAuth is headerAuth plus X-Signed (signed file URLs) and X-Levels.
type seamAuth struct{}

func (seamAuth) Authorize(r *http.Request) (*Principal, error) {
	p, err := headerAuth{}.Authorize(r)
	if err != nil {
		return nil, err
	}
	p.SignedURLs = r.Header.Get("X-Signed") != ""
	if v := r.Header.Get("X-Levels"); v != "" {
		p.Levels = strings.Split(v, ",")
	}
	return p, nil
}

// fakeSigner "signs" by naming the file and client in the URL; fakeAudit
// records events.
type fakeSigner struct{}

func (fakeSigner) SignFileURL(u string, f FileRef) (string, error) {
	return u + "?sig=" + url.QueryEscape(f.Job+"|"+f.Kind+"|"+f.Name+"|"+f.Client), nil
}

func (fakeSigner) VerifyFileURL(r *http.Request, f FileRef) (string, bool, error) {
	sig := r.URL.Query().Get("sig")
	if sig == "" {
		return "", false, nil
	}
	p := strings.Split(sig, "|")
	if len(p) != 4 || p[0] != f.Job || p[1] != f.Kind || p[2] != f.Name {
		return "", true, errors.New("signature does not match")
	}
	return p[3], true, nil
}

type fakeAudit struct {
	mu     sync.Mutex
	events []AuditEvent
}

func (a *fakeAudit) Audit(e AuditEvent) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

func TestAuthorizationSeams(t *testing.T) {
	audit := &fakeAudit{}
	h := newHarness(t, func(o *Options) {
		o.Authorizer, o.TokenURL = seamAuth{}, "https://iis.example.org/fhir/auth/token"
		o.URLSigner, o.URLVerifier, o.Auditor = fakeSigner{}, fakeSigner{}, audit
	})
	clinic := []string{"X-Client", "clinic", "X-Signed", "1"}
	status := h.accepted(h.kick("/Patient/$export", "", clinic...))
	m := h.done(status, clinic...)
	if m.RequiresAccessToken || len(m.Output) == 0 || !strings.Contains(m.Output[0].URL, "?sig=") || !strings.Contains(m.Output[0].URL, "clinic") {
		t.Fatalf("signed manifest: %+v", m)
	}
	// The signature stands in for the token: a refused bearer is ignored.
	h.lines(m.Output[0], "X-Client", "nobody")
	other := h.accepted(h.kick("/Patient/$export", "_type=Patient", clinic...))
	om := h.done(other, clinic...)
	forged := om.Output[0].URL[:strings.Index(om.Output[0].URL, "?")] + m.Output[0].URL[strings.Index(m.Output[0].URL, "?"):]
	expectStatus(t, h.do("GET", forged, ""), 403, "does not match")

	// Bearer mode: the manifest needs a token, the file a valid one.
	bm := h.done(h.accepted(h.kick("/Patient/$export", "")))
	if !bm.RequiresAccessToken || strings.Contains(bm.Output[0].URL, "?") {
		t.Errorf("bearer manifest: %+v", bm)
	}
	r := h.do("GET", bm.Output[0].URL, "", "X-Client", "nobody")
	expectStatus(t, r, 401, "")
	if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="iisbridge", error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	// A token whose types do not cover the file's.
	var imm item
	for _, it := range bm.Output {
		if it.Type == "Immunization" {
			imm = it
		}
	}
	expectStatus(t, h.do("GET", imm.URL, "", "X-Client", "client-a", "X-Types", "Patient"), 403, "Immunization")

	// Levels and _typeFilter outside the grant.
	expectStatus(t, h.kick("/Patient/$export", "", "X-Client", "c", "X-Levels", "group"), 403, "patient-level")
	expectStatus(t, h.kick("/$export", "", "X-Client", "c", "X-Levels", "group,patient"), 403, "system-level")
	expectStatus(t, h.kick("/Patient/$export", "_typeFilter="+url.QueryEscape("Immunization?status=completed"), "X-Client", "c", "X-Types", "Patient"), 403, "_typeFilter")
	expectStatus(t, h.do("GET", h.url("/fhir/Group"), "", "X-Client", "c", "X-Types", "Patient"), 403, "Group")

	expectStatus(t, h.do("DELETE", status, "", clinic...), 202, "")
	job := status[strings.LastIndex(status, "/")+1:]
	audit.mu.Lock()
	defer audit.mu.Unlock()
	want := []AuditEvent{
		{Event: "export.kickoff", ClientID: "clinic", Route: "/fhir/Patient/$export", Job: job, Status: 202, Outcome: "ok"},
		{Event: "export.complete", ClientID: "clinic", Route: "/fhir/bulkstatus/{job}", Job: job, Status: 200, Outcome: "ok"},
		{Event: "file.download", ClientID: "clinic", Route: "/fhir/bulkfiles/{job}/{kind}/{file}", Job: job, File: "output/" + m.Output[0].URL[strings.LastIndex(m.Output[0].URL, "/")+1:strings.Index(m.Output[0].URL, "?")], Status: 200, Outcome: "ok"},
		{Event: "access.refused", Route: "/fhir/bulkfiles/{job}/{kind}/{file}", Job: other[strings.LastIndex(other, "/")+1:], Status: 403, Outcome: "refused", Reason: "signature"},
		{Event: "access.refused", Route: "/fhir/bulkfiles/{job}/{kind}/{file}", Status: 401, Outcome: "refused", Reason: "invalid_token"},
		{Event: "export.kickoff", ClientID: "c", Route: "/fhir/Patient/$export", Status: 403, Outcome: "refused"},
		{Event: "export.delete", ClientID: "clinic", Route: "/fhir/bulkstatus/{job}", Job: job, Status: 202, Outcome: "ok"},
	}
	i := 0
	for _, e := range audit.events {
		if e.Time.IsZero() {
			t.Errorf("event without time: %+v", e)
		}
		e.Time = want[min(i, len(want)-1)].Time
		if i < len(want) && e == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("audit lacks %+v (in order); got:\n%+v", want[i], audit.events)
	}
}

package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/iisbridge/iisbridge/internal/doctest"
	"github.com/iisbridge/iisbridge/pipeline"
)

// scrape parses /metrics with the Prometheus text parser.
func scrape(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, text)
	}
	return fams
}

// sample finds the metric of family name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestMetricsExposition(t *testing.T) {
	met := NewMetrics()
	met.SetBuildInfo("v1.2.3", "abc123", "go1.26")
	met.Indexed(120, 3)
	met.lost(pipeline.Loss{Records: 2, ByReason: map[string]int64{"changed": 2}})
	h := newHarness(t, func(o *Options) { o.Metrics = met })
	h.s.SetMapping(MappingInfo{Path: "/etc/iisbridge/my-mapping.yaml", SHA256: "feedface"})
	h.done(h.accepted(h.kick("/Patient/$export", "")))
	h.do("GET", h.url("/fhir/Group/no-such-group"), "")
	// The job's counters are recorded just after its state, which the
	// status poll above saw: a scrape in between misses them.
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		fams = scrape(t, body(t, h.do("GET", h.url("/metrics"), "")))
		if sample(fams, "iisbridge_jobs_ended_total", map[string]string{"state": "done"}) != nil || time.Now().After(deadline) {
			break
		}
	}

	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s (Go runtime / process collectors)", name)
		}
	}
	// Latency by route template, never the raw path.
	m := sample(fams, "iisbridge_http_request_duration_seconds", map[string]string{"route": "/fhir/Patient/$export", "code": "202"})
	if m == nil || m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("kick-off latency histogram: %v", m)
	}
	if sample(fams, "iisbridge_http_request_duration_seconds", map[string]string{"route": "/fhir/Group/{id}"}) == nil {
		t.Error("Group read not recorded under its route template")
	}
	for _, f := range fams {
		for _, mm := range f.Metric {
			for _, l := range mm.Label {
				if l.GetName() == "route" && strings.Contains(l.GetValue(), "no-such-group") {
					t.Errorf("%s carries a raw path: %s", f.GetName(), l.GetValue())
				}
			}
		}
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"iisbridge_jobs_ended_total", map[string]string{"state": "done"}, 1},
		{"iisbridge_jobs", map[string]string{"state": "done"}, 1},
		{"iisbridge_resources_exported_total", map[string]string{"type": "Patient"}, 4},
		{"iisbridge_ingest_messages_total", nil, 120},
		{"iisbridge_ingest_broken_total", nil, 3},
		{"iisbridge_export_records_unreadable_total", map[string]string{"reason": "changed"}, 2},
		{"iisbridge_build_info", map[string]string{"version": "v1.2.3", "revision": "abc123"}, 1},
		{"iisbridge_mapping_info", map[string]string{"path": "/etc/iisbridge/my-mapping.yaml", "sha256": "feedface"}, 1},
	}
	for _, c := range checks {
		m := sample(fams, c.name, c.labels)
		if m == nil {
			t.Errorf("no %s%v", c.name, c.labels)
			continue
		}
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if m := sample(fams, "iisbridge_job_duration_seconds", nil); m == nil || m.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("job duration histogram: %v", m)
	}
	checkREADMEMetrics(t, fams)

	// The live mapping is named in the CapabilityStatement by base name
	// and hash, never by its server path.
	cs := body(t, h.do("GET", h.url("/fhir/metadata"), ""))
	if !strings.Contains(cs, "my-mapping.yaml sha256:feedface") || strings.Contains(cs, "/etc/iisbridge") {
		t.Errorf("CapabilityStatement implementation: %s", cs)
	}

	// The fake exporter reports one broken input record: the job's end is
	// a warning, not routine (read once the workers have stopped).
	h.stop()
	if lg := h.log.String(); !strings.Contains(lg, `level=WARN msg="export job done with issues in its error file"`) || !strings.Contains(lg, "issues=1") {
		t.Errorf("log lacks the export warning:\n%s", lg)
	}
}

func TestStartingHandler(t *testing.T) {
	met := NewMetrics()
	ts := httptest.NewServer(Starting(met, nil, func() string { return "indexing 37 %" }, 3*time.Second, true))
	defer ts.Close()
	get := func(path string) (*http.Response, string) {
		r, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		return r, body(t, r)
	}
	if r, b := get("/healthz"); r.StatusCode != 200 || strings.TrimSpace(b) != "ok" {
		t.Errorf("/healthz while starting: %d %q, want 200 ok (live)", r.StatusCode, b)
	}
	if r, b := get("/readyz"); r.StatusCode != 503 || !strings.Contains(b, "indexing 37 %") {
		t.Errorf("/readyz while starting: %d %q", r.StatusCode, b)
	}
	for _, path := range []string{"/fhir/$export", "/fhir/Patient/$export?_type=Patient", "/fhir/Group/x/$export", "/fhir/metadata"} {
		r, b := get(path)
		if r.StatusCode != 503 || r.Header.Get("Retry-After") != "3" {
			t.Errorf("%s while starting: %d, Retry-After %q", path, r.StatusCode, r.Header.Get("Retry-After"))
		}
		var oo struct {
			ResourceType string `json:"resourceType"`
			Issue        []struct {
				Code, Diagnostics string
			} `json:"issue"`
		}
		if err := json.Unmarshal([]byte(b), &oo); err != nil || oo.ResourceType != "OperationOutcome" ||
			len(oo.Issue) != 1 || oo.Issue[0].Code != "transient" || !strings.Contains(oo.Issue[0].Diagnostics, "indexing 37 %") {
			t.Errorf("%s: body %s", path, b)
		}
		validate(t, []byte(b))
	}
	_, mb := get("/metrics")
	fams := scrape(t, mb)
	if sample(fams, "iisbridge_http_requests_total", map[string]string{"code": "503", "route": "starting"}) == nil || fams["go_goroutines"] == nil {
		t.Errorf("metrics while starting lack requests or runtime:\n%s", mb)
	}
}

// Once the exporter says how many persons the export visits, X-Progress
// carries a percentage.
func TestXProgressPercent(t *testing.T) {
	h, release := blockingHarness(t, func(o *Options) { o.MinPollSpacing = 0 })
	st := h.accepted(h.kick("/Patient/$export", ""))
	h.awaitStarted()
	r := h.do("GET", st, "", "Accept", "application/json")
	expectStatus(t, r, 202, "")
	if p := r.Header.Get("X-Progress"); p != "running: 37 % (3 of 8 persons), 0 resources written" {
		t.Errorf("X-Progress %q", p)
	}
	release()
	h.done(st)
}

// With authorization on, /metrics is not open while starting.
func TestStartingHandlerGuardsMetrics(t *testing.T) {
	ts := httptest.NewServer(Starting(NewMetrics(), nil, func() string { return "indexing" }, time.Second, false))
	defer ts.Close()
	r, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Errorf("/metrics while starting with auth: %d, want 503", r.StatusCode)
	}
}

// checkREADMEMetrics keeps the README's table of metrics equal to what
// /metrics serves: every iisbridge_ family scraped is in the table, and
// every name in the table is scraped.
func checkREADMEMetrics(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	table := doctest.Table(t, doctest.Read(t, "../README.md"), "| metric | what |")
	documented := map[string]bool{}
	for _, n := range regexp.MustCompile(`iisbridge_[a-z_]+`).FindAllString(table, -1) {
		documented[n] = true
		if fams[n] == nil {
			t.Errorf("README.md documents the metric %s, which /metrics does not serve", n)
		}
	}
	for n := range fams {
		if strings.HasPrefix(n, "iisbridge_") && !documented[n] {
			t.Errorf("/metrics serves %s, which README.md's table of metrics does not list", n)
		}
	}
}

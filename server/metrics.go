package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/iisbridge/iisbridge/pipeline"
)

// Metrics are the process's Prometheus metrics, served at /metrics. One
// set lives for the whole process: the start-up handler (Starting) and the
// Server share it, and the command feeds the ingest side (Indexed).
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	resources    *prometheus.CounterVec
	bytesServed  prometheus.Counter
	jobsEnded    *prometheus.CounterVec
	jobDuration  prometheus.Histogram
	ingested     prometheus.Counter
	broken       prometheus.Counter
	unreadable   *prometheus.CounterVec
	buildInfo    *prometheus.GaugeVec
	mappingInfo  *prometheus.GaugeVec
	ready        prometheus.Gauge
	indexRatio   prometheus.Gauge
	unknownSend  prometheus.Gauge
	unknownRecs  prometheus.Gauge

	mu      sync.Mutex
	jobs    *jobsCollector // of the Server using these metrics
	handler http.Handler
}

// NewMetrics registers the Go runtime and process collectors and the
// bridge's own metrics in a fresh registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) prometheus.Collector { reg.MustRegister(c); return c }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg}
	m.httpRequests = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iisbridge_http_requests_total", Help: "HTTP requests by route template and status.",
	}, []string{"route", "code"})).(*prometheus.CounterVec)
	m.httpDuration = f(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "iisbridge_http_request_duration_seconds", Help: "HTTP request latency by route template and status.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120},
	}, []string{"route", "code"})).(*prometheus.HistogramVec)
	m.resources = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iisbridge_resources_exported_total", Help: "Resources written to export files, by type.",
	}, []string{"type"})).(*prometheus.CounterVec)
	m.bytesServed = f(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "iisbridge_file_bytes_served_total", Help: "Bytes of export files sent.",
	})).(prometheus.Counter)
	m.jobsEnded = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iisbridge_jobs_ended_total", Help: "Export jobs ended since start, by outcome.",
	}, []string{"state"})).(*prometheus.CounterVec)
	m.jobDuration = f(prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "iisbridge_job_duration_seconds", Help: "Run time of successful export jobs.",
		Buckets: []float64{1, 5, 15, 60, 300, 900, 3600},
	})).(prometheus.Histogram)
	m.ingested = f(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "iisbridge_ingest_messages_total", Help: "Archive records indexed since start (messages and broken input).",
	})).(prometheus.Counter)
	m.broken = f(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "iisbridge_ingest_broken_total", Help: "Stretches of broken input (not messages) found while indexing.",
	})).(prometheus.Counter)
	m.unreadable = f(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "iisbridge_export_records_unreadable_total", Help: "Indexed source records exports could not read and left out, by reason.",
	}, []string{"reason"})).(*prometheus.CounterVec)
	m.buildInfo = f(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "iisbridge_build_info", Help: "Always 1: the running build's module version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})).(*prometheus.GaugeVec)
	m.mappingInfo = f(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "iisbridge_mapping_info", Help: "Always 1: the live mapping's file and the SHA-256 of its content.",
	}, []string{"path", "sha256"})).(*prometheus.GaugeVec)
	m.ready = f(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "iisbridge_ready", Help: "1 when the index is current and exports are accepted.",
	})).(prometheus.Gauge)
	m.indexRatio = f(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "iisbridge_startup_index_ratio", Help: "Share of the archives' bytes indexed at start-up (1 when done).",
	})).(prometheus.Gauge)
	m.unknownSend = f(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "iisbridge_group_unknown_senders", Help: "Senders of VXU/QBP records outside the configured organizations table (they make no Group).",
	})).(prometheus.Gauge)
	m.unknownRecs = f(prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "iisbridge_group_unknown_sender_records", Help: "VXU/QBP records from senders outside the configured organizations table.",
	})).(prometheus.Gauge)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil})
	return m
}

// Registry is where further collectors may be registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetBuildInfo records the running build.
func (m *Metrics) SetBuildInfo(version, revision, goVersion string) {
	m.buildInfo.Reset()
	m.buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// SetMapping records the live mapping (path as configured, content hash).
func (m *Metrics) SetMapping(path, sha256 string) {
	m.mappingInfo.Reset()
	m.mappingInfo.WithLabelValues(path, sha256).Set(1)
}

// Indexed counts what one index update read.
func (m *Metrics) Indexed(records, broken int64) {
	m.ingested.Add(float64(records))
	m.broken.Add(float64(broken))
}

// unknownSenders records the senders outside the organizations table
// at the last Group refresh.
func (m *Metrics) unknownSenders(senders int, records int64) {
	m.unknownSend.Set(float64(senders))
	m.unknownRecs.Set(float64(records))
}

// lost counts source records an export could not read, by reason.
func (m *Metrics) lost(l pipeline.Loss) {
	for r, n := range l.ByReason {
		m.unreadable.WithLabelValues(r).Add(float64(n))
	}
}

// SetStartup records the start-up indexing's progress (0..1) and
// readiness.
func (m *Metrics) SetStartup(ratio float64, ready bool) {
	m.indexRatio.Set(ratio)
	if ready {
		m.ready.Set(1)
	} else {
		m.ready.Set(0)
	}
}

func (m *Metrics) request(route string, status int, d time.Duration) {
	code := strconv.Itoa(status)
	m.httpRequests.WithLabelValues(route, code).Inc()
	m.httpDuration.WithLabelValues(route, code).Observe(d.Seconds())
}

func (m *Metrics) exported(t string, n int64) { m.resources.WithLabelValues(t).Add(float64(n)) }

func (m *Metrics) served(n int64) { m.bytesServed.Add(float64(n)) }

// jobEnded records a job's end: its duration first, so a scrape that
// counts the job ended also has its duration.
func (m *Metrics) jobEnded(state string, d time.Duration) {
	if state == stateDone {
		m.jobDuration.Observe(d.Seconds())
	}
	m.jobsEnded.WithLabelValues(state).Inc()
}

// attach makes the job-state gauge read s's store (one Server at a time).
func (m *Metrics) attach(s *Server) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs == nil {
		m.jobs = &jobsCollector{}
		m.reg.MustRegister(m.jobs)
	}
	m.jobs.mu.Lock()
	m.jobs.s = s
	m.jobs.mu.Unlock()
}

func (m *Metrics) detach(s *Server) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs != nil {
		m.jobs.mu.Lock()
		if m.jobs.s == s {
			m.jobs.s = nil
		}
		m.jobs.mu.Unlock()
	}
}

var (
	jobsDesc  = prometheus.NewDesc("iisbridge_jobs", "Export jobs in the store by state.", []string{"state"}, nil)
	filesDesc = prometheus.NewDesc("iisbridge_index_files_total",
		"Archive files by what indexing met: dropped (gone or no longer configured), moved, unreadable, broken.", []string{"event"}, nil)
)

// jobsCollector reads the job store, and the exporter's ingest counts
// (IngestCounter), at scrape time.
type jobsCollector struct {
	mu sync.Mutex
	s  *Server
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc; ch <- filesDesc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.s
	c.mu.Unlock()
	if s == nil {
		return
	}
	if ic, ok := s.exporter.(IngestCounter); ok {
		for k, n := range ic.IngestCounts() {
			ch <- prometheus.MustNewConstMetric(filesDesc, prometheus.CounterValue, float64(n), k)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := s.store.jobCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	for _, st := range []string{stateQueued, stateRunning, stateDone, stateFailed, stateDeleted} {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}

// ServeHTTP serves the metrics in the Prometheus exposition format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) { s.metrics.ServeHTTP(w, r) }

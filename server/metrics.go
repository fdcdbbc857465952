package server

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"iisbridge/pipeline"
)

// metrics are hand-written Prometheus counters (text format 0.0.4).
type metrics struct {
	mu        sync.Mutex
	requests  map[[2]string]int64 // route, status
	resources map[string]int64    // exported, by type
	bytes     int64               // file bytes served
	ended     map[string]int64    // jobs finished, by outcome
	durCount  int64
	durSum    float64
	durBucket []int64          // cumulative counts per durBounds
	lost      map[string]int64 // source records exports could not read, by reason
}

var durBounds = []float64{1, 5, 15, 60, 300, 900, 3600}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]int64{}, resources: map[string]int64{}, ended: map[string]int64{},
		durBucket: make([]int64, len(durBounds)), lost: map[string]int64{}}
}

func (m *metrics) request(route string, status int) {
	m.mu.Lock()
	m.requests[[2]string{route, strconv.Itoa(status)}]++
	m.mu.Unlock()
}

func (m *metrics) exported(t string, n int64) {
	m.mu.Lock()
	m.resources[t] += n
	m.mu.Unlock()
}

func (m *metrics) unreadable(l pipeline.Loss) {
	m.mu.Lock()
	for r, n := range l.ByReason {
		m.lost[r] += n
	}
	m.mu.Unlock()
}

func (m *metrics) served(n int64) {
	m.mu.Lock()
	m.bytes += n
	m.mu.Unlock()
}

func (m *metrics) jobEnded(state string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended[state]++
	if state != stateDone {
		return
	}
	sec := d.Seconds()
	m.durCount++
	m.durSum += sec
	for i, b := range durBounds {
		if sec <= b {
			m.durBucket[i]++
		}
	}
}

func label(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	counts, err := s.store.jobCounts(r.Context())
	if err != nil {
		s.internalError(w, r, "reading the job store", err)
		return
	}
	var b strings.Builder
	b.WriteString("# HELP iisbridge_jobs Export jobs in the store by state.\n# TYPE iisbridge_jobs gauge\n")
	for _, st := range []string{stateQueued, stateRunning, stateDone, stateFailed, stateDeleted} {
		fmt.Fprintf(&b, "iisbridge_jobs{state=%q} %d\n", st, counts[st])
	}
	m := s.metrics
	m.mu.Lock()
	b.WriteString("# HELP iisbridge_jobs_ended_total Export jobs ended since start, by outcome.\n# TYPE iisbridge_jobs_ended_total counter\n")
	for _, st := range sortedKeys(m.ended) {
		fmt.Fprintf(&b, "iisbridge_jobs_ended_total{state=\"%s\"} %d\n", label(st), m.ended[st])
	}
	b.WriteString("# HELP iisbridge_resources_exported_total Resources written to export files, by type.\n# TYPE iisbridge_resources_exported_total counter\n")
	for _, t := range sortedKeys(m.resources) {
		fmt.Fprintf(&b, "iisbridge_resources_exported_total{type=\"%s\"} %d\n", label(t), m.resources[t])
	}
	b.WriteString("# HELP iisbridge_file_bytes_served_total Bytes of export files sent.\n# TYPE iisbridge_file_bytes_served_total counter\n")
	fmt.Fprintf(&b, "iisbridge_file_bytes_served_total %d\n", m.bytes)
	b.WriteString("# HELP iisbridge_job_duration_seconds Run time of successful export jobs.\n# TYPE iisbridge_job_duration_seconds histogram\n")
	for i, bound := range durBounds {
		fmt.Fprintf(&b, "iisbridge_job_duration_seconds_bucket{le=\"%g\"} %d\n", bound, m.durBucket[i])
	}
	fmt.Fprintf(&b, "iisbridge_job_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.durCount)
	fmt.Fprintf(&b, "iisbridge_job_duration_seconds_sum %g\niisbridge_job_duration_seconds_count %d\n", m.durSum, m.durCount)
	b.WriteString("# HELP iisbridge_export_records_unreadable_total Indexed source records exports could not read and left out, by reason.\n# TYPE iisbridge_export_records_unreadable_total counter\n")
	for _, r := range sortedKeys(m.lost) {
		fmt.Fprintf(&b, "iisbridge_export_records_unreadable_total{reason=\"%s\"} %d\n", label(r), m.lost[r])
	}
	if ic, ok := s.exporter.(IngestCounter); ok {
		c := ic.IngestCounts()
		b.WriteString("# HELP iisbridge_index_files_total Archive files by what indexing met: dropped (gone or no longer configured), moved, unreadable, broken.\n# TYPE iisbridge_index_files_total counter\n")
		for _, k := range sortedKeys(c) {
			fmt.Fprintf(&b, "iisbridge_index_files_total{event=\"%s\"} %d\n", label(k), c[k])
		}
	}
	b.WriteString("# HELP iisbridge_http_requests_total HTTP requests by route template and status.\n# TYPE iisbridge_http_requests_total counter\n")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "iisbridge_http_requests_total{route=\"%s\",code=\"%s\"} %d\n", label(k[0]), k[1], m.requests[k])
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

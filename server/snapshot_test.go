package server

import (
	"context"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/pipeline"
)

// snapshotExporter reads "a database" whose snapshot time it reports
// (pipeline.SnapshotSink), as a relational source does.
type snapshotExporter struct {
	*fakeExporter
	at time.Time
}

func (s *snapshotExporter) Export(ctx context.Context, q pipeline.Query, sink pipeline.Sink) error {
	if ss, ok := sink.(pipeline.SnapshotSink); ok {
		ss.Snapshot(s.at)
	}
	return s.fakeExporter.Export(ctx, q, sink)
}

// The manifest's transactionTime is the snapshot the exporter read when it
// says so (a database's clock), not the job's start.
func TestTransactionTimeFromSnapshot(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)
	h := newHarness(t, func(o *Options) { o.Exporter = &snapshotExporter{fakeExporter: &fakeExporter{}, at: at} })
	m := h.done(h.accepted(h.kick("/$export", "")))
	if m.TransactionTime != "2026-03-04T05:06:07.891Z" {
		t.Errorf("transactionTime %s, want the snapshot's 2026-03-04T05:06:07.891Z", m.TransactionTime)
	}
}

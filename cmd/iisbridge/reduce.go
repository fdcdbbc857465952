package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/pipeline"
)

// writerSink sends an export to convert's writer: resources and
// OperationOutcomes alike; deletions only exist for _since exports.
type writerSink struct {
	w      resourceWriter
	counts map[string]int64
	bar    *meter
	kinds  *issueKinds
	// issues written, by severity: the summary counts what the
	// OperationOutcome file holds
	warnings, errors int64
}

// Progress is pipeline.ProgressSink: persons sent of the total.
func (s *writerSink) Progress(done, total int64) { s.bar.set(done, total) }

func (s *writerSink) Resource(r *fhirout.Object) error {
	s.counts[r.ResourceType()]++
	return s.w.Write(r)
}
func (s *writerSink) Deleted(string, string, time.Time) error { return nil }

// ReleasesObjects: each object is written before Resource or Issue
// returns (pipeline.ReleasingSink). What outlives the call is counts, by
// resource type (the mapping's strings) and by issue kind (strings
// issueKinds makes) and rule (a mapping's issue, never made in the
// person's memory: mapping.Memory).
func (s *writerSink) ReleasesObjects() {}
func (s *writerSink) Issue(oo *fhirout.Object) error {
	s.counts["OperationOutcome"]++
	s.kinds.add(oo)
	v, _ := oo.Get("issue")
	list, _ := v.([]any)
	for _, is := range list {
		o, _ := is.(*fhirout.Object)
		if o == nil {
			continue
		}
		switch sev, _ := o.Get("severity"); sev {
		case "warning", "information":
			s.warnings++
		default:
			s.errors++
		}
	}
	return s.w.Write(oo)
}

// reduceConvert is convert's default mode: the archive goes through the
// same index and identity/history reduction as the server's $export, so
// the output has one Patient per person and one Immunization per dose in
// its latest state. The index lives in dataDir, or in a temporary
// directory removed afterwards when dataDir is "". It keeps no membership
// ledger (Groups): a server that opens dataDir later builds it.
func reduceConvert(ctx context.Context, paths []string, m *mapping.Mapping, dataDir string, w resourceWriter,
	dw *fhirout.DirWriter, sw *fhirout.StreamWriter, summary, stderr io.Writer) int {
	scratch := dataDir == ""
	if scratch {
		tmp, err := os.MkdirTemp("", "iisbridge-convert-")
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	}
	lock, err := lockDataDir(dataDir, "convert")
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
		return 1
	}
	defer lock.release()
	t0 := time.Now()
	bar := newMeter(stderr, "indexing", "bytes")
	p, idx, err := openPipeline(archiveSetup{IndexDir: indexDir(dataDir), Progress: bar.set, NoLedger: true, Scratch: scratch}, m, pipeline.Options{Paths: paths})
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
		return 1
	}
	defer p.Close()
	ust, err := p.Update(ctx)
	bar.finish()
	if ctx.Err() != nil {
		return discardPartial(dw, sw, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
		return 1
	}
	t1 := time.Now()
	ebar := newMeter(stderr, "converting", "persons")
	sink := &writerSink{w: w, counts: map[string]int64{}, bar: ebar, kinds: newIssueKinds()}
	werr := p.Export(ctx, pipeline.Query{SourceIssues: true}, sink)
	ebar.finish()
	if ctx.Err() != nil {
		return discardPartial(dw, sw, stderr)
	}
	files, cerr := closeOutput(dw, sw)
	werr = errors.Join(werr, cerr)
	st := p.Stats()
	snap, err := idx.Snapshot(ctx)
	if err == nil {
		c, _ := snap.Counts(ctx)
		snap.Close()
		fmt.Fprintf(summary, "indexed %d record(s) from %d file(s) in %s (%d new this run): %d person message(s), %d quer(ies), %d candidate/no-match answer(s), %d skipped (other types), %d broken input(s), %d warning(s)\n",
			c.Records, c.Files, t1.Sub(t0).Round(time.Millisecond), ust.Messages, c.Person, c.Queries, c.Candidates, c.Skipped, c.Errors, c.Warnings+c.Warned)
	}
	fmt.Fprintf(summary, "reduced %d person message(s) (%d unreadable) to %d Patient(s) and %d Immunization(s) from %d dose record(s); %d unmatched deletion(s); %d OperationOutcome(s) in %s\n",
		st.Messages, st.ReadErrors, st.Patients, st.Immunizations, st.DoseRecords, st.UnseenDeletes, st.Issues, time.Since(t1).Round(time.Millisecond))
	printWritten(summary, sink.counts, sink.warnings, sink.errors, files)
	sink.kinds.print(summary)
	if werr != nil {
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", werr)
		return 1
	}
	return 0
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/ordered"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// directConvert is `convert --no-reduce`: every message on its own, read →
// parse → map → JSON → write, with no index and no identity/history
// reduction (a Patient per message). rd reads the archive; the resources
// go to w (dw or sw) and the in = out account to summary.
func directConvert(ctx context.Context, rd *v2archive.Reader, m *mapping.Mapping, w resourceWriter,
	dw *fhirout.DirWriter, sw *fhirout.StreamWriter, summary, stderr io.Writer) int {
	st := &convertStats{skipped: map[string]int{}, resources: map[string]int64{}}
	kinds := newIssueKinds() // records per warning kind, after the summary
	progress := newMeter(stderr, "converting", "bytes")

	// read → parse → map → JSON → write: the reader on a goroutine of its
	// own, parsing, mapping and encoding on every core, results written
	// in archive order (ordered.Run). Messages go to the workers in batches (a
	// message is tens of µs of work: one hand-off each would cost more
	// than it spreads on a busy machine); at most a window of batches is
	// in flight, so memory stays flat whatever the archive size.
	workers := runtime.GOMAXPROCS(0)
	appliers := make([]*mapping.Applier, max(workers, 1))
	parsers := make([]hl7v2.Parser, len(appliers))
	for i := range appliers {
		// A worker encodes a message's resources before it parses and
		// maps the next, so its parser and Applier recycle their memory.
		appliers[i] = m.NewApplier()
		appliers[i].ReuseOutput()
	}
	// emit writes one message's resources and issues, in archive order.
	emit := func(r *convertResult, json []byte) error {
		if r.progress > 0 {
			progress.set(r.progress, 0)
		}
		st.messages += r.messages
		st.unparsed += r.unparsed
		st.inputErrs += r.inputErrs
		start := r.json
		for _, l := range r.lines {
			if err := w.WriteLine(l.typ, json[start:l.end]); err != nil {
				return err
			}
			start = l.end
			st.resources[l.typ]++
		}
		switch {
		case r.skipped != "":
			st.skipped[r.skipped]++
		case len(r.lines) > 0:
			st.converted++
		case r.mapped:
			st.rejected++
		}
		if r.oo != nil {
			st.warnings += r.warnings
			st.errors += r.errors
			kinds.add(r.oo)
			if err := w.Write(r.oo); err != nil {
				return err
			}
			st.resources["OperationOutcome"]++
		}
		return nil
	}
	// Batches go round: the writer hands each back for the reader to
	// fill again, so their buffers are allocated once per run.
	free := make(chan *convertBatch, ordered.Window*workers+2)
	var readErr error
	werr := ordered.Run(ctx, workers,
		func(submit func(*convertBatch) error) error {
			var b *convertBatch
			for {
				it, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					readErr = err
					return err
				}
				if b == nil {
					select {
					case b = <-free:
						b.reset()
					default:
						b = &convertBatch{}
					}
				}
				ci := convertItem{loc: it.Loc, err: it.Err, start: len(b.data)}
				if len(it.Warnings) > 0 {
					ci.warnings = slices.Clone(it.Warnings)
				}
				b.data = append(b.data, it.Data...)
				ci.end = len(b.data)
				if it.Data != nil {
					ci.isMsg = true
				}
				if c := rd.Counts(); (c.Messages+c.Errors)%256 == 0 {
					ci.progress = c.Bytes
				}
				b.items = append(b.items, ci)
				if len(b.data) >= convertBatchBytes || len(b.items) >= convertBatchItems {
					if err := submit(b); err != nil {
						return err
					}
					b = nil
				}
			}
			if b != nil {
				return submit(b)
			}
			return nil
		},
		func(_ context.Context, worker int, b *convertBatch) *convertBatch {
			for _, ci := range b.items {
				b.res = append(b.res, convertOne(&parsers[worker], appliers[worker], ci, b))
			}
			return b
		},
		func(b *convertBatch) error {
			for i := range b.res {
				if err := emit(&b.res[i], b.json); err != nil {
					return err
				}
			}
			select {
			case free <- b:
			default:
			}
			return nil
		})
	switch {
	case ctx.Err() != nil:
		progress.finish()
		return discardPartial(dw, sw, stderr)
	case readErr != nil:
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", readErr)
		return 1
	}
	progress.finish()
	c := rd.Counts()
	st.bytes, st.inputFiles = c.Bytes, c.Files

	files, cerr := closeOutput(dw, sw)
	werr = errors.Join(werr, cerr)
	st.print(summary, files)
	kinds.print(summary)
	if werr != nil {
		fmt.Fprintf(stderr, "iisbridge convert: writing output: %v\n", werr)
		return 1
	}
	return 0
}

// convertStats is the in = out account of one run: every message read is
// converted, skipped (counted by type) or reported in OperationOutcome.
type convertStats struct {
	messages   int            // message items read
	converted  int            // gave at least one resource
	rejected   int            // gave issues but no resource
	skipped    map[string]int // gave nothing: message type → count
	unparsed   int            // messages hl7v2 could not parse
	inputErrs  int            // stretches of broken input (not messages)
	resources  map[string]int64
	warnings   int
	errors     int
	bytes      int64
	inputFiles int
}

func (st *convertStats) print(w io.Writer, files []fhirout.FileInfo) {
	fmt.Fprintf(w, "read %d message(s) from %d input(s), %s\n", st.messages, st.inputFiles, humanBytes(st.bytes))
	fmt.Fprintf(w, "  converted: %d\n", st.converted)
	if st.rejected > 0 {
		fmt.Fprintf(w, "  rejected (every resource had an error): %d\n", st.rejected)
	}
	skipped := 0
	for _, n := range st.skipped {
		skipped += n
	}
	fmt.Fprintf(w, "  skipped: %d", skipped)
	for _, k := range sortedKeys(st.skipped) {
		fmt.Fprintf(w, ", no mapping for %s: %d", k, st.skipped[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  unparsable: %d\n", st.unparsed)
	fmt.Fprintf(w, "broken input (not messages): %d\n", st.inputErrs)
	printWritten(w, st.resources, int64(st.warnings), int64(st.errors), files)
}

// convertBatch is a run of archive items on its way through a worker:
// the messages copied out of the reader (its buffers are reused by the
// next item), then what the worker made of them.
type convertBatch struct {
	data  []byte // the messages, one after another
	items []convertItem
	json  []byte // the resources, encoded by the worker
	res   []convertResult
}

func (b *convertBatch) reset() {
	clear(b.items)
	clear(b.res) // no OperationOutcome of the last batch stays reachable
	b.data, b.items, b.json, b.res = b.data[:0], b.items[:0], b.json[:0], b.res[:0]
	// A batch that held a huge message does not keep its room.
	if cap(b.data) > 4*convertBatchBytes {
		b.data = nil
	}
	if cap(b.json) > 16*convertBatchBytes {
		b.json = nil
	}
}

// A batch for a worker ends after this many bytes or messages.
const (
	convertBatchBytes = 64 << 10
	convertBatchItems = 64
)

// convertItem is one item of the archive.
type convertItem struct {
	loc        sources.Location
	err        error
	warnings   []string
	isMsg      bool
	start, end int   // the message in its batch's data
	progress   int64 // input bytes read so far, every 256 items (else 0)
}

// convertResult is what a worker made of one item, for the writer.
type convertResult struct {
	json      int             // where its resources start in the batch's json
	lines     []lineEnd       // where each resource ends there
	oo        *fhirout.Object // the item's issues, if any
	warnings  int             // issues of severity warning or information
	errors    int             // the other issues
	messages  int             // 1 for a message, parsed or not
	unparsed  int
	inputErrs int
	mapped    bool   // parsed and mapped
	skipped   string // mapped to nothing and no issue: its message type
	progress  int64
}

type lineEnd struct {
	typ string
	end int
}

// convertOne parses and maps one item of batch b with a worker's parser
// and Applier, encoding the resources into b.json.
func convertOne(p *hl7v2.Parser, a *mapping.Applier, ci convertItem, b *convertBatch) convertResult {
	r := convertResult{progress: ci.progress, json: len(b.json)}
	var issues []fhirout.Issue
	for _, wmsg := range ci.warnings {
		issues = append(issues, inputIssue("warning", "structure", wmsg, ci.loc))
	}
	var msg *hl7v2.Message
	switch {
	case ci.err != nil:
		r.inputErrs++
		issues = append(issues, inputIssue("error", "structure", "not a message: "+ci.err.Error(), ci.loc))
	case ci.isMsg:
		var err error
		msg, err = p.Parse(b.data[ci.start:ci.end])
		r.messages++
		if err != nil {
			r.unparsed++
			issues = append(issues, inputIssue("error", "structure", "message not parsed: "+err.Error(), ci.loc))
		}
	}
	if msg != nil {
		for _, wmsg := range msg.Warnings() {
			issues = append(issues, inputIssue("warning", "structure", wmsg, ci.loc))
		}
		out := a.Apply(mapping.Input{Msg: msg, Loc: ci.loc}, false)
		r.mapped = true
		if len(out.Resources) > 0 {
			r.lines = make([]lineEnd, len(out.Resources))
		}
		for i, res := range out.Resources {
			b.json = res.AppendJSON(b.json)
			r.lines[i] = lineEnd{res.ResourceType(), len(b.json)}
		}
		issues = append(issues, out.Issues...)
		if len(out.Resources) == 0 && len(out.Issues) == 0 {
			code, trig, _ := msg.Type()
			r.skipped = strings.TrimSpace(code) + "^" + strings.TrimSpace(trig)
		}
	}
	if len(issues) > 0 {
		for _, is := range issues {
			switch is.Severity {
			case "warning", "information":
				r.warnings++
			default:
				r.errors++
			}
		}
		r.oo = fhirout.OperationOutcome(issues...)
	}
	return r
}

func inputIssue(severity, code, msg string, loc sources.Location) fhirout.Issue {
	return fhirout.Issue{Severity: severity, Code: code, Diagnostics: msg,
		Input: &fhirout.Input{Source: loc.Source, Offset: loc.Offset, Line: loc.Line, Index: loc.Index, ControlID: loc.ControlID}}
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:    "convert",
		Flags:   func(fs *flag.FlagSet) { convertFlags(fs) },
		Usage:   "[--mapping FILE] [--out DIR|-] [--max-resources N] [--data DIR] [--no-reduce] PATH...",
		Short:   "convert v2 message archives to FHIR NDJSON (Patient, Immunization, OperationOutcome for problems)",
		Run:     func(args []string) int { return convertCmd(args, os.Stdout, os.Stderr) },
		Streams: true,
	})
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

// resourceWriter is what convert writes to: a DirWriter or a StreamWriter.
type resourceWriter interface{ Write(*fhirout.Object) error }

func convertCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mapFile, outDir, maxRes, noReduce, dataDir := convertFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge convert [--mapping FILE] [--out DIR|-] [--max-resources N] [--data DIR] [--no-reduce] PATH...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	m, ok := loadMapping(*mapFile, stderr)
	if !ok {
		return 1
	}
	rd, err := v2archive.Open(fs.Args(), v2archive.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
		return 1
	}
	defer rd.Close()

	var w resourceWriter
	var dw *fhirout.DirWriter
	var sw *fhirout.StreamWriter
	if *outDir == "-" {
		sw = fhirout.NewStreamWriter(stdout)
		w = sw
	} else {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
			return 1
		}
		dw, err = fhirout.NewDirWriter(*outDir, fhirout.RotateOptions{MaxResources: *maxRes})
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
			return 1
		}
		w = dw
	}
	// The summary is the result: on stdout, unless stdout carries the
	// NDJSON itself.
	summary := stdout
	if sw != nil {
		summary = stderr
	}
	ctx := cmdContext()
	if !*noReduce {
		// Default: the same index + reduction as $export (reduce.go).
		return reduceConvert(ctx, fs.Args(), m, *dataDir, w, dw, sw, summary, stderr)
	}
	st := &convertStats{skipped: map[string]int{}, resources: map[string]int64{}}
	kinds := newIssueKinds() // records per warning kind, after the summary
	progress := newMeter(stderr, "converting", "bytes")

	// The loop: read → parse → map → write. One message at a time, so
	// memory stays flat whatever the archive size.
	var werr error
	for werr == nil {
		if ctx.Err() != nil {
			progress.finish()
			return discardPartial(dw, sw, stderr)
		}
		it, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
			return 1
		}
		var issues []fhirout.Issue
		for _, wmsg := range it.Warnings {
			issues = append(issues, inputIssue("warning", "structure", wmsg, it.Loc))
		}
		var msg *hl7v2.Message
		switch {
		case it.Err != nil:
			st.inputErrs++
			issues = append(issues, inputIssue("error", "structure", "not a message: "+it.Err.Error(), it.Loc))
		case it.Data != nil:
			msg, err = hl7v2.Parse(it.Data)
			if err != nil {
				st.unparsed++
				st.messages++
				issues = append(issues, inputIssue("error", "structure", "message not parsed: "+err.Error(), it.Loc))
			}
		}
		if msg != nil {
			st.messages++
			for _, wmsg := range msg.Warnings() {
				issues = append(issues, inputIssue("warning", "structure", wmsg, it.Loc))
			}
			out := m.Apply(mapping.Input{Msg: msg, Loc: it.Loc}, false)
			for _, r := range out.Resources {
				if werr = w.Write(r); werr != nil {
					break
				}
				st.resources[r.ResourceType()]++
			}
			issues = append(issues, out.Issues...)
			switch {
			case len(out.Resources) > 0:
				st.converted++
			case len(out.Issues) > 0:
				st.rejected++
			default:
				code, trig, _ := msg.Type()
				st.skipped[strings.TrimSpace(code)+"^"+strings.TrimSpace(trig)]++
			}
		}
		if len(issues) > 0 && werr == nil {
			for _, is := range issues {
				switch is.Severity {
				case "warning", "information":
					st.warnings++
				default:
					st.errors++
				}
			}
			oo := fhirout.OperationOutcome(issues...)
			kinds.add(oo)
			werr = w.Write(oo)
			st.resources["OperationOutcome"]++
		}
		if c := rd.Counts(); (c.Messages+c.Errors)%256 == 0 {
			progress.set(c.Bytes, 0)
		}
	}
	progress.finish()
	c := rd.Counts()
	st.bytes, st.inputFiles = c.Bytes, c.Files

	var files []fhirout.FileInfo
	if dw != nil {
		var cerr error
		files, cerr = dw.Close()
		werr = errors.Join(werr, cerr)
	} else {
		werr = errors.Join(werr, sw.Flush())
	}
	st.print(summary, files)
	kinds.print(summary)
	if werr != nil {
		fmt.Fprintf(stderr, "iisbridge convert: writing output: %v\n", werr)
		return 1
	}
	return 0
}

func inputIssue(severity, code, msg string, loc sources.Location) fhirout.Issue {
	return fhirout.Issue{Severity: severity, Code: code, Diagnostics: msg,
		Input: &fhirout.Input{Source: loc.Source, Offset: loc.Offset, Line: loc.Line, Index: loc.Index, ControlID: loc.ControlID}}
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
	fmt.Fprintf(w, "resources:")
	for _, k := range sortedKeys(st.resources) {
		fmt.Fprintf(w, " %s %d", k, st.resources[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "issues: %d warning(s), %d error(s)\n", st.warnings, st.errors)
	for _, f := range files {
		fmt.Fprintf(w, "wrote %s (%d lines, %s)\n", f.Path, f.Count, humanBytes(f.Bytes))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// discardPartial ends an interrupted convert: files written to a folder
// are removed (a partial NDJSON file must not pass for a result); on
// standard output the stream is cut, and stderr says so.
func discardPartial(dw *fhirout.DirWriter, sw *fhirout.StreamWriter, stderr io.Writer) int {
	if dw != nil {
		files, _ := dw.Close()
		for _, f := range files {
			os.Remove(f.Path)
		}
		fmt.Fprintf(stderr, "iisbridge convert: interrupted; removed %d partial output file(s)\n", len(files))
	} else {
		sw.Flush()
		fmt.Fprintln(stderr, "iisbridge convert: interrupted; the NDJSON on standard output is INCOMPLETE")
	}
	return 1
}

// convertFlags defines the flags of `iisbridge convert` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func convertFlags(fs *flag.FlagSet) (mapFile, outDir *string, maxRes *int64, noReduce *bool, dataDir *string) {
	mapFile = fs.String("mapping", "", "mapping `file` (default: the shipped VXU/RSP mapping)")
	outDir = fs.String("out", "out", "output `dir`ectory, or - for NDJSON on standard output")
	maxRes = fs.Int64("max-resources", 0, "start a new file after `N` resources of a type (0: no limit)")
	noReduce = fs.Bool("no-reduce", false, "convert message by message (no identity/history reduction: a Patient per message)")
	dataDir = fs.String("data", "", "data `dir`ectory whose index/ the reduction uses (default: a temporary one, removed afterwards)")
	return
}

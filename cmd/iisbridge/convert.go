package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:    "convert",
		Flags:   func(fs *flag.FlagSet) { convertFlags(fs) },
		Usage:   "[--mapping FILE] [--out DIR|-] [--max-resources N] [--data DIR] [--no-reduce] [--cpuprofile FILE] PATH...",
		Short:   "convert v2 message archives to FHIR NDJSON (a file per resource type the mapping emits, OperationOutcome for problems)",
		Run:     func(args []string) int { return convertCmd(args, os.Stdout, os.Stderr) },
		Streams: true,
		Offline: true,
	})
}

// resourceWriter is what convert writes to: a DirWriter or a StreamWriter.
type resourceWriter interface {
	Write(*fhirout.Object) error
	WriteLine(t string, line []byte) error
}

// convertCmd sets a convert up (flags, mapping, profile, output) and runs
// one of its two modes: the reduction (reduce.go) or, with --no-reduce,
// message by message (convert_direct.go).
func convertCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mapFile, outDir, maxRes, noReduce, dataDir, cpuProfile := convertFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge convert [--mapping FILE] [--out DIR|-] [--max-resources N] [--data DIR] [--no-reduce] [--cpuprofile FILE] PATH...")
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
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge convert: %v\n", err)
		return 1
	}
	defer stopProfile()
	// Open checks the paths (a bad pattern) before any output is made, in
	// either mode; the direct mode reads through it.
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
		// Default: the same index + reduction as $export.
		return reduceConvert(ctx, fs.Args(), m, *dataDir, w, dw, sw, summary, stderr)
	}
	return directConvert(ctx, rd, m, w, dw, sw, summary, stderr)
}

// printWritten ends a convert's summary, the same in both modes: the
// resources written by type as the mapping names them (on standard output
// no file line says how many of a type there are), the issues by
// severity, and the files.
func printWritten(w io.Writer, resources map[string]int64, warnings, errors int64, files []fhirout.FileInfo) {
	fmt.Fprintf(w, "resources:")
	for _, k := range sortedKeys(resources) {
		fmt.Fprintf(w, " %s %d", k, resources[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "issues: %d warning(s), %d error(s)\n", warnings, errors)
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

// closeOutput ends a finished convert's output: the folder's files, closed
// and listed, or standard output flushed.
func closeOutput(dw *fhirout.DirWriter, sw *fhirout.StreamWriter) ([]fhirout.FileInfo, error) {
	if dw != nil {
		return dw.Close()
	}
	return nil, sw.Flush()
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
func convertFlags(fs *flag.FlagSet) (mapFile, outDir *string, maxRes *int64, noReduce *bool, dataDir, cpuProfile *string) {
	mapFile = fs.String("mapping", "", "mapping `file` (default: the shipped VXU/RSP mapping)")
	outDir = fs.String("out", "out", "output `dir`ectory, or - for NDJSON on standard output")
	maxRes = fs.Int64("max-resources", 0, "start a new file after `N` resources of a type (0: no limit)")
	noReduce = fs.Bool("no-reduce", false, "convert message by message (no identity/history reduction: a Patient per message)")
	dataDir = fs.String("data", "", "data `dir`ectory whose index/ the reduction uses (default: a temporary one, removed afterwards)")
	cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of the run (indexing included) to this `file`")
	return
}

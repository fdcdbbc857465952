package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:  "mapping check",
		Flags: func(fs *flag.FlagSet) { addSQLFlags(fs) },
		Usage: "FILE | [FILE] (--config SERVER.yaml [--source NAME] | --source DESCRIPTION | --dsn DSN) [--driver D]",
		Short: "validate a mapping file and its tables (with a relational source: its tables and columns in the live database); list every problem with file:line:column",
		Run:   func(args []string) int { return mappingCheck(args, os.Stdout, os.Stderr) },
	})
	register(&command{
		Name:  "mapping preview",
		Flags: func(fs *flag.FlagSet) { mappingPreviewFlags(fs) },
		Usage: "[--mapping FILE] [--index N] [--wide] [--trace-only] MESSAGE.hl7 | [--mapping FILE] (--config SERVER.yaml [--source NAME] | --source DESCRIPTION | --dsn DSN) [--driver D] --key K",
		Short: "show the FHIR resources one message (or one person of a relational source) becomes, and which rule and source value made each element",
		Run:   func(args []string) int { return mappingPreview(args, os.Stdout, os.Stderr) },
	})
	register(&command{
		Name:  "mapping docs",
		Usage: "",
		Short: "print the mapping functions, table policies and the default mapping's choices as Markdown",
		Run: func(args []string) int {
			fmt.Print(mapping.Docs())
			return 0
		},
	})
}

func mappingCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mapping check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSQLFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge mapping check FILE\n       iisbridge mapping check [FILE] (--config SERVER.yaml [--source NAME] | --source DESCRIPTION | --dsn DSN) [--dsn DSN] [--driver D]")
		fmt.Fprintln(stderr, "\nWith a relational source, the source description is checked against the database, and")
		fmt.Fprintln(stderr, "the mapping's tables and columns (FILE, else the config source's mapping, else the shipped")
		fmt.Fprintln(stderr, "relational mapping) against both.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 || fs.NArg() == 0 && !src.set() {
		fs.Usage()
		return 2
	}
	if src.set() {
		return mappingCheckSQL(fs.Arg(0), src, stdout, stderr)
	}
	m, err := mapping.Load(fs.Arg(0))
	if err != nil {
		var ce *mapping.CheckError
		if errors.As(err, &ce) {
			printProblems(stdout, ce.Problems)
			fmt.Fprintf(stderr, "%d problem(s)\n", len(ce.Problems))
			return 1
		}
		fmt.Fprintf(stderr, "iisbridge mapping check: %v\n", err)
		return 1
	}
	res, rules := m.Stats()
	fmt.Fprintf(stdout, "ok: %d resources, %d rules\n", res, rules)
	return 0
}

// loadMapping returns the message mapping at path, or the default when
// path is "". A relational mapping (source: sql) is refused: these
// commands read messages.
func loadMapping(path string, stderr io.Writer) (*mapping.Mapping, bool) {
	if path == "" {
		return mapping.Default(), true
	}
	m, ok := loadAnyMapping(path, stderr)
	if ok && m.Source() != "v2" {
		fmt.Fprintf(stderr, "iisbridge: mapping %s maps a relational source (source: %s), not messages: preview it with mapping preview --source DESCRIPTION --key K\n", path, m.Source())
		return nil, false
	}
	return m, ok
}

// loadAnyMapping loads a mapping file of any source, its problems
// printed.
func loadAnyMapping(path string, stderr io.Writer) (*mapping.Mapping, bool) {
	m, err := mapping.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge: mapping %s is not usable:\n", path)
		var ce *mapping.CheckError
		if errors.As(err, &ce) {
			printProblems(stderr, ce.Problems)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return nil, false
	}
	return m, true
}

func mappingPreview(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mapping preview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mapFile, index, wide, traceOnly, src, key := mappingPreviewFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge mapping preview [--mapping FILE] [--index N] [--wide] [--trace-only] MESSAGE.hl7")
		fmt.Fprintln(stderr, "       iisbridge mapping preview [--mapping FILE] [--wide] [--trace-only] (--config SERVER.yaml [--source NAME] | --source DESCRIPTION | --dsn DSN) --key K")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if src.set() {
		if *key == "" || fs.NArg() != 0 {
			fs.Usage()
			return 2
		}
		return mappingPreviewSQL(*mapFile, src, *key, previewOptions{wide: *wide, traceOnly: *traceOnly}, stdout, stderr)
	}
	if fs.NArg() != 1 || *index < 1 {
		fs.Usage()
		return 2
	}
	m, ok := loadMapping(*mapFile, stderr)
	if !ok {
		return 1
	}
	rd, err := v2archive.Open([]string{fs.Arg(0)}, v2archive.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping preview: %v\n", err)
		return 1
	}
	defer rd.Close()
	n := 0
	for {
		it, err := rd.Next()
		if err == io.EOF {
			fmt.Fprintf(stderr, "iisbridge mapping preview: %s holds %d record(s), not %d\n", fs.Arg(0), n, *index)
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge mapping preview: %v\n", err)
			return 1
		}
		if it.Err == nil && it.Data == nil {
			continue // warnings only
		}
		if n++; n < *index {
			continue
		}
		if it.Err != nil {
			fmt.Fprintf(stderr, "%s: not a message: %v\n", it.Loc, it.Err)
			return 1
		}
		msg, err := hl7v2.Parse(it.Data)
		if err != nil {
			fmt.Fprintf(stderr, "%s: message not parsed: %v\n", it.Loc, err)
			return 1
		}
		code, trig, _ := msg.Type()
		fmt.Fprintf(stdout, "Message %s^%s at %s\n", code, trig, it.Loc)
		out := m.Apply(mapping.Input{Msg: msg, Loc: it.Loc}, true)
		printPreview(stdout, out, code+"^"+trig, previewOptions{wide: *wide, traceOnly: *traceOnly, rules: newRuleText(m)})
		return 0
	}
}

func printPreview(w io.Writer, out mapping.Output, msgType string, opt previewOptions) {
	if len(out.Resources) == 0 && len(out.Issues) == 0 {
		fmt.Fprintf(w, "\nno resources: the mapping does not cover %s\n", msgType)
		return
	}
	// Resources, each followed by the trace of its elements.
	shown := map[string]bool{}
	for _, r := range out.Resources {
		ref := r.ResourceType() + "/" + r.ID()
		fmt.Fprintf(w, "\n=== %s\n", ref)
		shown[ref] = true
		if opt.traceOnly {
			printTrace(w, out.Trace, ref, opt)
			continue
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, r.AppendJSON(nil), "", "  "); err != nil {
			buf.Reset()
			buf.Write(r.AppendJSON(nil))
		}
		buf.WriteByte('\n')
		w.Write(buf.Bytes())
		printTrace(w, out.Trace, ref, opt)
	}
	// Rejected resources: what was built before the rejection.
	for _, t := range out.Trace {
		if !shown[t.Resource] {
			shown[t.Resource] = true
			fmt.Fprintf(w, "\n=== %s: not emitted\n", t.Resource)
			printTrace(w, out.Trace, t.Resource, opt)
		}
	}
	if len(out.Issues) > 0 {
		fmt.Fprintf(w, "\n=== Issues (%d)\n", len(out.Issues))
		for _, is := range out.Issues {
			fmt.Fprintf(w, "%-7s %-12s %s\n", is.Severity, is.Code, is.Diagnostics)
			var where []string
			if len(is.Expression) > 0 {
				where = append(where, "element "+strings.Join(is.Expression, ", "))
			}
			if is.Input != nil && is.Input.Field != "" {
				where = append(where, "source "+is.Input.Field)
			}
			if is.Rule != "" {
				where = append(where, "rule "+is.Rule)
			}
			if len(where) > 0 {
				fmt.Fprintf(w, "        %s\n", strings.Join(where, "; "))
			}
		}
	}
}

func printTrace(w io.Writer, trace []mapping.Trace, ref string, opt previewOptions) {
	value := func(v string) string {
		if opt.wide {
			return v
		}
		return clip(v, 48)
	}
	if opt.traceOnly {
		// One line per element: ELEMENT = VALUE  <- SOURCE  RULE.
		for _, t := range trace {
			if t.Resource == ref {
				fmt.Fprintf(w, "%s = %s  <- %s  %s\n", t.Element, value(t.Value), opt.source(t), t.Rule)
			}
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "--- trace\nELEMENT\tVALUE\tFROM\tRULE\n")
	for _, t := range trace {
		if t.Resource != ref {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Element, value(t.Value), opt.source(t), t.Rule)
	}
	tw.Flush()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// mappingPreviewFlags defines the flags of `iisbridge mapping preview` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func mappingPreviewFlags(fs *flag.FlagSet) (mapFile *string, index *int, wide, traceOnly *bool, src sqlFlags, key *string) {
	mapFile = fs.String("mapping", "", "mapping `file` (default: the shipped VXU/RSP mapping, or with a relational source the source's)")
	index = fs.Int("index", 1, "preview the `N`-th message of the file")
	wide = fs.Bool("wide", false, "print values in full (default: values longer than 48 characters are cut)")
	traceOnly = fs.Bool("trace-only", false, "print only the trace, one line per element (no resource JSON)")
	src = addSQLFlags(fs)
	key = fs.String("key", "", "with a relational source: the person `key` (the persons table's key) to preview")
	return
}

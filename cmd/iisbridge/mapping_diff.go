package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/iisbridge/iisbridge/mapping/mapdiff"
)

func init() {
	register(&command{
		Name:  "mapping diff",
		Flags: func(fs *flag.FlagSet) { mappingDiffFlags(fs) },
		Usage: "[--base default|FILE] --mapping FILE [--sample N] [--seed S] [--json] PATH...",
		Short: "before a mapping change goes live: what it changes across a sample of real messages",
		Long: `Maps a sample of the messages under PATH (files, folders, globs, - for standard
input) with the base mapping (the live one; default: the shipped mapping) and with
the draft given by --mapping, and prints which FHIR elements and values change,
which resources appear or vanish, and which warnings and errors appear or
disappear, with counts and one example each (its place in the archive).
The sample is drawn uniformly from the whole archive with a seeded generator: the
same archive, --sample and --seed give the same sample. Values shown come from
your archive: treat the output as you treat the archive.`,
		Run: func(args []string) int { return mappingDiff(args, os.Stdout, os.Stderr) },
	})
}

func mappingDiff(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mapping diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	basePath, draftPath, n, seed, asJSON := mappingDiffFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge mapping diff [--base default|FILE] --mapping FILE [--sample N] [--seed S] [--json] PATH...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *draftPath == "" || fs.NArg() == 0 || *n < 1 {
		fs.Usage()
		return 2
	}
	basePathArg := *basePath
	if basePathArg == "default" {
		basePathArg = ""
	}
	base, ok := loadMapping(basePathArg, stderr)
	if !ok {
		return 1
	}
	draft, ok := loadMapping(*draftPath, stderr)
	if !ok {
		return 1
	}
	ctx := cmdContext()
	recs, seen, err := mapdiff.Sample(ctx, fs.Args(), *n, *seed)
	if ctx.Err() != nil {
		return 1 // the dispatcher reports the interrupt
	}
	if err != nil {
		fmt.Fprintf(stderr, "iisbridge mapping diff: %v\n", err)
		return 1
	}
	rep := mapdiff.Compare(base, draft, recs)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Base  string `json:"base"`
			Draft string `json:"draft"`
			Read  int    `json:"read"`
			Seed  uint64 `json:"seed"`
			*mapdiff.Report
		}{*basePath, *draftPath, seen, *seed, rep}); err != nil {
			fmt.Fprintf(stderr, "iisbridge mapping diff: %v\n", err)
			return 1
		}
		return 0
	}
	printDiff(stdout, rep, seen, *seed, *basePath, *draftPath)
	return 0
}

func printDiff(w io.Writer, rep *mapdiff.Report, seen int, seed uint64, base, draft string) {
	fmt.Fprintf(w, "base %s, draft %s\n", base, draft)
	fmt.Fprintf(w, "compared %d of %d message(s) (sample seed %d)", rep.Messages, seen, seed)
	if rep.Unparsed > 0 {
		fmt.Fprintf(w, ", %d not parsed", rep.Unparsed)
	}
	fmt.Fprintf(w, ": %d map differently\n", rep.Changed)
	if rep.Changed == 0 {
		fmt.Fprintln(w, "no difference in resources, elements, values or issues")
		return
	}
	if len(rep.Resources) > 0 {
		fmt.Fprintln(w, "\nresources")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, r := range rep.Resources {
			fmt.Fprintf(tw, "  %s\t+%d appeared\t-%d vanished\n", r.Type, r.Appeared, r.Vanished)
		}
		tw.Flush()
		for _, r := range rep.Resources {
			for _, e := range r.Examples {
				fmt.Fprintf(w, "    e.g. %s at %s\n", e.Resource, e.Where)
			}
		}
	}
	if len(rep.Elements) > 0 {
		fmt.Fprintln(w, "\nelements (resources affected)")
		for _, e := range rep.Elements {
			fmt.Fprintf(w, "  %-8s %s  %d\n", e.Kind, e.Element, e.Count)
			for _, v := range e.Values {
				fmt.Fprintf(w, "             %s → %s  (%d)\n", shownValue(v.Before), shownValue(v.After), v.Count)
			}
			fmt.Fprintf(w, "           e.g. %s at %s\n", e.Example.Resource, e.Example.Where)
		}
	}
	if len(rep.Issues) > 0 {
		fmt.Fprintln(w, "\nissues (+ appear with the draft, - disappear)")
		for _, is := range rep.Issues {
			var counts []string
			if is.Appeared > 0 {
				counts = append(counts, fmt.Sprintf("+%d", is.Appeared))
			}
			if is.Disappeared > 0 {
				counts = append(counts, fmt.Sprintf("-%d", is.Disappeared))
			}
			fmt.Fprintf(w, "  %-7s %-8s %s\n", strings.Join(counts, " "), is.Severity, is.Kind)
			if is.Rule != "" {
				fmt.Fprintf(w, "                   rule %s\n", is.Rule)
			}
			fmt.Fprintf(w, "                   e.g. %s\n", is.Example.Where)
		}
	}
}

func shownValue(s string) string {
	if s == "" {
		return "(none)"
	}
	return fmt.Sprintf("%q", clip(s, 60))
}

// mappingDiffFlags defines the flags of `iisbridge mapping diff` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func mappingDiffFlags(fs *flag.FlagSet) (basePath, draftPath *string, n *int, seed *uint64, asJSON *bool) {
	basePath = fs.String("base", "default", "the live mapping `file`, or default for the shipped one")
	draftPath = fs.String("mapping", "", "the draft mapping `file` (required)")
	n = fs.Int("sample", 1000, "compare `N` messages drawn from the archive")
	seed = fs.Uint64("seed", 1, "seed of the sample: the same `S` gives the same sample")
	asJSON = fs.Bool("json", false, "print the report as JSON")
	return
}

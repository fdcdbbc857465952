package main

// v2 stats and v2 dump: look into message archives before configuring a
// source. Both read through sources/v2archive, so they see exactly what
// the bridge will see.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive"
)

func init() {
	register(&command{
		Name:  "v2 stats",
		Flags: func(fs *flag.FlagSet) { v2StatsFlags(fs) },
		Usage: "[--json] [--encoding E] [--max-errors N] PATH...",
		Short: "count v2 messages by type, sending facility (MSH-4) and year (MSH-7); list broken input",
		Run:   func(args []string) int { return v2Stats(args, os.Stdout, os.Stderr) },
	})
	register(&command{
		Name:  "v2 dump",
		Flags: func(fs *flag.FlagSet) { v2DumpFlags(fs) },
		Usage: "[--path PID-5.1] [--encoding E] PATH...",
		Short: "print each v2 message as one JSON line, or one decoded value per message with --path",
		Run:   func(args []string) int { return v2Dump(args, os.Stdout, os.Stderr) },
	})
}

// v2ParseArgs lets flags come before or after the paths ("--"
// ends the flags).
func v2ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// v2Stats summarises archives. Exit status: 0 when input was read (even
// with broken messages: they are reported), 1 when no input could be
// opened, 2 on usage errors.
func v2Stats(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("v2 stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON, enc, maxList := v2StatsFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: iisbridge v2 stats [--json] [--encoding E] [--max-errors N] PATH...  (PATH: file, directory, glob, - for stdin; gzip detected)")
		fs.PrintDefaults()
	}
	paths, err := v2ParseArgs(fs, args)
	if err != nil {
		return 2
	}
	if len(paths) == 0 {
		fs.Usage()
		return 2
	}
	rd, err := v2archive.Open(paths, v2archive.Options{Encoding: *enc})
	if err != nil {
		fmt.Fprintln(stderr, "iisbridge v2 stats:", err)
		return 2
	}
	defer rd.Close()

	st := newStats(*maxList)
	prog := newStatsProgress(stderr)
	for {
		it, err := rd.Next()
		if err == io.EOF {
			break
		}
		st.add(it)
		prog.tick(rd)
	}
	prog.done()
	c := rd.Counts()
	st.Files, st.Messages, st.Errors, st.Warnings, st.Bytes = c.Files, c.Messages, c.Errors, c.Warnings, c.Bytes

	if *asJSON {
		e := json.NewEncoder(stdout)
		e.SetEscapeHTML(false)
		e.SetIndent("", "  ")
		if err := e.Encode(st); err != nil {
			fmt.Fprintln(stderr, "iisbridge v2 stats:", err)
			return 1
		}
	} else {
		st.writeText(stdout)
	}
	if c.Files == 0 {
		fmt.Fprintln(stderr, "iisbridge v2 stats: no readable input")
		return 1
	}
	return 0
}

// stats is also the --json shape.
type stats struct {
	Files      int            `json:"files"`
	Messages   int            `json:"messages"`
	Bytes      int64          `json:"bytes"`
	Errors     int            `json:"errors"`
	Warnings   int            `json:"warnings"`
	Types      map[string]int `json:"types"`      // MSH-9 code^trigger
	Facilities map[string]int `json:"facilities"` // MSH-4 namespace, else universal id
	Years      map[string]int `json:"years"`      // MSH-7
	ErrorList  []problem      `json:"error_list"` // the first max-errors
	WarnList   []problem      `json:"warning_list"`
	max        int
}

type problem struct {
	Source    string `json:"source"`
	Line      int    `json:"line"`
	Offset    int64  `json:"offset"`
	Index     int    `json:"index"`
	ControlID string `json:"control_id,omitempty"`
	Message   string `json:"message"`
}

func newStats(max int) *stats {
	return &stats{Types: map[string]int{}, Facilities: map[string]int{}, Years: map[string]int{},
		ErrorList: []problem{}, WarnList: []problem{}, max: max}
}

func newProblem(l sources.Location, msg string) problem {
	return problem{Source: l.Source, Line: l.Line, Offset: l.Offset, Index: l.Index, ControlID: l.ControlID, Message: msg}
}

func (st *stats) add(it *v2archive.Item) {
	for _, w := range it.Warnings {
		if len(st.WarnList) < st.max {
			st.WarnList = append(st.WarnList, newProblem(it.Loc, w))
		}
	}
	if it.Err != nil {
		if len(st.ErrorList) < st.max {
			st.ErrorList = append(st.ErrorList, newProblem(it.Loc, it.Err.Error()))
		}
		return
	}
	if it.Header == nil {
		return // warnings only
	}
	msh := it.Header.Segments()[0]
	code, trigger, _ := it.Header.Type()
	typ := code
	if trigger != "" {
		typ += "^" + trigger
	}
	st.Types[orNone(typ)]++
	hd := hl7v2.ParseHD(msh.Field(4).Rep(1))
	fac := hd.Namespace
	if fac == "" {
		fac = hd.UniversalID
	}
	st.Facilities[orNone(fac)]++
	year := "(none)"
	if s := msh.Field(7).Rep(1).String(); s != "" {
		if ts, err := hl7v2.ParseTS(s); err == nil {
			year = strconv.Itoa(ts.Time.Year())
		} else {
			year = "(invalid)"
		}
	}
	st.Years[year]++
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (st *stats) writeText(w io.Writer) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "files     %d\nmessages  %d\nbytes     %d (%.1f MB)\nerrors    %d\nwarnings  %d\n",
		st.Files, st.Messages, st.Bytes, float64(st.Bytes)/1e6, st.Errors, st.Warnings)
	table := func(title string, m map[string]int, byKey bool) {
		if len(m) == 0 {
			return
		}
		keys := make([]string, 0, len(m))
		width := 0
		for k := range m {
			keys = append(keys, k)
			width = max(width, len(k))
		}
		sort.Slice(keys, func(i, j int) bool {
			if !byKey && m[keys[i]] != m[keys[j]] {
				return m[keys[i]] > m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		fmt.Fprintf(bw, "\n%s\n", title)
		for _, k := range keys {
			fmt.Fprintf(bw, "  %-*s  %d\n", width, k, m[k])
		}
	}
	table("by type (MSH-9)", st.Types, false)
	table("by sending facility (MSH-4)", st.Facilities, false)
	table("by year (MSH-7)", st.Years, true)
	list := func(title string, ps []problem, total int) {
		if total == 0 {
			return
		}
		fmt.Fprintf(bw, "\n%s (%d", title, total)
		if len(ps) < total {
			fmt.Fprintf(bw, ", first %d listed", len(ps))
		}
		fmt.Fprintln(bw, ")")
		for _, p := range ps {
			l := sources.Location{Source: p.Source, Line: p.Line, Offset: p.Offset, Index: p.Index, ControlID: p.ControlID}
			fmt.Fprintf(bw, "  %s: %s\n", l, p.Message)
		}
	}
	list("errors", st.ErrorList, st.Errors)
	list("warnings", st.WarnList, st.Warnings)
}

// progress prints a status line on stderr when it is a terminal.
type statsProgress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  time.Time
	n     int
}

func newStatsProgress(w io.Writer) *statsProgress {
	f, ok := w.(*os.File)
	return &statsProgress{w: w, on: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (p *statsProgress) tick(rd *v2archive.Reader) {
	if !p.on {
		return
	}
	if p.n++; p.n%512 != 0 {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	c := rd.Counts()
	mb := float64(c.Bytes) / 1e6
	fmt.Fprintf(p.w, "\r%d files, %d messages, %d errors, %.0f MB, %.0f MB/s ", c.Files, c.Messages, c.Errors, mb, mb/now.Sub(p.start).Seconds())
}

func (p *statsProgress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// v2Dump prints messages. Without --path, one JSON object per line:
//
//	{"loc":{"source":"a.hl7","offset":0,"length":312,"line":1,"index":1,"control_id":"M1"},
//	 "segments":[["MSH","|","^~\\&","APP",...],["PID","1","",{"reps":[["123","","","CLINIC","MR"],...]}, ...]]}
//
// A segment is an array whose element n is field n (element 0 the name).
// A field is its single repetition, or {"reps":[...]} when repeated. A
// repetition is a string, or an array of components when it has several;
// a component is a string, or an array of subcomponent strings. Values are
// decoded (escapes resolved); the explicit null "" is JSON null; empty
// trailing fields, components and subcomponents are left out. Broken input
// gives {"loc":...,"error":"..."}; reader and parser warnings go in
// "warnings".
//
// With --path P, one line per item in input order: the decoded value at
// P ("" when absent); [*] paths print every value, tab-separated. Line
// breaks and tabs inside values become spaces so lines stay aligned with
// items. A broken item prints an empty line and its error on stderr.
func v2Dump(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("v2 dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pathArg, enc := v2DumpFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: iisbridge v2 dump [--path P] [--encoding E] PATH...

One JSON object per message: {"loc":{...},"segments":[...]} where each
segment is [name, field1, field2, ...]; a field is its value, or
{"reps":[...]} when repeated; a value with components is an array of them,
a component with subcomponents an array of strings; values are decoded, ""
(explicit null) is null, empty trailing parts are left out. Broken input:
{"loc":{...},"error":"..."}.
With --path, one line per message (empty when absent or broken; errors go
to stderr), so lines stay aligned with the input.

`)
		fs.PrintDefaults()
	}
	paths, err := v2ParseArgs(fs, args)
	if err != nil {
		return 2
	}
	if len(paths) == 0 {
		fs.Usage()
		return 2
	}
	var path *hl7v2.Path
	if *pathArg != "" {
		p, err := hl7v2.ParsePath(*pathArg)
		if err != nil {
			fmt.Fprintf(stderr, "iisbridge v2 dump: --path: %v\n", err)
			return 2
		}
		path = &p
	}
	rd, err := v2archive.Open(paths, v2archive.Options{Encoding: *enc})
	if err != nil {
		fmt.Fprintln(stderr, "iisbridge v2 dump:", err)
		return 2
	}
	defer rd.Close()
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	je := json.NewEncoder(out)
	je.SetEscapeHTML(false)
	for {
		it, err := rd.Next()
		if err == io.EOF {
			break
		}
		if it.Err == nil && it.Data == nil {
			for _, w := range it.Warnings { // warnings only: no line
				fmt.Fprintf(stderr, "%s: warning: %s\n", it.Loc, w)
			}
			continue
		}
		var msg *hl7v2.Message
		if it.Err == nil {
			if msg, err = hl7v2.Parse(it.Data); err != nil {
				it.Err = err
			}
		}
		if path != nil {
			if it.Err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", it.Loc, it.Err)
				out.WriteString("\n")
				continue
			}
			out.WriteString(pathValue(msg.Segments(), *path))
			out.WriteString("\n")
			continue
		}
		if err := je.Encode(dumpItem(it, msg)); err != nil {
			fmt.Fprintln(stderr, "iisbridge v2 dump:", err)
			return 1
		}
	}
	if rd.Counts().Files == 0 {
		fmt.Fprintln(stderr, "iisbridge v2 dump: no readable input")
		return 1
	}
	return 0
}

var dumpOneLine = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\t", " ")

func pathValue(segs hl7v2.Segments, p hl7v2.Path) string {
	if p.SegOcc >= 0 && p.Rep >= 0 {
		return dumpOneLine.Replace(segs.Value(p).String())
	}
	vals := segs.Values(p)
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = dumpOneLine.Replace(v.String())
	}
	return strings.Join(s, "\t")
}

type dumpLoc struct {
	Source    string `json:"source"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
	Line      int    `json:"line"`
	Index     int    `json:"index"`
	ControlID string `json:"control_id,omitempty"`
}

type dumpOut struct {
	Loc      dumpLoc  `json:"loc"`
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Segments []any    `json:"segments,omitempty"`
}

func dumpItem(it *v2archive.Item, msg *hl7v2.Message) dumpOut {
	l := it.Loc
	d := dumpOut{Loc: dumpLoc{l.Source, l.Offset, l.Length, l.Line, l.Index, l.ControlID}, Warnings: it.Warnings}
	if it.Err != nil {
		d.Error = it.Err.Error()
		return d
	}
	d.Warnings = append(d.Warnings, msg.Warnings()...)
	for _, seg := range msg.Segments() {
		d.Segments = append(d.Segments, dumpSegment(seg))
	}
	return d
}

func dumpSegment(seg hl7v2.Segment) []any {
	out := []any{seg.Name()}
	n := seg.NumFields()
	for i := 1; i <= n; i++ {
		f := seg.Field(i)
		if seg.Name() == "MSH" && i <= 2 {
			out = append(out, string(f.Raw())) // separators, literally
			continue
		}
		out = append(out, dumpField(f))
	}
	return trimEmpty(out, 1)
}

func dumpField(f hl7v2.Field) any {
	switch n := f.NumReps(); n {
	case 0:
		return ""
	case 1:
		return dumpRep(f.Rep(1))
	default:
		reps := make([]any, n)
		for i := range reps {
			reps[i] = dumpRep(f.Rep(i + 1))
		}
		return map[string]any{"reps": reps}
	}
}

func dumpRep(v hl7v2.Value) any {
	if v.IsNull() {
		return nil
	}
	nc := v.NumComponents()
	if nc <= 1 && v.NumSubs() <= 1 {
		return v.String()
	}
	comps := make([]any, nc)
	for i := range comps {
		c := v.Component(i + 1)
		switch {
		case c.IsNull():
			comps[i] = nil
		case c.NumSubs() <= 1:
			comps[i] = c.String()
		default:
			subs := make([]any, c.NumSubs())
			for j := range subs {
				if s := c.Sub(j + 1); s.IsNull() {
					subs[j] = nil
				} else {
					subs[j] = s.String()
				}
			}
			comps[i] = trimEmpty(subs, 0)
		}
	}
	return trimEmpty(comps, 0)
}

// trimEmpty drops trailing "" elements, keeping at least keep.
func trimEmpty(a []any, keep int) []any {
	for len(a) > keep {
		if s, ok := a[len(a)-1].(string); ok && s == "" {
			a = a[:len(a)-1]
			continue
		}
		break
	}
	return a
}

// v2StatsFlags defines the flags of `iisbridge v2 stats` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func v2StatsFlags(fs *flag.FlagSet) (asJSON *bool, enc *string, maxList *int) {
	asJSON = fs.Bool("json", false, "print one JSON object")
	enc = fs.String("encoding", "auto", "input encoding: auto, utf-8, latin1, windows-1252")
	maxList = fs.Int("max-errors", 20, "errors and warnings listed (all are counted)")
	return
}

// v2DumpFlags defines the flags of `iisbridge v2 dump` (command.Flags: Run parses them;
// help and flag reordering read them without running the command).
func v2DumpFlags(fs *flag.FlagSet) (pathArg, enc *string) {
	pathArg = fs.String("path", "", "print only this value per message (PID-5.1, OBX[*]-5, ...)")
	enc = fs.String("encoding", "auto", "input encoding: auto, utf-8, latin1, windows-1252")
	return
}

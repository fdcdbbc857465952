package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/index"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// Options configure a Pipeline.
type Options struct {
	// Paths are the archive paths Update indexes; locations of files
	// under them are given from the root as the path was written.
	Paths []string
	// Workers is how many persons an export maps at once; 0 = GOMAXPROCS.
	// Output order does not depend on it.
	Workers int
	// Sources name archive paths (indexed after Paths): the locations in
	// export files are "name/path below the source's root", never a
	// server path.
	Sources []Source
}

// Source is a named set of archive paths (config sources).
type Source struct {
	Name  string
	Paths []string
}

// Pipeline is the Exporter over the on-disk index: one Patient per
// person, one Immunization per dose, in their latest state.
type Pipeline struct {
	opts Options
	idx  *index.Index
	mu   sync.Mutex
	last Stats
	// workers read, map and reduce persons in parallel (GOMAXPROCS).
	workers int
	// live is the mapping exports start with (SetMapping swaps it).
	live   atomic.Pointer[mapping.Mapping]
	paths  []string // Paths and the Sources' paths
	roots  []root
	ingest map[string]int64 // IngestCounts, under mu
	stale  atomic.Bool      // an export found records it could not read (Stale)
}

// SetMapping makes m the mapping of exports started from now on; running
// exports finish with the one they started with (a reload never mixes
// two mappings in one export).
func (p *Pipeline) SetMapping(m *mapping.Mapping) { p.live.Store(m) }

// Mapping is the live mapping.
func (p *Pipeline) Mapping() *mapping.Mapping { return p.live.Load() }

var (
	_ Exporter         = (*Pipeline)(nil)
	_ MembershipSource = (*Pipeline)(nil)
)

// Stats accounts for one export: every record of the index (every row of
// a relational source) is converted (folded into a resource), reported
// deleted, or reported as an issue or skipped.
type Stats struct {
	Persons       int64            // persons visited (after PatientIDs)
	Messages      int64            // person messages re-read and mapped (relational: persons' rows mapped)
	ReadErrors    int64            // person messages that could not be re-read (the export's Loss)
	Lost          map[string]int64 // ReadErrors by reason (Unreadable*)
	Patients      int64            // Patient resources emitted
	Immunizations int64
	Provenances   int64
	Deleted       int64 // deletions reported to the sink
	UnseenDeletes int64 // RXA-21 D matching no dose (warnings)
	DoseRecords   int64 // Immunizations mapped from messages (before reduction)
	Others        int64 // resources of other types emitted (newest by id)
	Issues        int64 // OperationOutcomes sent to the sink
	Problems      int64 // of them: broken input recorded by the index (relational: bad rows)
	Unchanged     int64 // persons skipped: nothing indexed after Since
	Recalled      int64 // messages whose Patient was taken from an earlier one of the person (recall.go)
	// Relational sources: persons soft-deleted or merged into another
	// (exported as deletions only), and every row read by table.
	Gone   int64
	Tables map[string]TableCount
}

// New returns the Exporter over idx (opened and brought up to date by
// the caller; the pipeline owns it from now on: Close closes it), with m
// as the live mapping (the default mapping when nil). Records are read
// again through the index's source (sources.Source): the pipeline knows
// no input format.
func New(idx *index.Index, m *mapping.Mapping, opts Options) *Pipeline {
	if m == nil {
		m = mapping.Default()
	}
	p := &Pipeline{opts: opts, idx: idx, workers: opts.Workers}
	p.paths, p.roots = sourcePaths(opts)
	if p.workers <= 0 {
		p.workers = defaultWorkers()
	}
	p.live.Store(m)
	return p
}

func defaultWorkers() int { return runtime.GOMAXPROCS(0) }

// Update indexes what is new in the configured paths (the server calls it
// periodically).
func (p *Pipeline) Update(ctx context.Context) (index.UpdateStats, error) {
	p.stale.Store(false) // an export finding more after this asks again
	st, err := p.idx.Update(ctx, p.paths)
	p.mu.Lock()
	if p.ingest == nil {
		p.ingest = map[string]int64{}
	}
	for k, n := range map[string]int{"dropped": st.Dropped, "moved": st.Moved, "unreadable": st.Unreadable, "broken": st.Broken} {
		p.ingest[k] += int64(n)
	}
	p.mu.Unlock()
	return st, err
}

// Stale says whether an export since the last Update left out records it
// could not read: the index is behind the archive (a file changed, moved
// or went away), and an Update now brings it in line.
func (p *Pipeline) Stale() bool { return p.stale.Load() }

// IngestCounts totals what the updates of this process met, by event:
// files dropped (gone or no longer configured), moved, unreadable, broken
// (the server's /metrics).
func (p *Pipeline) IngestCounts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int64{"dropped": 0, "moved": 0, "unreadable": 0, "broken": 0}
	for k, n := range p.ingest {
		out[k] = n
	}
	return out
}

// Close closes the index.
func (p *Pipeline) Close() error { return p.idx.Close() }

// Stats are the counts of the last finished export.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// ResourceTypes lists the types Export emits: the live mapping's
// (Provenance only when asked).
func (p *Pipeline) ResourceTypes() []string { return p.live.Load().ResourceTypes() }

// Memberships lists the evidence of organization → patient links learned
// from v2 traffic, every kind (the index's ledger, by trigger): the
// consumer applies its membership.Policy.
func (p *Pipeline) Memberships(ctx context.Context, fn func(Membership) error) error {
	s, err := p.idx.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	err = s.Ledger(ctx, func(e index.LedgerEntry) error {
		return fn(Membership{OrgKey: e.OrgKey, OrgName: e.OrgName, PatientID: e.PatientID, First: e.First, Last: e.Last,
			Facility: e.Facility, Trigger: e.Trigger, Location: e.FirstLoc.String(), Confidence: e.Confidence})
	})
	if err != nil {
		return err
	}
	return s.Unanswered(ctx, func(u index.Unanswered) error {
		return fn(Membership{OrgKey: u.OrgKey, OrgName: u.OrgName, Facility: u.Facility, First: u.Time, Last: u.Time,
			Trigger: TriggerUnanswered, Location: u.Loc.String(), Asked: &u.Asked})
	})
}

// Senders lists the senders of VXU and QBP records.
func (p *Pipeline) Senders(ctx context.Context, fn func(Sender) error) error {
	s, err := p.idx.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Senders(ctx, func(x index.Sender) error {
		return fn(Sender{OrgKey: x.OrgKey, Facility: x.Facility, Name: x.Name, Records: x.Records})
	})
}

// Export streams the reduced data set person by person, in Patient id
// order, from one consistent snapshot of the index.
func (p *Pipeline) Export(ctx context.Context, q Query, sink Sink) error {
	snap, err := p.idx.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer snap.Close()
	rr, err := p.idx.Source().Rereader()
	if err != nil {
		return err
	}
	defer rr.Close()
	e, err := newExport(ctx, p.live.Load(), q, sink, p.workers)
	if err != nil {
		return err
	}
	e.p, e.snap, e.rr, e.shown = p, snap, rr, map[string]string{}
	e.each = e.eachPerson
	if ps, ok := sink.(ProgressSink); ok {
		e.prog = &progress{sink: ps}
		if q.PatientIDs != nil {
			e.prog.total = int64(len(slices.Compact(slices.Sorted(slices.Values(q.PatientIDs)))))
		} else if c, err := snap.Counts(ctx); err == nil {
			e.prog.total = c.Persons
		}
	}
	if q.SourceIssues {
		if err := snap.Problems(ctx, q.Since, q.AsOf, e.problem); err != nil {
			return err
		}
	}
	if err := e.persons(); err != nil {
		return err
	}
	if !q.Since.IsZero() && e.want("Patient") {
		var only map[string]bool
		if q.PatientIDs != nil {
			only = map[string]bool{}
			for _, id := range q.PatientIDs {
				only[id] = true
			}
		}
		err := snap.DeletedPatients(ctx, q.Since, q.AsOf, func(id string, at time.Time) error {
			if (only != nil && !only[id]) || !e.inWindow(at) {
				return nil
			}
			e.st.Deleted++
			return sink.Deleted("Patient", id, at)
		})
		if err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.last = *e.st
	p.mu.Unlock()
	if e.st.ReadErrors > 0 {
		p.stale.Store(true)
		slog.Warn("pipeline: export left out records it could not read", "records", e.st.ReadErrors, "by_reason", e.st.Lost)
		if ls, ok := sink.(LossSink); ok {
			return ls.Lost(Loss{Records: e.st.ReadErrors, ByReason: maps.Clone(e.st.Lost)})
		}
	}
	return nil
}

// newExport starts an export of m's resources for q into sink.
func newExport(ctx context.Context, m *mapping.Mapping, q Query, sink Sink, workers int) (*export, error) {
	e := &export{m: m, ctx: ctx, q: q, sink: sink, types: map[string]bool{}, st: &Stats{}, workers: workers}
	for _, t := range q.Types {
		e.types[t] = true
	}
	var err error
	if e.reducers, err = reducers(e.m); err != nil {
		return nil, err
	}
	e.recall = newRecall(e.m, e.reducers)
	return e, nil
}

// work is one item of an export: a person with what the index holds of
// them, or a relational person, or a relational source's problems that
// belong to no person.
type work struct {
	id     string // the person's Patient id
	pp     index.Person
	msgs   []index.Message
	merged []index.Merged // Patient ids merged into pp
	rec    *sqlsrc.Record // a relational source's person (relational.go)
	loose  []sqlsrc.Problem
}

// eachPerson lists the persons of the export in Patient id order, with
// their messages: the PatientIDs asked for, or everyone in one walk of
// the index.
func (e *export) eachPerson(fn func(*work) error) error {
	if e.q.PatientIDs == nil {
		return e.snap.Walk(e.ctx, e.q.AsOf, func(pp index.Person, msgs []index.Message, merged []index.Merged) error {
			e.relabel(msgs)
			return fn(&work{id: pp.ID, pp: pp, msgs: msgs, merged: merged})
		})
	}
	ids := slices.Clone(e.q.PatientIDs)
	sort.Strings(ids)
	for _, id := range slices.Compact(ids) {
		pp, ok, err := e.snap.Person(e.ctx, id)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		w := &work{id: pp.ID, pp: pp}
		if w.msgs, err = e.snap.Messages(e.ctx, pp, e.q.AsOf); err != nil {
			return err
		}
		e.relabel(w.msgs)
		if w.merged, err = e.snap.MergedInto(e.ctx, pp, time.Time{}, e.q.AsOf); err != nil {
			return err
		}
		if err := fn(w); err != nil {
			return err
		}
	}
	return nil
}

type export struct {
	p   *Pipeline        // nil for a relational export
	rel *Relational      // nil for an export of the index
	m   *mapping.Mapping // the live mapping when the export started
	// each lists the export's work items in order (the producer of the
	// worker pool).
	each    func(func(*work) error) error
	workers int
	ctx     context.Context
	q       Query
	sink    Sink
	snap    *index.Snapshot
	rr      sources.Rereader // inputs stay open for the export
	types   map[string]bool
	// reducers reduce each resource type of the mapping (reduce.go).
	reducers []typedReducer
	// recall maps each distinct Patient of a person once (recall.go);
	// nil when the mapping does not allow it.
	recall *recall
	st     *Stats   // the copy per worker gets its own
	scr    *scratch // the worker's reused memory (nil outside a worker)
	// prog is set when the sink is a ProgressSink; a pointer, as workers
	// copy the export (only the goroutine feeding the sink ticks)
	prog *progress
	// shown maps indexed file paths to the location export files give
	// (Pipeline.display), for the goroutine listing persons.
	shown map[string]string
}

type progress struct {
	sink        ProgressSink
	done, total int64
}

// tick reports one more person sent to the sink.
func (e *export) tick() {
	if p := e.prog; p != nil {
		p.done++
		p.sink.Progress(p.done, p.total)
	}
}

func (e *export) want(t string) bool {
	if t == "Provenance" {
		return e.q.Provenance || e.types[t]
	}
	return len(e.types) == 0 || e.types[t]
}

// inWindow applies Since (exclusive) and Until (inclusive) to a time.
func (e *export) inWindow(t time.Time) bool {
	if !e.q.Since.IsZero() && !t.After(e.q.Since) {
		return false
	}
	return e.q.Until.IsZero() || !t.After(e.q.Until)
}

// fresh says whether problems of a record indexed at t belong in this
// export: a _since export reports only what is new.
func (e *export) fresh(t time.Time) bool {
	return e.q.Since.IsZero() || t.After(e.q.Since)
}

func (e *export) issue(oo *fhirout.Object) error {
	e.st.Issues++
	return e.sink.Issue(oo)
}

func (e *export) problem(pr index.Problem) error {
	is := fhirout.Issue{Severity: "error", Code: "structure", Diagnostics: pr.Reason, Input: input(e.p.display(pr.Loc.Source), pr.Loc.Offset, pr.Loc.Line, pr.Loc.Index, pr.Loc.ControlID, "")}
	if pr.Kind == "warning" {
		is.Severity, is.Code = "warning", "informational"
	}
	e.st.Problems++
	return e.issue(fhirout.OperationOutcome(is))
}

func input(src string, off int64, line, idx int, ctrl, field string) *fhirout.Input {
	return &fhirout.Input{Source: src, Offset: off, Line: line, Index: idx, ControlID: ctrl, Field: field}
}

// emit sends a resource, then its Provenance when asked.
func (e *export) emit(r *fhirout.Object, msgs []*origin, at time.Time) error {
	if err := e.sink.Resource(r); err != nil {
		return err
	}
	if !e.want("Provenance") {
		return nil
	}
	e.st.Provenances++
	return e.sink.Resource(provenance(r.ResourceType()+"/"+r.ID(), msgs, at))
}

func refObject(ref string) *fhirout.Object {
	o := fhirout.NewObject()
	o.Set("reference", ref)
	return o
}

func hashID(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// MissingPatients returns the ids among ids that name no Patient in the
// current index (server.PatientChecker: an unknown `patient` is a 400 at
// kick-off), in the order given, each once.
func (p *Pipeline) MissingPatients(ctx context.Context, ids []string) ([]string, error) {
	snap, err := p.idx.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		_, ok, err := snap.Person(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// errNoParse marks a re-read record the parser refused.
var errNoParse = errors.New("no longer parses")

// unreadable says why an indexed message could not be read again, in a
// reason code (Unreadable*) and words for the error file. The words name
// no server path.
func unreadable(err error) (why, text string) {
	switch {
	case errors.Is(err, index.ErrChanged):
		return UnreadableChanged, "the archive changed since indexing: the bytes at this place are not the message indexed there (the next index update reads the file again)"
	case errors.Is(err, fs.ErrPermission):
		return UnreadablePermission, "permission denied reading the archive file"
	case errors.Is(err, fs.ErrNotExist):
		return UnreadableGone, "the archive file no longer exists"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return UnreadableTruncated, "the archive file is shorter than when it was indexed (truncated)"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return UnreadableIO, "reading the archive file failed: " + pe.Op + ": " + pe.Err.Error()
	}
	if errors.Is(err, errNoParse) {
		return UnreadableChanged, "the message indexed here no longer parses"
	}
	return UnreadableIO, "reading the archive file failed"
}

// root is where the locations of one path argument are given from.
type root struct {
	dir   string // canonical directory
	label string // source name, or the directory as written
	named bool
}

// sourcePaths gathers every path to index and the roots locations are
// given from: a directory argument is its own root, a file or glob the
// directory it names.
func sourcePaths(o Options) ([]string, []root) {
	paths := slices.Clone(o.Paths)
	var roots []root
	add := func(arg, name string) {
		dir := arg
		if fi, err := os.Stat(arg); err != nil || !fi.IsDir() {
			dir = filepath.Dir(arg)
			for strings.ContainsAny(dir, "*?[") {
				dir = filepath.Dir(dir)
			}
		}
		r := root{label: name, named: name != ""}
		if !r.named {
			r.label = filepath.Clean(dir)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return
		}
		if c, err := filepath.EvalSymlinks(abs); err == nil {
			abs = c
		}
		r.dir = abs
		roots = append(roots, r)
	}
	for _, p := range o.Paths {
		add(p, "")
	}
	for _, s := range o.Sources {
		for _, p := range s.Paths {
			paths = append(paths, p)
			add(p, s.Name)
		}
	}
	return paths, roots
}

// display is where export files say an indexed file is: below the
// deepest root holding it, by the source's name; never a server path
// for a named source.
func (p *Pipeline) display(path string) string {
	best := -1
	for i, r := range p.roots {
		if (path == r.dir || strings.HasPrefix(path, r.dir+string(filepath.Separator))) &&
			(best < 0 || len(r.dir) > len(p.roots[best].dir)) {
			best = i
		}
	}
	if best < 0 {
		return filepath.Base(path)
	}
	r := p.roots[best]
	rel, err := filepath.Rel(r.dir, path)
	if err != nil {
		rel = filepath.Base(path)
	}
	if r.named {
		return r.label + "/" + filepath.ToSlash(rel)
	}
	return filepath.Join(r.label, rel)
}

// relabel gives msgs the locations export files show.
func (e *export) relabel(msgs []index.Message) {
	for i := range msgs {
		src := msgs[i].Loc.Source
		d, ok := e.shown[src]
		if !ok {
			d = e.p.display(src)
			e.shown[src] = d
		}
		msgs[i].Loc.Source = d
	}
}

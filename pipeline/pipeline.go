package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

	"iisbridge/fhirout"
	"iisbridge/hl7v2"
	"iisbridge/mapping"
	"iisbridge/sources"
	"iisbridge/sources/index"
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
	// fullMap turns the ORDER memo off (tests compare both paths).
	fullMap bool
	// learned predicts dose keys from v2 values; noPredict is set when a
	// prediction proved wrong (or by tests).
	learned   *learned
	noPredict atomic.Bool
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

// How an export maps a person's messages.
const (
	mapFull    = iota // every resource of every message
	mapMemo           // each distinct ORDER group once (ordermemo.go)
	mapPredict        // and dose keys predicted from v2 values (predict.go)
)

// memoOK says whether exports may map each distinct ORDER group of a
// person once (ordermemo.go): only the default mapping's dependencies
// are known.
func (p *Pipeline) memoOK(m *mapping.Mapping) bool {
	return !p.fullMap && m == mapping.Default()
}

var (
	_ Exporter         = (*Pipeline)(nil)
	_ MembershipSource = (*Pipeline)(nil)
)

// Stats accounts for one export: every record of the index is converted
// (folded into a resource), reported deleted, or reported as an issue or
// skipped.
type Stats struct {
	Persons        int64            // persons visited (after PatientIDs)
	Messages       int64            // person messages re-read and mapped
	ReadErrors     int64            // person messages that could not be re-read (the export's Loss)
	Lost           map[string]int64 // ReadErrors by reason (Unreadable*)
	Patients       int64            // Patient resources emitted
	Immunizations  int64
	Provenances    int64
	Deleted        int64 // deletions reported to the sink
	UnseenDeletes  int64 // RXA-21 D matching no dose (warnings)
	DoseRecords    int64 // Immunizations mapped from messages (before reduction)
	OrdersMapped   int64 // ORDER groups mapped (the memo skips resent copies; winners mapped again count)
	OtherResources int64 // mapped resources of other types (not exported)
	Issues         int64 // OperationOutcomes sent to the sink
	Problems       int64 // of them: broken input recorded by the index
	Unchanged      int64 // persons skipped: nothing indexed after Since
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
	p := &Pipeline{opts: opts, idx: idx, workers: opts.Workers, learned: newLearned()}
	p.paths, p.roots = sourcePaths(opts)
	if p.workers <= 0 {
		p.workers = runtime.GOMAXPROCS(0)
	}
	p.live.Store(m)
	return p
}

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

// ResourceTypes lists the types Export emits (Provenance only when asked).
func (p *Pipeline) ResourceTypes() []string { return []string{"Patient", "Immunization"} }

// Memberships lists organization → patient links learned from v2 traffic.
func (p *Pipeline) Memberships(ctx context.Context, fn func(Membership) error) error {
	s, err := p.idx.Snapshot(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Memberships(ctx, func(m index.Membership) error {
		return fn(Membership{OrgKey: m.OrgKey, OrgName: m.OrgName, PatientID: m.PatientID, First: m.First, Last: m.Last})
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
	e := &export{p: p, m: p.live.Load(), ctx: ctx, q: q, sink: sink, snap: snap, rr: rr, lv: p.learned.view(), types: map[string]bool{}, st: &Stats{},
		shown: map[string]string{}}
	for _, t := range q.Types {
		e.types[t] = true
	}
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

// work is one person of an export with what the index holds of it.
type work struct {
	pp     index.Person
	msgs   []index.Message
	merged []index.Merged // Patient ids merged into pp
}

// eachPerson lists the persons of the export in Patient id order, with
// their messages: the PatientIDs asked for, or everyone in one walk of
// the index.
func (e *export) eachPerson(fn func(*work) error) error {
	if e.q.PatientIDs == nil {
		return e.snap.Walk(e.ctx, e.q.AsOf, func(pp index.Person, msgs []index.Message, merged []index.Merged) error {
			e.relabel(msgs)
			return fn(&work{pp: pp, msgs: msgs, merged: merged})
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
		w := &work{pp: pp}
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

// persons exports every person. With several CPUs, persons are read,
// mapped and reduced by workers and emitted in order by this goroutine;
// at most a window of persons is in flight, so memory stays flat.
func (e *export) persons() error {
	workers := e.p.workers
	if workers <= 1 {
		return e.eachPerson(func(w *work) error {
			if err := e.person(w); err != nil {
				return err
			}
			e.tick()
			return nil
		})
	}
	type job struct {
		seq int
		w   *work
	}
	type result struct {
		seq int
		buf *buffer
		st  Stats
		err error
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	window := 4 * workers
	jobs := make(chan job)
	results := make(chan result, window)
	sem := make(chan struct{}, window)
	var prodErr error
	go func() {
		defer close(jobs)
		seq := 0
		prodErr = e.eachPerson(func(w *work) error {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case jobs <- job{seq, w}:
			case <-ctx.Done():
				return ctx.Err()
			}
			seq++
			return nil
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lv := e.p.learned.view()
			for j := range jobs {
				pe := *e
				pe.ctx, pe.lv = ctx, lv
				buf := &buffer{}
				pe.sink, pe.st = buf, &Stats{}
				err := pe.person(j.w)
				results <- result{j.seq, buf, *pe.st, err}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	pending := map[int]result{}
	next := 0
	var err error
	for r := range results {
		pending[r.seq] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			<-sem
			if err == nil {
				err = r.err
			}
			if err == nil {
				e.st.add(r.st)
				err = r.buf.replay(e.sink)
				e.tick()
			}
			if err != nil {
				cancel()
			}
		}
	}
	if err == nil && prodErr != nil {
		err = prodErr
	}
	return err
}

// buffer records what one person's export sends, for in-order replay.
type buffer struct{ items []bufItem }

type bufItem struct {
	kind    byte // r resource, d deleted, i issue
	obj     *fhirout.Object
	typ, id string
	at      time.Time
}

func (b *buffer) Resource(r *fhirout.Object) error {
	b.items = append(b.items, bufItem{kind: 'r', obj: r})
	return nil
}
func (b *buffer) Deleted(t, id string, at time.Time) error {
	b.items = append(b.items, bufItem{kind: 'd', typ: t, id: id, at: at})
	return nil
}
func (b *buffer) Issue(oo *fhirout.Object) error {
	b.items = append(b.items, bufItem{kind: 'i', obj: oo})
	return nil
}

func (b *buffer) replay(s Sink) error {
	for _, it := range b.items {
		var err error
		switch it.kind {
		case 'r':
			err = s.Resource(it.obj)
		case 'd':
			err = s.Deleted(it.typ, it.id, it.at)
		default:
			err = s.Issue(it.obj)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Stats) add(o Stats) {
	s.Persons += o.Persons
	s.Messages += o.Messages
	s.ReadErrors += o.ReadErrors
	s.Patients += o.Patients
	s.Immunizations += o.Immunizations
	s.Provenances += o.Provenances
	s.Deleted += o.Deleted
	s.UnseenDeletes += o.UnseenDeletes
	s.DoseRecords += o.DoseRecords
	s.OrdersMapped += o.OrdersMapped
	s.OtherResources += o.OtherResources
	s.Issues += o.Issues
	s.Problems += o.Problems
	s.Unchanged += o.Unchanged
	for k, n := range o.Lost {
		if s.Lost == nil {
			s.Lost = map[string]int64{}
		}
		s.Lost[k] += n
	}
}

type export struct {
	p     *Pipeline
	m     *mapping.Mapping // the live mapping when the export started
	ctx   context.Context
	q     Query
	sink  Sink
	snap  *index.Snapshot
	rr    sources.Rereader // inputs stay open for the export
	lv    *learnedView     // this goroutine's view of Pipeline.learned
	types map[string]bool
	st    *Stats // the copy per worker gets its own
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

// person exports one person: its messages re-read and mapped, the
// Patients merged, the doses reduced. What it sends is buffered, so a
// person whose predicted dose keys prove wrong is exported again.
func (e *export) person(w *work) error {
	if !e.p.memoOK(e.m) {
		return e.personRun(w, mapFull)
	}
	mode := mapPredict
	if e.p.noPredict.Load() {
		mode = mapMemo
	}
	for {
		pe := *e
		buf := &buffer{}
		pe.sink, pe.st = buf, &Stats{}
		err := pe.personRun(w, mode)
		if errors.Is(err, errMispredicted) && mode == mapPredict {
			if !e.p.noPredict.Swap(true) {
				slog.Warn("pipeline: a dose key predicted from v2 values differs from the mapping's; every dose record is mapped from now on")
			}
			mode = mapMemo
			continue
		}
		if err != nil {
			return err
		}
		e.st.add(*pe.st)
		return buf.replay(e.sink)
	}
}

func (e *export) personRun(w *work, mode int) error {
	if err := e.ctx.Err(); err != nil {
		return err
	}
	pp, msgs := w.pp, w.msgs
	if len(msgs) == 0 {
		return nil
	}
	e.st.Persons++
	var maxAt time.Time
	for i := range msgs {
		if msgs[i].IndexedAt.After(maxAt) {
			maxAt = msgs[i].IndexedAt
		}
	}
	if !e.q.Since.IsZero() && !maxAt.After(e.q.Since) {
		e.st.Unchanged++
		return nil
	}
	var (
		pats    []*fhirout.Object
		patMsgs []*index.Message
		patAt   time.Time
		recs    []*doseRec
		mp      = e.m
		pid     = pp.ID
		memo    map[string]*memoEntry
		parsed  []*hl7v2.Message // by position in msgs, with the memo
		pmemo   map[string]*fhirout.Object
		patPos  map[string]int // patientKey → its Patient's place in pats
	)
	if mode != mapFull {
		memo, parsed = map[string]*memoEntry{}, make([]*hl7v2.Message, len(msgs))
		pmemo, patPos = map[string]*fhirout.Object{}, map[string]int{}
	}
	for i := range msgs {
		m := &msgs[i]
		fresh := e.fresh(m.IndexedAt)
		if m.Warnings != "" && fresh {
			is := fhirout.Issue{Severity: "warning", Code: "informational", Diagnostics: m.Warnings,
				Input: input(m.Loc.Source, m.Loc.Offset, m.Loc.Line, m.Loc.Index, m.Loc.ControlID, "")}
			if err := e.issue(fhirout.OperationOutcome(is)); err != nil {
				return err
			}
		}
		// The source checks the bytes are the record indexed here.
		data, err := e.rr.Reread(m.Locator())
		var msg *hl7v2.Message
		if err == nil {
			if msg, err = hl7v2.Parse(data); err != nil {
				err = fmt.Errorf("%w: %w", errNoParse, err)
			}
		}
		if err != nil {
			why, text := unreadable(err)
			e.st.ReadErrors++
			if e.st.Lost == nil {
				e.st.Lost = map[string]int64{}
			}
			e.st.Lost[why]++
			// Reported whatever _since says: the export is incomplete now.
			is := fhirout.Issue{Severity: "error", Code: "exception",
				Diagnostics: "indexed message left out of this export: " + text,
				Input:       input(m.Loc.Source, m.Loc.Offset, m.Loc.Line, m.Loc.Index, m.Loc.ControlID, "")}
			if err := e.issue(fhirout.OperationOutcome(is)); err != nil {
				return err
			}
			continue
		}
		e.st.Messages++
		var issues []fhirout.Issue
		if fresh {
			for _, w := range msg.Warnings() {
				issues = append(issues, fhirout.Issue{Severity: "warning", Code: "structure", Diagnostics: w,
					Input: input(m.Loc.Source, m.Loc.Offset, m.Loc.Line, m.Loc.Index, m.Loc.ControlID, "")})
			}
		}
		rsp := strings.HasPrefix(m.Type, "RSP")
		if memo != nil {
			mpats, mrecs, missues, pkey, seen, err := e.mapMemo(memo, pmemo, msg, m, i, pid, rsp, mode == mapPredict)
			if err != nil {
				return err
			}
			if seen && len(mpats) > 0 {
				// The same Patient again: it moves to this, newer, place
				// (an older identical copy adds nothing to the merge).
				if j, ok := patPos[pkey]; ok && j < len(pats) && pats[j] == mpats[0] {
					pats = slices.Delete(pats, j, j+1)
					for k, v := range patPos {
						if v > j {
							patPos[k] = v - 1
						}
					}
				}
			}
			if fresh {
				issues = append(issues, missues...)
			}
			if len(issues) > 0 {
				if err := e.issue(fhirout.OperationOutcome(issues...)); err != nil {
					return err
				}
			}
			for _, r := range mpats {
				patPos[pkey] = len(pats)
				pats = append(pats, r)
				patMsgs = append(patMsgs, m)
				if m.IndexedAt.After(patAt) {
					patAt = m.IndexedAt
				}
			}
			e.st.DoseRecords += int64(len(mrecs))
			recs = append(recs, mrecs...)
			parsed[i] = msg
			continue
		}
		out := mp.Apply(mapping.Input{Msg: msg, Loc: m.Loc, PatientID: pid, LastUpdated: m.IndexedAt}, false)
		e.st.OrdersMapped += int64(len(msg.Orders()))
		if fresh {
			issues = append(issues, out.Issues...)
		}
		if len(issues) > 0 {
			if err := e.issue(fhirout.OperationOutcome(issues...)); err != nil {
				return err
			}
		}
		for j, r := range out.Resources {
			switch r.ResourceType() {
			case "Patient":
				pats = append(pats, r)
				patMsgs = append(patMsgs, m)
				if m.IndexedAt.After(patAt) {
					patAt = m.IndexedAt
				}
			case "Immunization":
				e.st.DoseRecords++
				recs = append(recs, newDoseRec(r, m, i*100000+j, rsp))
			default:
				e.st.OtherResources++
			}
		}
	}
	if len(pats) > 0 && e.want("Patient") && e.inWindow(patAt) {
		slices.Reverse(pats)
		pat := MergePatients(pats)
		pat.Set("id", pid)
		pat.Child("meta").Set("lastUpdated", fhirout.FormatInstant(patAt))
		if err := e.emit(pat, patMsgs, patAt); err != nil {
			return err
		}
		e.st.Patients++
	}
	doses, unseen := reduceDoses(recs)
	for _, u := range unseen {
		e.st.UnseenDeletes++
		m := u.rec.msg
		if !e.fresh(m.IndexedAt) {
			continue
		}
		is := fhirout.Issue{Severity: "warning", Code: "not-found",
			Diagnostics: "RXA-21 D deletes a dose this sender never reported (no earlier order with the same sending facility and ORC-3); nothing deleted",
			Expression:  []string{"Immunization.status"},
			Input:       input(m.Loc.Source, m.Loc.Offset, m.Loc.Line, m.Loc.Index, m.Loc.ControlID, "RXA-21")}
		if err := e.issue(fhirout.OperationOutcome(is)); err != nil {
			return err
		}
	}
	if !e.want("Immunization") {
		return nil
	}
	// Persons merged into this one took their Immunization ids with them
	// (ids hash the Patient id): a _since export lists those as deleted,
	// and the doses under their new ids count as updated at the merge.
	for _, mg := range w.merged {
		for _, d := range doses {
			if mg.At.After(d.lastUpdated) {
				d.lastUpdated = mg.At
			}
		}
	}
	former, err := e.formerDeleted(pp, w.merged, recs)
	if err != nil {
		return err
	}
	var again []*dose
	for _, d := range doses {
		if d.obj == nil && !d.deleted && e.inWindow(d.lastUpdated) {
			again = append(again, d)
		}
	}
	if len(again) > 0 {
		if err := e.remap(again, parsed, pid); err != nil {
			return err
		}
	}
	for _, d := range doses {
		id := hashID(pid + "|" + d.key)
		if d.deleted {
			if !e.q.Since.IsZero() && e.inWindow(d.deletedAt) && !onlyFormer(d, former) {
				e.st.Deleted++
				if err := e.sink.Deleted("Immunization", id, d.deletedAt); err != nil {
					return err
				}
			}
			continue
		}
		if !e.inWindow(d.lastUpdated) {
			continue
		}
		imm := d.obj
		imm.Set("id", id)
		imm.Set("patient", refObject("Patient/"+pid))
		imm.Child("meta").Set("lastUpdated", fhirout.FormatInstant(d.lastUpdated))
		var ms []*index.Message
		for _, r := range d.records {
			if len(ms) == 0 || ms[len(ms)-1] != r.msg {
				ms = append(ms, r.msg)
			}
		}
		if err := e.emit(imm, ms, d.lastUpdated); err != nil {
			return err
		}
		e.st.Immunizations++
	}
	return nil
}

// formerDeleted lists, in a _since export, the Immunizations of the
// Patients merged into pp (gone at their At) as deleted: exactly the
// doses each of them had, which are the doses reduced from the messages
// of its component when it was last current (index
// Snapshot.FormerMessages), among this person's records. A dose live then
// is deleted at the merge; one already deleted then keeps its own time
// (the former Patient's export would have listed it then). Nothing is
// kept per Patient id: the former doses are worked out again from the
// person's records, which the export holds anyway. It returns the
// arrival numbers of the former Patients' messages (see onlyFormer).
func (e *export) formerDeleted(pp index.Person, merged []index.Merged, recs []*doseRec) (map[int64]bool, error) {
	if e.q.Since.IsZero() {
		return nil, nil
	}
	var ids []string
	var at []time.Time
	for _, mg := range merged {
		if mg.At.After(e.q.Since) {
			ids, at = append(ids, mg.ID), append(at, mg.At)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	seqs, err := e.snap.FormerMessages(e.ctx, pp, ids)
	if err != nil {
		return nil, err
	}
	all := map[int64]bool{}
	for i, old := range ids {
		if len(seqs[i]) == 0 {
			continue
		}
		in := make(map[int64]bool, len(seqs[i]))
		for _, s := range seqs[i] {
			in[s] = true
			all[s] = true
		}
		var sub []*doseRec
		for _, r := range recs {
			if in[r.msg.Seq()] {
				sub = append(sub, r)
			}
		}
		doses, _ := reduceDoses(sub)
		for _, d := range doses {
			when := at[i]
			if d.deleted {
				when = d.deletedAt
			}
			if !e.inWindow(when) {
				continue
			}
			e.st.Deleted++
			if err := e.sink.Deleted("Immunization", hashID(old+"|"+d.key), when); err != nil {
				return nil, err
			}
		}
	}
	return all, nil
}

// onlyFormer says whether every record of a dose came from former
// Patients' messages (before their merge): a dose deleted there never
// existed under the survivor's id, so its deletion is theirs to list.
func onlyFormer(d *dose, former map[int64]bool) bool {
	if len(former) == 0 {
		return false
	}
	for _, r := range d.records {
		if !former[r.msg.Seq()] {
			return false
		}
	}
	return true
}

// emit sends a resource, then its Provenance when asked.
func (e *export) emit(r *fhirout.Object, msgs []*index.Message, at time.Time) error {
	if err := e.sink.Resource(r); err != nil {
		return err
	}
	if !e.want("Provenance") {
		return nil
	}
	e.st.Provenances++
	return e.sink.Resource(Provenance(r.ResourceType()+"/"+r.ID(), msgs, at))
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

// Provenance names the source messages behind one resource: target the
// resource, recorded the time the bridge indexed the latest of them, one
// agent per sending organization, one entity per message (what.identifier
// = MSH-10). It carries no patient data.
func Provenance(target string, msgs []*index.Message, recorded time.Time) *fhirout.Object {
	p := fhirout.NewResource("Provenance")
	p.Set("id", hashID("Provenance|"+target))
	p.Child("meta").Set("lastUpdated", fhirout.FormatInstant(recorded))
	p.Set("target", []any{refObject(target)})
	p.Set("recorded", fhirout.FormatInstant(recorded))
	orgs := map[string]string{}
	var keys []string
	for _, m := range msgs {
		k := m.OrgKey
		if k == "" {
			k = "unknown"
		}
		if _, ok := orgs[k]; !ok {
			keys = append(keys, k)
		}
		if m.OrgName != "" || orgs[k] == "" {
			orgs[k] = m.OrgName
		}
	}
	sort.Strings(keys)
	var agents []any
	for _, k := range keys {
		a := fhirout.NewObject()
		c := fhirout.NewObject()
		c.Set("system", "http://terminology.hl7.org/CodeSystem/provenance-participant-type")
		c.Set("code", "author")
		a.Child("type").Set("coding", []any{c})
		who := a.Child("who")
		who.Child("identifier").Set("value", k)
		if orgs[k] != "" {
			who.Set("display", orgs[k])
		}
		agents = append(agents, a)
	}
	p.Set("agent", agents)
	var ents []any
	for _, m := range msgs {
		en := fhirout.NewObject()
		en.Set("role", "source")
		what := en.Child("what")
		if m.Loc.ControlID != "" {
			what.Child("identifier").Set("value", m.Loc.ControlID)
		}
		d := m.Type + " message"
		if m.OrgKey != "" {
			d += " from " + m.OrgKey
		}
		if !m.Time.IsZero() {
			d += " at " + m.Time.Format(time.RFC3339)
		}
		what.Set("display", fmt.Sprintf("%s (record %d)", d, m.Loc.Index))
		ents = append(ents, en)
	}
	p.Set("entity", ents)
	return p
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

package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/mapping"
	"github.com/iisbridge/iisbridge/sources"
	sqlsrc "github.com/iisbridge/iisbridge/sources/sql"
)

// Relational is the Exporter over a relational IIS database, with no copy
// of it: each export reads one snapshot (sources/sql Reader.Scan) in
// person-key order, maps each person's rows (mapping.Input.Person) and
// sends them through the same phases as the index's persons: reducers,
// deletions, emit, in the same ordered worker pool.
//
// Patient ids are scoped by the source's name (PatientID): two sources'
// ids cannot collide, and an id stays the same as long as the source
// keeps its name and the person their key.
type Relational struct {
	name    string
	r       *sqlsrc.Reader
	live    atomic.Pointer[mapping.Mapping]
	workers int
	members string // memberships query; "" = no Groups
	mu      sync.Mutex
	last    Stats
}

// RelationalOptions configure a Relational exporter.
type RelationalOptions struct {
	// Name is the source's name (config sources[].name): it scopes the
	// Patient ids and names the source in export files.
	Name string
	// Workers is how many persons an export maps at once; 0 = GOMAXPROCS.
	Workers int
	// Memberships is a query listing organization → person links
	// (columns sqlsrc.MembershipColumns); "" = the source has no Groups.
	Memberships string
}

var (
	_ Exporter         = (*Relational)(nil)
	_ MembershipSource = (*Relational)(nil)
)

// NewRelational returns the Exporter over r with m as its mapping (a
// relational mapping: `source: sql`).
func NewRelational(r *sqlsrc.Reader, m *mapping.Mapping, o RelationalOptions) *Relational {
	x := &Relational{name: o.Name, r: r, workers: o.Workers, members: o.Memberships}
	if x.name == "" {
		x.name = r.Name()
	}
	if x.workers <= 0 {
		x.workers = defaultWorkers()
	}
	x.live.Store(m)
	return x
}

// SetMapping makes m the mapping of exports started from now on.
func (x *Relational) SetMapping(m *mapping.Mapping) { x.live.Store(m) }

// Name is the source's name.
func (x *Relational) Name() string { return x.name }

// ResourceTypes lists the types the mapping emits.
func (x *Relational) ResourceTypes() []string { return x.live.Load().ResourceTypes() }

// Stats are the counts of the last finished export.
func (x *Relational) Stats() Stats {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.last
}

// Close closes the database handle.
func (x *Relational) Close() error { return x.r.Close() }

// PatientID is the Patient id of the person with key: a hash of the
// source's name and the key.
func (x *Relational) PatientID(key string) string {
	return hashID("sql\x00" + x.name + "\x00" + key)
}

// SnapshotSink is implemented by sinks that want the time of the snapshot
// an export read (the manifest's transactionTime): a relational source
// reads the database clock when its snapshot begins. Export calls it
// before returning, once per snapshot.
type SnapshotSink interface {
	Snapshot(at time.Time)
}

// keysOf maps Patient ids to person keys in one pass over the keys
// (ids are hashes). Ids of no person of this source are left out.
func (x *Relational) keysOf(ctx context.Context, ids []string) ([]string, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	keys := []string{}
	err := x.r.EachKey(ctx, func(k string) error {
		if want[x.PatientID(k)] {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		return nil, &SourceError{Source: x.name, Err: err}
	}
	return keys, err
}

// MissingPatients returns the ids among ids that name no person of this
// source (server.PatientChecker), in the order given, each once.
func (x *Relational) MissingPatients(ctx context.Context, ids []string) ([]string, error) {
	keys, err := x.keysOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[x.PatientID(k)] = true
	}
	var missing []string
	seen := map[string]bool{}
	for _, id := range ids {
		if !have[id] && !seen[id] {
			missing = append(missing, id)
		}
		seen[id] = true
	}
	return missing, nil
}

// Memberships lists the organization → person links of the memberships
// query.
func (x *Relational) Memberships(ctx context.Context, fn func(Membership) error) error {
	if x.members == "" {
		return nil
	}
	return x.r.Memberships(ctx, x.members, func(m sqlsrc.Membership) error {
		return fn(Membership{OrgKey: m.OrgKey, OrgName: m.OrgName, PatientID: x.PatientID(m.Person), First: m.First, Last: m.Last})
	})
}

// Export streams the source's persons, in person-key order, out of one
// snapshot of the database. A lost connection fails the export (its
// snapshot is gone): the caller runs it again.
func (x *Relational) Export(ctx context.Context, q Query, sink Sink) error {
	e, err := newExport(ctx, x.live.Load(), q, sink, x.workers)
	if err != nil {
		return err
	}
	e.rel = x
	opt := sqlsrc.ScanOptions{Since: q.Since, Until: q.Until}
	if !q.Until.IsZero() {
		// The reader's window ends before Until, the export's at it: one
		// microsecond (the databases' finest timestamp) closes the gap.
		opt.Until = q.Until.Add(time.Microsecond)
	}
	if q.PatientIDs != nil {
		if opt.Keys, err = x.keysOf(ctx, q.PatientIDs); err != nil {
			return err
		}
		if len(opt.Keys) == 0 {
			return nil // none of them is ours (another source's, or gone)
		}
		if ps, ok := sink.(ProgressSink); ok {
			e.prog = &progress{sink: ps, total: int64(len(opt.Keys))}
		}
	} else if ps, ok := sink.(ProgressSink); ok {
		e.prog = &progress{sink: ps}
		if q.Since.IsZero() && q.Until.IsZero() {
			// Every person is visited: their count is the total (0, unknown,
			// when it cannot be had; the export does not depend on it).
			e.prog.total, _ = x.r.CountPersons(ctx)
		}
	}
	var res *sqlsrc.Result
	var loose looseProblems
	opt.OnProblem = loose.add
	e.each = func(fn func(*work) error) error {
		// The scan reads ahead of the workers by up to a batch: the next
		// batch's queries run while this one is mapped (the database and
		// the mapping overlap instead of taking turns).
		items := make(chan *work, x.r.BatchSize())
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		var err error
		go func() {
			defer close(items)
			send := func(w *work) error {
				select {
				case items <- w:
					return nil
				case <-sctx.Done():
					return sctx.Err()
				}
			}
			res, err = x.r.Scan(sctx, opt, func(rec *sqlsrc.Record) error {
				if err := loose.flush(send, rec); err != nil {
					return err
				}
				return send(&work{id: x.PatientID(rec.Key), rec: rec})
			})
			if err == nil {
				err = loose.flush(send, nil)
			}
		}()
		var yieldErr error // the pool's own (cancelled, sink failed), not the source's
		for w := range items {
			if yieldErr == nil {
				if yieldErr = fn(w); yieldErr != nil {
					stop()
				}
			}
		}
		switch {
		case yieldErr != nil:
			return yieldErr
		case err != nil && ctx.Err() == nil:
			return &SourceError{Source: x.name, Err: err}
		}
		return err
	}
	if err := e.persons(); err != nil {
		return err
	}
	if res != nil {
		e.st.Tables = map[string]TableCount{}
		var read, orphans, problems int64
		for name, ts := range res.Tables {
			e.st.Tables[name] = TableCount{Read: ts.Read, Yielded: ts.Yielded, Orphans: ts.Orphans, Problems: ts.Problems}
			read, orphans, problems = read+ts.Read, orphans+ts.Orphans, problems+ts.Problems
		}
		// Every row read is accounted for: in a person, or an orphan
		// reported as an issue; bad values reported too.
		slog.Info("relational export read", "source", x.name, "persons", e.st.Persons, "rows", read, "orphans", orphans,
			"bad_values", problems, "gone", e.st.Gone, "deleted_listed", e.st.Deleted, "issues", e.st.Issues)
		if ss, ok := sink.(SnapshotSink); ok {
			ss.Snapshot(res.TransactionTime)
		}
	}
	x.mu.Lock()
	x.last = *e.st
	x.mu.Unlock()
	return nil
}

// SourceError is a source that could not be read to the end of an export
// (a lost connection takes its snapshot with it): the export fails, and
// the caller may run it again.
type SourceError struct {
	Source string
	Err    error
}

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// ClientMessage is what a job's status may say (server): the source's
// name, never a DSN or the driver's words.
func (e *SourceError) ClientMessage() string {
	return "source " + e.Source + " could not be read to the end (the database connection was lost or refused); start a new export"
}

// TableCount accounts for the rows read from one table of a relational
// source (sources/sql TableStats): Read = Yielded + Orphans.
type TableCount struct {
	Read     int64 // rows the database returned
	Yielded  int64 // rows handed to a person
	Orphans  int64 // rows of no person read (reported as issues)
	Problems int64 // rows with a bad value (reported; the row kept)
}

// looseProblems gathers the bad rows the reader reports while it reads a
// batch, so that those of no person (an orphan child row, a bad lookup
// row) reach the export too; those of a person go out with the person.
// The reader reports a batch's problems before it yields the batch's
// persons; the first report after a yield starts the next batch.
type looseProblems struct {
	batch    []sqlsrc.Problem
	pending  []sqlsrc.Problem // of finished batches, to send
	personal map[sqlsrc.Problem]bool
	yielded  bool
}

func (l *looseProblems) add(p sqlsrc.Problem) {
	if l.yielded {
		l.pending = append(l.pending, l.left()...)
		l.batch, l.personal, l.yielded = nil, nil, false
	}
	l.batch = append(l.batch, p)
}

// flush hands out the problems of finished batches that belong to no
// person yielded (fn gets them as one work item); rec, when set, is the
// person being yielded.
func (l *looseProblems) flush(fn func(*work) error, rec *sqlsrc.Record) error {
	if rec == nil {
		l.pending = append(l.pending, l.left()...)
		l.batch, l.personal = nil, nil
	} else {
		l.yielded = true
		for _, p := range rec.Problems {
			if l.personal == nil {
				l.personal = map[sqlsrc.Problem]bool{}
			}
			l.personal[p] = true
		}
	}
	if len(l.pending) == 0 {
		return nil
	}
	ps := l.pending
	l.pending = nil
	return fn(&work{loose: ps})
}

// left is the batch's problems that no person of the batch holds.
func (l *looseProblems) left() []sqlsrc.Problem {
	var out []sqlsrc.Problem
	for _, p := range l.batch {
		if !l.personal[p] {
			out = append(out, p)
		}
	}
	return out
}

// problemIssue is a bad row as an issue: source, row key and table.column
// (as the mapping's issues name a row), never a value.
func problemIssue(p sqlsrc.Problem) fhirout.Issue {
	field := p.Table
	if p.Column != "" {
		field += "." + p.Column
	}
	return fhirout.Issue{Severity: "error", Code: "invalid", Diagnostics: p.Table + ": " + p.Msg,
		Input: &fhirout.Input{Source: p.Source, ControlID: p.Key, Field: field}}
}

// looseProblems sends the problems of no person.
func (e *export) looseProblems(ps []sqlsrc.Problem) error {
	if !e.q.SourceIssues {
		return nil // as for an archive: rows of no person are source-wide issues
	}
	issues := make([]fhirout.Issue, len(ps))
	for i, p := range ps {
		issues[i] = problemIssue(p)
	}
	e.st.Problems += int64(len(ps))
	return e.issue(fhirout.OperationOutcome(issues...))
}

// rowsPerson exports one relational person: their problems, then their
// rows mapped at once, then the reducers (or, for a person soft-deleted or
// merged into another, the deletions of what they were).
func (e *export) rowsPerson(w *work) error {
	rec, x := w.rec, e.rel
	e.st.Persons++
	e.st.Messages++
	o := &origin{at: rec.Modified, orgKey: x.name, rows: true,
		loc: sources.Location{Source: x.name, ControlID: rec.Key}}
	var issues []fhirout.Issue
	for _, p := range rec.Problems {
		issues = append(issues, problemIssue(p))
	}
	e.st.Problems += int64(len(rec.Problems))
	res := e.apply(mapping.Input{Person: rec, Loc: sources.Location{Source: x.name, ControlID: rec.Key}, PatientID: w.id})
	for _, is := range res.Issues {
		if is.Input == nil {
			is.Input = o.input("")
		}
		issues = append(issues, is)
	}
	if len(issues) > 0 {
		if err := e.issue(fhirout.OperationOutcome(issues...)); err != nil {
			return err
		}
	}
	out := mapped{}
	for j, r := range res.Resources {
		ro := o
		// A resource whose rows declare their own last-modified time (the
		// mapping's meta.lastUpdated) is updated then, not when the
		// person's newest row was.
		if s := str(child(r, "meta"), "lastUpdated"); s != "" {
			if at, err := time.Parse(time.RFC3339Nano, s); err == nil && !at.Equal(o.at) {
				c := *o
				c.at = at
				ro = &c
			}
		}
		t := r.ResourceType()
		out[t] = append(out[t], record{obj: r, msg: ro, ord: j})
	}
	if rec.Deleted || rec.MergedInto != "" {
		return e.gone(w, out, o.at)
	}
	return e.reduce(w, out)
}

// gone handles a person soft-deleted or merged into another: exported
// nowhere under their own id; a _since export lists their Patient and
// what their rows still map to as deleted, at their last change.
// (Registries move a merged person's rows to the survivor at the merge;
// rows left behind stay under the merged-away person and are reported
// deleted with it, not exported under the survivor.)
func (e *export) gone(w *work, out mapped, at time.Time) error {
	e.st.Gone++
	if rec := w.rec; rec.MergedInto != "" && e.fresh(at) {
		// Rows left under a merged-away person that make resources of
		// their own (an Immunization, not the merged Patient's
		// identifiers) are exported under no Patient: say so, by type and
		// count, so that nothing is lost silently.
		var left []string
		for _, r := range e.reducers {
			if _, isPatient := r.reducer.(patientMerge); !isPatient && len(out[r.typ]) > 0 {
				left = append(left, fmt.Sprintf("%d %s", len(out[r.typ]), r.typ))
			}
		}
		if len(left) > 0 {
			is := fhirout.Issue{Severity: "warning", Code: "business-rule",
				Diagnostics: "a person merged into another still has rows that map to " + strings.Join(left, ", ") +
					": they are exported under no Patient (listed deleted with the merged-away Patient); the registry should move them to the surviving person",
				Input: &fhirout.Input{Source: e.rel.name, ControlID: rec.Key, Field: "persons.merged_into"}}
			if err := e.issue(fhirout.OperationOutcome(is)); err != nil {
				return err
			}
		}
	}
	if e.q.Since.IsZero() || !e.inWindow(at) {
		return nil
	}
	del := func(typ, id string) error {
		if !e.want(typ) {
			return nil
		}
		e.st.Deleted++
		return e.sink.Deleted(typ, id, at)
	}
	for _, r := range e.reducers {
		recs := out[r.typ]
		switch red := r.reducer.(type) {
		case patientMerge:
			if err := del(r.typ, w.id); err != nil {
				return err
			}
		case doseReducer:
			drs := make([]*doseRec, len(recs))
			for i, rc := range recs {
				drs[i] = red.spec.read(rc.obj).rec(rc.obj, rc.msg, rc.ord, false)
			}
			doses, _ := reduceDoses(drs)
			for _, d := range doses {
				if err := del(r.typ, hashID(w.id+"|"+d.key)); err != nil {
					return err
				}
			}
		default:
			var ids []string
			for _, rc := range recs {
				ids = append(ids, rc.obj.ID())
			}
			slices.Sort(ids)
			for _, id := range slices.Compact(ids) {
				if err := del(r.typ, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// String names the exporter in logs: its source, never its DSN.
func (x *Relational) String() string { return fmt.Sprintf("relational source %s", x.name) }

package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
)

var (
	errDeleted  = errors.New("export deleted by the client")
	errShutdown = errors.New("export interrupted by server shutdown; start a new export")
)

// liveJob is the in-memory side of a queued or running job.
type liveJob struct {
	id, owner string
	store     string // jobRecord.Store
	principal *Principal
	ctx       context.Context
	cancel    context.CancelCauseFunc
	written   atomic.Int64
	started   atomic.Bool
	mu        sync.Mutex
	lastPoll  time.Time

	// persons sent of the total the exporter announced (0 = unknown)
	persons, personsTotal atomic.Int64
}

// kickoff handles $export at one level.
func (s *Server) kickoff(level string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		async, lenient := preferences(r)
		if !acceptsFHIRJSON(r) {
			s.outcome(w, r, http.StatusBadRequest, "not-supported", "kick-off requires the header Accept: application/fhir+json")
			return
		}
		if !async {
			s.outcome(w, r, http.StatusBadRequest, "not-supported", "kick-off requires the header Prefer: respond-async")
			return
		}
		if !p.MayExport(level) {
			s.outcome(w, r, http.StatusForbidden, "forbidden", "this client is not granted "+level+"-level export")
			return
		}
		var group *groupRow
		if level == levelGroup {
			g, err := s.store.group(r.Context(), mux.Vars(r)["id"])
			if err != nil {
				s.internalError(w, r, "reading the Group store", err)
				return
			}
			if g == nil || !visibleTo(g, p) {
				s.outcome(w, r, http.StatusNotFound, "not-found", "no Group with this id")
				return
			}
			group = g
		} else if p.Groups != nil {
			s.outcome(w, r, http.StatusForbidden, "forbidden", "this client may export only its Groups: use Group/[id]/$export")
			return
		}
		params, rerr := kickoffParams(r)
		if rerr == nil {
			var spec *exportSpec
			spec, rerr = s.buildSpec(params, level, lenient, r.Method == http.MethodPost, p)
			if rerr == nil {
				rerr = s.resolvePatients(r.Context(), spec, group, p)
			}
			if rerr == nil && r.Context().Err() != nil {
				return // the client left while the kick-off was checked: start nothing
			}
			if rerr == nil {
				s.startJob(w, r, spec, p)
				return
			}
		}
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
	}
}

// resolvePatients fixes the export's patients: a Group's members, checked
// against the `patient` parameter; unknown or non-member ids are a 400.
func (s *Server) resolvePatients(ctx context.Context, spec *exportSpec, g *groupRow, p *Principal) *requestError {
	if g != nil {
		return s.groupPatients(ctx, spec, g, p) // groupexport.go
	}
	if spec.patientRefs == nil {
		return nil
	}
	if pc, ok := s.exporter.(PatientChecker); ok {
		missing, err := pc.MissingPatients(ctx, spec.patientRefs)
		if err != nil {
			return &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "checking the patient parameter failed"}}}
		}
		if len(missing) > 0 {
			return badRequest("not-found", "parameter patient: %d of the references name no Patient on this server", len(missing))
		}
	}
	spec.query.PatientIDs = spec.patientRefs
	return nil
}

func (s *Server) startJob(w http.ResponseWriter, r *http.Request, spec *exportSpec, p *Principal) {
	ctx := r.Context()
	// The per-client check and the insert are not atomic across requests;
	// the lock makes them so within this process.
	s.mu.Lock()
	n, err := s.store.activeJobs(ctx, p.ClientID)
	if err != nil {
		s.mu.Unlock()
		s.internalError(w, r, "counting jobs", err)
		return
	}
	for _, end := range s.pendingEnds { // ended, though the store does not know yet
		if end.owner == p.ClientID {
			n--
		}
	}
	if n >= s.opts.PerClient {
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter.Seconds())*5))
		s.outcome(w, r, http.StatusTooManyRequests, "throttled",
			fmt.Sprintf("this client already has %d exports queued or running (limit %d); wait for one to finish or DELETE it", n, s.opts.PerClient))
		return
	}
	style := s.opts.ManifestStyle
	if p.Manifest != "" {
		style = p.Manifest
	}
	req := s.baseURL + trimPrefix(r.URL.Path, s.prefix)
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		req += "?" + r.URL.RawQuery
	}
	rec := &jobRecord{
		ID: newID(), Owner: p.ClientID, State: stateQueued, Level: spec.level, Request: req, Style: style,
		RequiresToken: s.opts.TokenURL != "" && !(p.SignedURLs && s.opts.URLSigner != nil), SinceGiven: spec.hasSince, Created: s.now(),
		Store: s.storeFor(p.ClientID),
	}
	if o := s.objectStore(rec.Store); o != nil {
		// Object-store files: pre-signed URLs need no token; redirect
		// checks it before handing one out.
		rec.FileURLs = o.FileURLs
		rec.RequiresToken = s.opts.TokenURL != "" && o.FileURLs == FileURLsRedirect
	}
	if err := s.store.insertJob(ctx, rec); err != nil {
		s.mu.Unlock()
		if diskFull(err) {
			s.log.Error("kick-off refused: disk full", "request_id", info(r).id, "err", err)
			w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter.Seconds())*30))
			s.outcome(w, r, http.StatusServiceUnavailable, "transient", "the server's disk is full; try again later")
			return
		}
		s.internalError(w, r, "recording the job", err)
		return
	}
	jctx, cancel := context.WithCancelCause(context.Background())
	lj := &liveJob{id: rec.ID, owner: p.ClientID, store: rec.Store, principal: p, ctx: jctx, cancel: cancel}
	s.running[rec.ID] = lj
	s.wg.Add(1)
	s.mu.Unlock()
	info(r).job = rec.ID
	s.log.Info("export job queued", "job", rec.ID, "client", p.ClientID, "level", spec.level, "types", spec.query.Types)
	go s.work(lj, spec)
	w.Header().Set("Content-Location", s.baseURL+"/bulkstatus/"+rec.ID)
	w.WriteHeader(http.StatusAccepted)
}

func trimPrefix(path, prefix string) string {
	if len(path) >= len(prefix) && path[:len(prefix)] == prefix {
		return path[len(prefix):]
	}
	return path
}

// work runs one job when a worker slot is free.
func (s *Server) work(j *liveJob, spec *exportSpec) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.running, j.id)
		s.mu.Unlock()
	}()
	select {
	case s.sem <- struct{}{}:
	case <-j.ctx.Done():
		s.ended(j, time.Time{}, nil, context.Cause(j.ctx))
		return
	}
	defer func() { <-s.sem }()
	start := s.now().UTC().Truncate(time.Millisecond)
	ok, err := s.store.setRunning(context.Background(), j.id, start)
	if cause := context.Cause(j.ctx); cause != nil {
		err = cause
	}
	if err != nil || !ok {
		if err == nil {
			err = errDeleted // deleted between kick-off and start
		}
		s.ended(j, start, nil, err)
		return
	}
	j.started.Store(true)
	spec.query.AsOf = start
	var files []jobFile
	var loss pipeline.Loss
	if spec.run != nil {
		files, err = spec.run(j, spec)
	} else {
		files, loss, err = s.export(j, spec)
	}
	if cause := context.Cause(j.ctx); cause != nil {
		err = cause
	}
	if loss.Records > 0 && err == nil {
		s.metrics.lost(loss)
		if s.opts.OnUnreadable == UnreadableWarn {
			s.log.Warn("export job left out records it could not read", "job", j.id, "records", loss.Records, "by_reason", loss.ByReason)
			if e := s.store.saveLoss(context.Background(), j.id, loss); e != nil {
				err = fmt.Errorf("recording the records left out: %w", e)
			}
		} else {
			err = &errIncomplete{loss}
		}
	}
	s.ended(j, start, files, err)
}

// ended records a job's outcome. Deleted jobs leave nothing behind; failed
// ones keep only their error message.
func (s *Server) ended(j *liveJob, start time.Time, files []jobFile, err error) {
	ctx := context.Background()
	now := s.now()
	dur := time.Duration(0)
	if !start.IsZero() {
		dur = now.Sub(start)
	}
	switch {
	case errors.Is(err, errDeleted):
		os.RemoveAll(s.jobDir(j.id))
		s.removeObjects(j.id)
		s.metrics.jobEnded(stateDeleted, dur)
		s.log.Info("export job deleted", "job", j.id)
		return
	case err != nil:
		os.RemoveAll(s.jobDir(j.id))
		s.removeObjects(j.id)
		end := jobEnd{owner: j.owner, state: stateFailed, msg: failureMessage(err), finished: now, expires: now.Add(s.opts.Expiry)}
		if _, e := s.store.finish(ctx, j.id, end.state, end.msg, nil, end.finished, end.expires); e != nil {
			s.log.Error("recording a failed job; the janitor retries", "job", j.id, "err", e)
			s.keepEnd(j.id, end)
		}
		s.metrics.jobEnded(stateFailed, dur)
		s.log.Warn("export job failed", "job", j.id, "err", err, "ms", dur.Milliseconds())
		return
	}
	end := jobEnd{owner: j.owner, state: stateDone, files: files, finished: now, expires: now.Add(s.opts.Expiry)}
	live, e := s.store.finish(ctx, j.id, end.state, "", files, end.finished, end.expires)
	if e != nil {
		s.log.Error("recording a finished job; the janitor retries", "job", j.id, "err", e)
		s.keepEnd(j.id, end)
	} else if !live { // deleted while its last lines were written
		os.RemoveAll(s.jobDir(j.id))
		s.removeObjects(j.id)
		return
	}
	var n, issues int64
	for _, f := range files {
		switch f.Kind {
		case "output":
			s.metrics.exported(f.Type, f.Count)
			n += f.Count
		case "error":
			issues += f.Count
		}
	}
	s.metrics.jobEnded(stateDone, dur)
	if issues > 0 {
		// Records were skipped or reported: an admin should look.
		s.log.Warn("export job done with issues in its error file", "job", j.id, "resources", n, "issues", issues, "files", len(files), "ms", dur.Milliseconds())
		return
	}
	s.log.Info("export job done", "job", j.id, "resources", n, "files", len(files), "ms", dur.Milliseconds())
}

// jobEnd is a job's outcome that the store could not record yet (its
// disk full): kept in memory, answered from there, recorded by the janitor.
type jobEnd struct {
	owner, state, msg string
	files             []jobFile
	finished, expires time.Time
}

func (s *Server) keepEnd(id string, end jobEnd) {
	s.mu.Lock()
	s.pendingEnds[id] = end
	s.mu.Unlock()
}

// pendingEnd returns the unrecorded outcome of job id, if any.
func (s *Server) pendingEnd(id string) (jobEnd, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end, ok := s.pendingEnds[id]
	return end, ok
}

// recordEnds retries recording the outcomes kept in memory.
func (s *Server) recordEnds(ctx context.Context) {
	s.mu.Lock()
	ends := maps.Clone(s.pendingEnds)
	s.mu.Unlock()
	for id, end := range ends {
		live, err := s.store.finish(ctx, id, end.state, end.msg, end.files, end.finished, end.expires)
		if err != nil {
			s.log.Error("recording an ended job", "job", id, "err", err)
			continue
		}
		if !live && end.state == stateDone { // deleted meanwhile
			s.removeFiles(id)
		}
		s.mu.Lock()
		delete(s.pendingEnds, id)
		s.mu.Unlock()
		s.log.Info("ended job recorded", "job", id, "state", end.state)
	}
}

// clientMessage is implemented by errors whose text is meant for the
// client (no server paths, no other clients' data).
type clientMessage interface{ ClientMessage() string }

// failureMessage is what a failed job's status tells the client: never the
// error's own text, which may hold server paths or source locations (the
// log has it, under the job id).
func failureMessage(err error) string {
	var cm clientMessage
	var we *writeError
	switch {
	case errors.Is(err, errShutdown):
		return errShutdown.Error()
	case errors.As(err, &cm):
		return "export failed: " + cm.ClientMessage()
	case storeError(err):
		return "export failed: the export file store could not be written (unreachable or refusing after retries); start a new export later"
	case diskFull(err):
		return "export failed: the server's disk is full; start a new export later"
	case errors.As(err, &we):
		return "export failed: writing the export files failed; start a new export"
	}
	return "export failed: internal error; start a new export (the server log has the details)"
}

// export writes the job's files: output per type, deleted Bundles and the
// error OperationOutcomes.
func (s *Server) export(j *liveJob, spec *exportSpec) ([]jobFile, pipeline.Loss, error) {
	dir := s.jobDir(j.id)
	kinds := []string{"output", "error", "deleted"}
	ws := make(map[string]resourceWriter, 3)
	obj := s.objectStore(j.store)
	for _, k := range kinds {
		var w resourceWriter
		var err error
		if obj != nil {
			w, err = objectWriter(j.ctx, obj.Store, j.id, k, s.opts.Rotate)
		} else if err = os.MkdirAll(filepath.Join(dir, k), 0o750); err == nil {
			w, err = s.opts.newWriter(filepath.Join(dir, k), s.opts.Rotate)
		}
		if err != nil {
			for _, w := range ws {
				w.Close()
			}
			return nil, pipeline.Loss{}, &writeError{fmt.Errorf("creating export files: %w", err)}
		}
		ws[k] = w
	}
	sink := &jobSink{
		ctx: j.ctx, job: j, owner: j.principal, out: ws["output"], errs: ws["error"], del: ws["deleted"],
		types: spec.query.Types, filters: spec.filters, elements: &spec.elements,
		seen: newRecentIDs(recentWindow), onUnreadable: s.opts.OnUnreadable,
	}
	err := sink.run(s, spec)
	if err == nil {
		err = sink.flushDeleted()
	}
	if err == nil && !sink.snapshot.IsZero() {
		// The exporter read a snapshot of its own (a database's clock):
		// that is the manifest's transactionTime.
		err = s.store.setTransactionTime(context.Background(), j.id, sink.snapshot)
	}
	if sink.dups > 0 {
		// The exporter broke its contract (each Type/id once): the files
		// stay correct, but the bug must not go unnoticed.
		s.log.Error("exporter sent resources already written; repeats dropped", "job", j.id, "repeats", sink.dups)
	}
	if err != nil || context.Cause(j.ctx) != nil {
		// Nothing of a failed or cancelled job is kept: uploads are
		// aborted rather than committed (no orphaned parts).
		for _, k := range kinds {
			if a, ok := ws[k].(interface{ Abort() }); ok {
				a.Abort()
			}
		}
	}
	var files []jobFile
	for _, k := range kinds {
		infos, cerr := ws[k].Close()
		if err == nil && cerr != nil {
			err = &writeError{cerr}
		}
		for _, fi := range infos {
			files = append(files, jobFile{Kind: k, Type: fi.Type, Name: filepath.Base(fi.Path), Count: fi.Count, Bytes: fi.Bytes})
		}
	}
	if err != nil {
		return nil, sink.loss, err
	}
	return files, sink.loss, nil
}

// jobSink receives the exporter's stream and applies the output-side
// options: type limits, _typeFilter, _elements, one line per resource id.
type jobSink struct {
	ctx            context.Context
	job            *liveJob
	owner          *Principal
	out, errs, del resourceWriter
	types          []string
	filters        typeFilters
	elements       *elementSpec
	// seen guards "each id once per export" over a sliding window: the
	// exporter streams person by person with ids derived from the person,
	// so repeats can only be near each other, and memory stays flat in the
	// export's size (a set of every id would not).
	seen    *recentIDs
	dups    int // repeats the exporter promised never to send
	pending []fhirout.Deleted
	n       int
	// loss is what the exporter could not read (Lost); onUnreadable the
	// policy for it.
	loss pipeline.Loss
	// snapshot is when the data exported was read, when the exporter
	// says (pipeline.SnapshotSink); zero = the job's start.
	snapshot     time.Time
	onUnreadable string
}

// writeError marks a failure to write files (disk full): the job fails.
type writeError struct{ err error }

func (e *writeError) Error() string { return "writing export files: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (k *jobSink) run(s *Server, spec *exportSpec) error {
	for _, w := range spec.warnings {
		if err := k.errs.Write(fhirout.OperationOutcome(w)); err != nil {
			return &writeError{err}
		}
	}
	if spec.withGroups {
		if err := s.exportGroups(k.ctx, k, spec); err != nil {
			return err
		}
	}
	return s.exportPersons(k, spec) // groupexport.go: members, cohorts, _since joiners
}

// recentWindow is how many recent ids a job remembers (1.5 MB).
const recentWindow = 1 << 16

// recentIDs is a set of the last n id hashes: a ring buffer in arrival
// order plus an open-addressing table (linear probing, load <= 1/2). A Go
// map cost a hashed lookup, an insert and a delete per exported resource;
// this table does the same in one or two cache lines.
type recentIDs struct {
	ring  []uint64
	pos   int
	full  bool
	table []uint64 // 0 is an empty slot
	shift uint     // 64 - log2(len(table))
	n     int
}

func newRecentIDs(n int) *recentIDs {
	size, bits := 2, uint(1)
	for size < 2*n {
		size, bits = size*2, bits+1
	}
	return &recentIDs{ring: make([]uint64, n), table: make([]uint64, size), shift: 64 - bits}
}

// zeroKey stands for a hash of 0, which marks empty slots.
const zeroKey = 0x9e3779b97f4a7c15

// home is h's preferred slot (Fibonacci hashing spreads FNV's low bits).
func (r *recentIDs) home(h uint64) int { return int((h * 0x9e3779b97f4a7c15) >> r.shift) }

// add reports whether h is among the recent ids, remembering it if not.
func (r *recentIDs) add(h uint64) bool {
	if h == 0 {
		h = zeroKey
	}
	mask := len(r.table) - 1
	i := r.home(h)
	for ; r.table[i] != 0; i = (i + 1) & mask {
		if r.table[i] == h {
			return true
		}
	}
	if r.full {
		r.remove(r.ring[r.pos])
		// removal may shift entries back over the free slot found above
		for i = r.home(h); r.table[i] != 0; i = (i + 1) & mask {
		}
	}
	r.table[i] = h
	r.n++
	r.ring[r.pos] = h
	if r.pos++; r.pos == len(r.ring) {
		r.pos, r.full = 0, true
	}
	return false
}

// remove deletes h (present) and shifts later entries of its probe run
// back, so lookups never need tombstones.
func (r *recentIDs) remove(h uint64) {
	mask := len(r.table) - 1
	i := r.home(h)
	for r.table[i] != h {
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; r.table[j] != 0; j = (j + 1) & mask {
		k := r.home(r.table[j])
		// the entry at j stays when its home lies cyclically in (i, j]
		if (i < j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		r.table[i] = r.table[j]
		i = j
	}
	r.table[i] = 0
	r.n--
}

// len is how many ids the window holds.
func (r *recentIDs) len() int { return r.n }

// idHash is FNV-1a 64 of t+"/"+id, computed in place: hash/fnv would
// copy both strings to byte slices for every resource.
func idHash(t, id string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(t); i++ {
		h = (h ^ uint64(t[i])) * prime
	}
	h = (h ^ '/') * prime
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * prime
	}
	return h
}

func (k *jobSink) Resource(r *fhirout.Object) error {
	if k.n++; k.n&1023 == 0 {
		if err := k.ctx.Err(); err != nil {
			return context.Cause(k.ctx)
		}
	}
	t := r.ResourceType()
	if !slices.Contains(k.types, t) && t != "Group" {
		return nil
	}
	if !k.filters.match(r) {
		return nil
	}
	if k.seen.add(idHash(t, r.ID())) {
		k.dups++
		return nil
	}
	k.elements.apply(r)
	if err := k.out.Write(r); err != nil {
		return &writeError{err}
	}
	k.job.written.Add(1)
	return nil
}

// Progress records how far the exporter is (pipeline.ProgressSink).
func (k *jobSink) Progress(done, total int64) {
	k.job.persons.Store(done)
	k.job.personsTotal.Store(total)
}

const deletedPerBundle = 100

func (k *jobSink) Deleted(t, id string, at time.Time) error {
	if err := k.ctx.Err(); err != nil {
		return context.Cause(k.ctx)
	}
	if !slices.Contains(k.types, t) {
		return nil
	}
	if k.seen.add(idHash(t, id)) {
		k.dups++
		return nil // never in both output and deleted
	}
	// The id is kept for its Bundle, past the call: a copy
	// (pipeline.ReleasingSink).
	k.pending = append(k.pending, fhirout.Deleted{Type: t, ID: strings.Clone(id), At: at})
	if len(k.pending) >= deletedPerBundle {
		return k.flushDeleted()
	}
	return nil
}

func (k *jobSink) flushDeleted() error {
	if len(k.pending) == 0 {
		return nil
	}
	b := fhirout.DeletedBundle(k.pending...)
	k.pending = k.pending[:0]
	if err := k.del.Write(b); err != nil {
		return &writeError{err}
	}
	return nil
}

func (k *jobSink) Issue(oo *fhirout.Object) error {
	// An exporter that only reports issues must stop on DELETE too.
	if err := k.ctx.Err(); err != nil {
		return context.Cause(k.ctx)
	}
	if err := k.errs.Write(oo); err != nil {
		return &writeError{err}
	}
	return nil
}

// ReleasesObjects: Resource and Issue write each object before they
// return (type limits, _typeFilter and the recent ids read it, _elements
// trims it in place) and keep nothing of it (pipeline.ReleasingSink).
func (k *jobSink) ReleasesObjects() {}

var _ pipeline.ReleasingSink = (*jobSink)(nil)

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error("internal error", "request_id", info(r).id, "what", what, "err", err)
	s.outcome(w, r, http.StatusInternalServerError, "exception", what+" failed")
}

// Snapshot records the time of the snapshot the exporter read
// (pipeline.SnapshotSink); of several (a Group's two passes), the
// earliest, so a client's next _since misses nothing.
func (k *jobSink) Snapshot(at time.Time) {
	at = at.UTC().Truncate(time.Millisecond)
	if k.snapshot.IsZero() || at.Before(k.snapshot) {
		k.snapshot = at
	}
}

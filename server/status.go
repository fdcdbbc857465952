package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/iisbridge/iisbridge/fhirout"
)

// lookupJob finds the request's job for its client; anything the client
// may not see (unknown, deleted, expired, another client's) is a 404.
func (s *Server) lookupJob(w http.ResponseWriter, r *http.Request) *jobRecord {
	id := mux.Vars(r)["job"]
	info(r).job = id
	rec, err := s.store.job(r.Context(), id)
	if err != nil {
		s.internalError(w, r, "reading the job store", err)
		return nil
	}
	if rec == nil || rec.State == stateDeleted || rec.Owner != principal(r).ClientID {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no export job with this id (unknown, deleted or not yours)")
		return nil
	}
	if !rec.Expires.IsZero() && !s.now().Before(rec.Expires) {
		s.outcome(w, r, http.StatusNotFound, "not-found", "this export has expired; start a new export")
		return nil
	}
	return rec
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	// Status answers (manifests above all) name the job's files: no cache
	// may keep them past a DELETE or expiry.
	w.Header().Set("Cache-Control", "no-store")
	rec := s.lookupJob(w, r)
	if rec == nil {
		return
	}
	retry := strconv.Itoa(int(s.opts.RetryAfter / time.Second))
	if end, ok := s.pendingEnd(rec.ID); ok && end.state == stateFailed {
		rec.State, rec.Error = end.state, end.msg
	}
	switch rec.State {
	case stateQueued, stateRunning:
		s.mu.Lock()
		lj := s.running[rec.ID]
		s.mu.Unlock()
		progress := "queued"
		if lj != nil {
			lj.mu.Lock()
			now := time.Now()
			tooFast := !lj.lastPoll.IsZero() && now.Sub(lj.lastPoll) < s.opts.MinPollSpacing
			if !tooFast {
				lj.lastPoll = now
			}
			lj.mu.Unlock()
			if tooFast {
				w.Header().Set("Retry-After", retry)
				s.outcome(w, r, http.StatusTooManyRequests, "throttled", "polled faster than Retry-After advises")
				return
			}
			if lj.started.Load() {
				progress = "running: " + strconv.FormatInt(lj.written.Load(), 10) + " resources written"
				if done, total := lj.persons.Load(), lj.personsTotal.Load(); total > 0 {
					// 99 % at most until the files are closed and the job is done.
					pct := min(99, 100*done/total)
					progress = fmt.Sprintf("running: %d %% (%d of %d persons), %d resources written", pct, done, total, lj.written.Load())
				}
			}
		}
		w.Header().Set("X-Progress", progress)
		w.Header().Set("Retry-After", retry)
		w.WriteHeader(http.StatusAccepted)
	case stateFailed:
		writeResource(w, http.StatusInternalServerError, fhirout.OperationOutcome(fhirout.Issue{
			Severity: "fatal", Code: "exception", Diagnostics: rec.Error}))
	case stateDone:
		m, err := s.manifest(r.Context(), rec)
		if err != nil {
			s.internalError(w, r, "signing file URLs", err)
			return
		}
		if err := s.addLoss(r.Context(), m, rec); err != nil {
			s.internalError(w, r, "reading the job store", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Expires", rec.Expires.UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusOK)
		w.Write(append(m.AppendJSON(nil), '\n'))
	}
}

// manifest builds the completion manifest. Style stu2 (default) has
// "request" and "error"; stu4 drops "request" and calls errors "outcome".
// A job whose files need no token (auth on, requiresAccessToken false)
// gets URLs signed for its owner now, when the manifest is served.
// Files in an object store get the store's pre-signed URLs (presigned)
// or the server's route (redirect).
func (s *Server) manifest(ctx context.Context, rec *jobRecord) (*fhirout.Object, error) {
	obj := s.objectStore(rec.Store)
	if rec.Store != "" && obj == nil {
		return nil, fmt.Errorf("job %s: its store %q is no longer configured", rec.ID, rec.Store)
	}
	sign := obj == nil && !rec.RequiresToken && s.opts.TokenURL != "" && s.opts.URLSigner != nil
	m := fhirout.NewObject()
	m.Set("transactionTime", fhirout.FormatInstant(rec.TransactionTime))
	if rec.Style != "stu4" {
		m.Set("request", rec.Request)
	}
	m.Set("requiresAccessToken", rec.RequiresToken)
	lists := map[string][]any{"output": {}, "deleted": {}, "error": {}}
	for _, f := range rec.Files {
		it := fhirout.NewObject()
		it.Set("type", f.Type)
		u := s.baseURL + "/bulkfiles/" + rec.ID + "/" + f.Kind + "/" + f.Name
		if obj != nil {
			var err error
			if u, err = s.objectURL(ctx, obj, rec, f); err != nil {
				return nil, err
			}
		} else if sign {
			var err error
			if u, err = s.opts.URLSigner.SignFileURL(u, FileRef{Job: rec.ID, Kind: f.Kind, Name: f.Name, Client: rec.Owner}); err != nil {
				return nil, err
			}
		}
		it.Set("url", u)
		it.Set("count", fhirout.Number(strconv.FormatInt(f.Count, 10)))
		lists[f.Kind] = append(lists[f.Kind], it)
	}
	m.Set("output", lists["output"])
	if rec.SinceGiven {
		m.Set("deleted", lists["deleted"])
	}
	if rec.Style == "stu4" {
		m.Set("outcome", lists["error"])
	} else {
		m.Set("error", lists["error"])
	}
	return m, nil
}

// deleteJob cancels a running job or releases a finished one's files.
func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	rec := s.lookupJob(w, r)
	if rec == nil {
		return
	}
	if err := s.store.markDeleted(r.Context(), rec.ID); err != nil {
		s.internalError(w, r, "deleting the job", err)
		return
	}
	s.mu.Lock()
	lj := s.running[rec.ID]
	s.mu.Unlock()
	if lj != nil {
		// The worker removes the files when it stops; but it may have
		// recorded the job done just before the DELETE, with nothing left
		// to notice the cancel, so remove them here too. A failure here is
		// the worker still writing: its own removal follows.
		lj.cancel(errDeleted)
		removeAll(s.jobDir(rec.ID))
		s.removeObjects(rec.ID)
	} else {
		s.removeFiles(rec.ID)
	}
	s.log.Info("export job deleted by client", "job", rec.ID)
	writeResource(w, http.StatusAccepted, fhirout.OperationOutcome(fhirout.Issue{
		Severity: "information", Code: "informational", Diagnostics: "export deleted; its status and files are gone"}))
}

// removeFiles deletes a job's directory at once, even while a download
// is in progress: the open file keeps serving that client and the kernel
// frees its blocks when the last reader closes, so no name of a deleted or
// expired job stays on disk, whatever the reader does or however the
// process ends. A failed removal is retried by the janitor's sweep.
// Objects in a store are deleted too (removeObjects).
func (s *Server) removeFiles(id string) bool {
	if err := removeAll(s.jobDir(id)); err != nil {
		s.log.Error("removing export files", "job", id, "err", err)
		return false
	}
	return s.removeObjects(id)
}

// sweepJobDirs removes what no finished job owns under the jobs
// directory: directories of deleted, failed or unknown jobs (a crash
// between marking a job deleted and removing its files, a removal that
// failed) and gzip temporaries a killed process left. It runs at start-up,
// before any job can run, with startup set; later rounds skip the
// directories of queued and running jobs and leave temporaries alone
// (a download may be compressing).
func (s *Server) sweepJobDirs(ctx context.Context, startup bool) {
	ents, err := os.ReadDir(s.jobsDir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.log.Error("sweeping export files", "err", err)
		}
		return
	}
	for _, e := range ents {
		id := e.Name()
		rec, err := s.store.job(ctx, id)
		if err != nil {
			s.log.Error("sweeping export files", "job", id, "err", err)
			continue
		}
		switch {
		case rec != nil && (rec.State == stateQueued || rec.State == stateRunning):
			continue
		case rec != nil && rec.State == stateDone:
			if startup {
				s.removeTemporaries(id)
			}
			continue
		}
		if s.removeFiles(id) {
			s.log.Info("removed leftover export files", "job", id)
		}
	}
}

// removeTemporaries deletes a finished job's .gz-* files: gzip copies
// that a killed process did not complete.
func (s *Server) removeTemporaries(id string) {
	tmps, _ := filepath.Glob(filepath.Join(s.jobDir(id), "*", ".gz-*"))
	for _, t := range tmps {
		if err := os.Remove(t); err != nil {
			s.log.Error("removing a gzip temporary", "job", id, "err", err)
		}
	}
}

// janitor purges expired exports and refreshes Groups on schedule.
func (s *Server) janitor() {
	defer s.wg.Done()
	every := min(max(s.opts.Expiry/4, time.Second), time.Minute)
	purge := time.NewTicker(every)
	defer purge.Stop()
	var refresh <-chan time.Time
	if s.opts.GroupRefresh > 0 {
		t := time.NewTicker(s.opts.GroupRefresh)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-purge.C:
			s.purgeExpired(context.Background())
		case <-refresh:
			if err := s.RefreshGroups(context.Background()); err != nil {
				s.log.Error("refreshing Groups", "err", err)
			}
		}
	}
}

// purgeExpired deletes expired jobs' files and marks them deleted, and
// sweeps files of deleted jobs whose removal failed before.
func (s *Server) purgeExpired(ctx context.Context) {
	ids, err := s.store.expiredJobs(ctx, s.now())
	if err != nil {
		s.log.Error("listing expired jobs", "err", err)
		return
	}
	for _, id := range ids {
		if !s.removeFiles(id) {
			continue
		}
		if err := s.store.markDeleted(ctx, id); err != nil {
			s.log.Error("expiring job", "job", id, "err", err)
			continue
		}
		s.log.Info("export job expired", "job", id)
	}
	s.recordEnds(ctx)
	s.sweepJobDirs(ctx, false)
	s.retryObjectRemovals()
	if err := s.store.forgetJobs(ctx, s.now().Add(-7*24*time.Hour)); err != nil {
		s.log.Error("forgetting old jobs", "err", err)
	}
}

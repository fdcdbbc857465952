package server

// Group/$roster-import: a roster (CSV of demographics) matched against
// the bridge's Patients, creating or updating a client-owned member-based
// Group from the rows that match.
//
//	POST [base]/Group/$roster-import?name=Kindergarten%202026   a new Group
//	POST [base]/Group/[id]/$roster-import[?mode=replace]        the client's own member-based Group
//	Content-Type: text/csv; Prefer: respond-async; Accept: application/fhir+json
//
// The CSV has a header row naming its columns (match/roster: id, given,
// family, birth_date, sex, postal_code, phone, identifiers as
// system|value;...). The import runs as a job of the export machinery
// (status polling, manifest, downloads, DELETE, the per-client limit),
// with the matcher and candidate store of $bulk-match. The manifest has
// two outputs:
//   - Bundle: one searchset Bundle per roster row, in row order, tied to
//     the row by the match-resource extension (Patient/<row id, or row
//     number>), its candidates graded and scored as $bulk-match gives them
//     (ids only for clients bound to Groups), and an OperationOutcome
//     entry saying what became of the row: matched (added to the Group),
//     ambiguous (several candidates, not added), not-found, or invalid
//     (the row could not be read: file:line:column and why, never the
//     value), coded in issue.details (RosterOutcomeSystem). No row is
//     left out.
//   - Group: the Group after the import (summary: no member list; read it
//     or export it).
//
// Only a single certain match joins the Group (never a guess). mode=add
// (default) adds the matched Patients to the Group's members;
// mode=replace makes them its members. A client whose reach is bounded
// (bound to Groups, or without Patient-level export) matches only within
// it: Patients outside are not candidates. Scopes: system/Group.c (new)
// or system/Group.u (update), and Patient read.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/match/roster"
	"github.com/iisbridge/iisbridge/pipeline"
)

// RosterOutcomeSystem codes what became of a roster row
// (OperationOutcome.issue.details.coding): matched, ambiguous,
// not-found, invalid.
const RosterOutcomeSystem = "urn:iisbridge:roster-outcome"

const (
	levelRoster   = "roster-import"
	maxRosterBody = 512 << 20
	rosterDir     = "rosters" // uploaded rosters waiting for their job (DataDir)
)

// rosterRequest is what a $roster-import kick-off fixed.
type rosterRequest struct {
	path    string    // the spooled CSV
	group   *groupRow // nil: create one named name
	name    string
	replace bool
	p       *Principal
}

func (s *Server) rosterImport(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	id, existing := mux.Vars(r)["id"]
	op := byte('c')
	if existing {
		op = 'u'
	}
	if !s.matchOperation(w, r, p, "$roster-import") || !s.mayWriteGroups(w, r, op) {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "text/csv" {
		writeResource(w, http.StatusUnsupportedMediaType, fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: "not-supported",
			Diagnostics: "$roster-import wants the roster as Content-Type: text/csv (a header row, then one row per person)"}))
		return
	}
	req := &rosterRequest{p: p, name: r.URL.Query().Get("name")}
	switch mode := r.URL.Query().Get("mode"); mode {
	case "", "add":
	case "replace":
		req.replace = true
	default:
		s.outcome(w, r, http.StatusBadRequest, "invalid", fmt.Sprintf("mode: want add or replace, not %q", mode))
		return
	}
	if existing {
		if req.group = s.ownGroup(w, r, id); req.group == nil {
			return
		}
		if req.group.Kind != kindMember {
			s.outcome(w, r, http.StatusUnprocessableEntity, "business-rule", "a criteria-based Group has no member list: a roster cannot be imported into it")
			return
		}
		info(r).group = id
	} else if req.replace {
		s.outcome(w, r, http.StatusBadRequest, "invalid", "mode=replace needs a Group: POST [base]/Group/[id]/$roster-import")
		return
	} else if req.name == "" {
		req.name = "Roster " + s.now().UTC().Format(time.DateOnly)
	}
	path, rerr := s.spoolRoster(r)
	if rerr != nil {
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
		return
	}
	req.path = path
	spec := &exportSpec{level: levelRoster, query: pipeline.Query{Types: []string{"Bundle", "Group"}}}
	spec.run = func(j *liveJob, sp *exportSpec) ([]jobFile, error) {
		defer os.Remove(path)
		return s.runRosterImport(j, sp.query.AsOf, req)
	}
	s.startJob(w, r, spec, p)
	if _, queued := s.jobOf(info(r).job); !queued {
		os.Remove(path) // refused (429, disk full): no job will read it
	}
}

// spoolRoster saves the body to a file for the job and checks its header
// (400 naming line:column, before any job is queued).
func (s *Server) spoolRoster(r *http.Request) (string, *requestError) {
	dir := filepath.Join(s.opts.DataDir, rosterDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "the server could not store the roster"}}}
	}
	f, err := os.CreateTemp(dir, "roster-*.csv")
	if err != nil {
		return "", &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "the server could not store the roster"}}}
	}
	n, err := io.Copy(f, io.LimitReader(r.Body, maxRosterBody+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	fail := func(re *requestError) (string, *requestError) { os.Remove(f.Name()); return "", re }
	switch {
	case err != nil:
		return fail(badRequest("invalid", "reading the roster: %v", err))
	case n > maxRosterBody:
		return fail(&requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly",
			Diagnostics: fmt.Sprintf("roster larger than %d bytes; split it over several imports (mode=add)", maxRosterBody)}}})
	}
	in, err := os.Open(f.Name())
	if err != nil {
		return fail(&requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "the server could not read the roster back"}}})
	}
	defer in.Close()
	if _, err := roster.NewReader(in, "roster"); err != nil {
		return fail(badRequest("structure", "%v", err))
	}
	return f.Name(), nil
}

// jobOf says whether job id is known to this process (queued or running).
func (s *Server) jobOf(id string) (*liveJob, bool) {
	if id == "" {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.running[id]
	return j, ok
}

// runRosterImport is the job: every row matched and reported, the
// matched Patients stored in the Group at the end (all or nothing).
func (s *Server) runRosterImport(j *liveJob, asOf time.Time, req *rosterRequest) ([]jobFile, error) {
	ctx := j.ctx
	m, err := s.matcher()
	if err != nil {
		return nil, err
	}
	st, err := s.candidateStore(ctx, m, asOf)
	if err != nil {
		return nil, err
	}
	pop, err := s.population(ctx, req.p)
	if err != nil {
		return nil, fmt.Errorf("reading the client's population: %w", err)
	}
	in, err := os.Open(req.path)
	if err != nil {
		return nil, fmt.Errorf("reading the roster: %w", err)
	}
	defer in.Close()
	rd, err := roster.NewReader(in, "roster")
	if err != nil {
		return nil, err
	}
	var cands match.Candidates = st
	if pop != nil {
		cands = st.Within(func(id string) bool { return pop[id] })
	}
	wr, err := s.outputWriter(j)
	if err != nil {
		return nil, err
	}
	defer func() {
		if wr != nil {
			wr.Close()
		}
	}()
	// Rows that could not be read, by position (those in flight only):
	// next runs in the matcher's reader goroutine, emit in this one, both
	// in row order.
	var invMu sync.Mutex
	invalid := map[int]string{}
	read, emitted := 0, 0
	next := func() (match.Record, bool, error) {
		r, ok, err := rd.Next()
		var re *roster.RowError
		if errors.As(err, &re) {
			invMu.Lock()
			invalid[read] = re.Msg
			invMu.Unlock()
			r, ok, err = match.Record{ID: re.ID}, true, nil
		}
		if ok {
			read++
		}
		return r, ok, err
	}
	mreq := &matchRequest{count: defaultMatchCount, idsOnly: req.p.Groups != nil}
	var members []newMember
	seen := map[string]bool{}
	counts := map[string]int{}
	err = m.All(ctx, cands, next, 0, func(in match.Record, res match.Result) error {
		outcome, msg := string(res.Outcome), ""
		invMu.Lock()
		why, bad := invalid[emitted]
		delete(invalid, emitted)
		invMu.Unlock()
		emitted++
		if bad {
			outcome, msg = "invalid", "row not read: "+why
			res = match.Result{Input: in.ID, Outcome: match.NotFound}
		}
		switch {
		case outcome == "invalid":
		case res.Outcome == match.Matched:
			pid := res.Best().ID
			msg = "matched: Patient/" + pid + " joins the Group"
			if seen[pid] {
				msg = "matched: Patient/" + pid + ", already matched by an earlier row"
			} else {
				seen[pid] = true
				members = append(members, newMember{PatientID: pid})
			}
		case res.Outcome == match.Ambiguous:
			msg = fmt.Sprintf("ambiguous: %d candidates and no single certain one; not added (never guessed)", len(res.Candidates))
		default:
			msg = "not-found: no Patient on this server matches; not added"
		}
		counts[outcome]++
		b := s.matchBundle(st, in, res, mreq)
		appendOutcome(b, outcome, msg)
		if err := wr.Write(b); err != nil {
			return &writeError{err}
		}
		j.written.Add(1)
		j.persons.Add(1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	g, err := s.storeRoster(ctx, req, members)
	if err != nil {
		return nil, err
	}
	gres, _, err := s.groupResource(ctx, *g, memberPage{none: true})
	if err != nil {
		return nil, err
	}
	if err := wr.Write(gres); err != nil {
		return nil, &writeError{err}
	}
	infos, err := wr.Close()
	wr = nil
	if err != nil {
		return nil, &writeError{err}
	}
	s.log.Info("roster imported", "job", j.id, "group", g.ID, "client", req.p.ClientID, "matched", counts["matched"],
		"ambiguous", counts["ambiguous"], "not_found", counts["not-found"], "invalid", counts["invalid"], "added", len(members))
	var files []jobFile
	for _, fi := range infos {
		files = append(files, jobFile{Kind: "output", Type: fi.Type, Name: filepath.Base(fi.Path), Count: fi.Count, Bytes: fi.Bytes})
	}
	return files, nil
}

// appendOutcome adds an OperationOutcome entry saying what became of the
// row (search.mode outcome).
func appendOutcome(b *fhirout.Object, outcome, msg string) {
	sev, code := "information", "informational"
	switch outcome {
	case "invalid":
		sev, code = "error", "invalid"
	case string(match.NotFound):
		code = "not-found"
	case string(match.Ambiguous):
		sev, code = "warning", "multiple-matches"
	}
	oo := fhirout.OperationOutcome(fhirout.Issue{Severity: sev, Code: code, Diagnostics: msg})
	if is, _ := oo.Get("issue"); is != nil {
		if l, _ := is.([]any); len(l) > 0 {
			if first, ok := l[0].(*fhirout.Object); ok {
				c := fhirout.NewObject()
				c.Set("system", RosterOutcomeSystem)
				c.Set("code", outcome)
				first.Child("details").Set("coding", []any{c})
			}
		}
	}
	e := fhirout.NewObject()
	e.Set("resource", oo)
	srch := fhirout.NewObject()
	srch.Set("mode", "outcome")
	e.Set("search", srch)
	entries, _ := b.Get("entry")
	list, _ := entries.([]any)
	if outcome != "invalid" && len(list) > 0 {
		// $bulk-match's own outcome entry (no candidate) says the same.
		if last, ok := list[len(list)-1].(*fhirout.Object); ok && text(last.Child("search"), "mode") == "outcome" {
			list = list[:len(list)-1]
		}
	}
	if outcome == "invalid" {
		list = nil
	}
	b.Set("entry", append(list, e))
}

// storeRoster creates the Group or changes the existing one.
func (s *Server) storeRoster(ctx context.Context, req *rosterRequest, ms []newMember) (*groupRow, error) {
	now := s.now()
	if req.group == nil {
		o := fhirout.NewResource("Group")
		o.Set("type", "person")
		o.Set("actual", true)
		o.Set("name", req.name)
		g, _, rerr := s.checkGroup(ctx, o, req.p)
		if rerr != nil {
			return nil, fmt.Errorf("creating the Group: %s", rerr.issues[0].Diagnostics)
		}
		g.ID = "g-" + newID()[:24]
		if err := s.store.createGroup(ctx, g, ms, now); err != nil {
			return nil, fmt.Errorf("creating the Group: %w", err)
		}
		req.group = g
	} else if req.replace {
		g := *req.group
		g.Version = 0
		ok, err := s.store.updateGroup(ctx, &g, ms, now)
		if err != nil {
			return nil, fmt.Errorf("replacing the Group's members: %w", err)
		}
		if !ok {
			return nil, errors.New("the Group was deleted during the import")
		}
	} else if err := s.store.addMembers(ctx, req.group.ID, ms, now); err != nil {
		return nil, fmt.Errorf("adding the Group's members: %w", err)
	}
	g, err := s.store.group(ctx, req.group.ID)
	if err == nil && g == nil {
		err = errors.New("the Group was deleted during the import")
	}
	return g, err
}

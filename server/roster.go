package server

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"iisbridge/fhirout"
	"iisbridge/match"
	"iisbridge/pipeline"
)

// Roster upload: POST [base]/Group/[id]/$roster with a CSV body (text/csv)
// fills a client-managed member Group from a list of demographics, as an
// asynchronous job (Prefer: respond-async; status, manifest and DELETE as
// for $export). Columns, named in a header row, any order: given, family,
// birth_date (YYYY-MM-DD), sex (F, M, female, male), postal_code, phone,
// identifier (system|value, several separated by ";"). Each row is matched
// like a $bulk-match input and answered by one searchset Bundle (input
// `Patient/row-N`, N counting data rows from 1) tagged with its outcome:
//
//	matched    one certain candidate and no other certain or probable one: added to the Group
//	ambiguous  candidates, but no single certain one: listed, not added
//	not-found  no candidate
//	invalid    neither an identifier nor given, family and birth date
//
// ?mode=append (default) adds the matched Patients; ?mode=replace also
// makes the Group's other members inactive. Nothing is dropped silently:
// the output has one Bundle per data row, in order.

// RosterOutcomeSystem is the code system of the roster outcome tags.
const RosterOutcomeSystem = "urn:iisbridge:roster-outcome"

const maxRosterRows = 100000

// rosterJob is the roster part of a matchJob.
type rosterJob struct {
	groupID string
	owner   string
	replace bool
	invalid map[int]bool // data rows (0-based) without enough to match on
}

var rosterColumns = []string{"given", "family", "birth_date", "sex", "postal_code", "phone", "identifier"}

// roster handles POST [base]/Group/[id]/$roster.
func (s *Server) roster(w http.ResponseWriter, r *http.Request) {
	if !s.mayWriteGroups(w, r, 'u') {
		return
	}
	async, _ := preferences(r)
	if !async || !acceptsFHIRJSON(r) {
		s.outcome(w, r, http.StatusBadRequest, "not-supported", "$roster runs as a job: send Prefer: respond-async and Accept: application/fhir+json")
		return
	}
	g := s.ownGroup(w, r, mux.Vars(r)["id"])
	if g == nil {
		return
	}
	if g.Kind != kindMember {
		s.outcome(w, r, http.StatusUnprocessableEntity, "business-rule", "a criteria-based Group has no member list")
		return
	}
	rj := &rosterJob{groupID: g.ID, owner: g.Owner, invalid: map[int]bool{}}
	switch m := r.URL.Query().Get("mode"); m {
	case "", "append":
	case "replace":
		rj.replace = true
	default:
		s.outcome(w, r, http.StatusBadRequest, "not-supported", "mode="+m+": want append or replace")
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "text/csv" {
		s.outcome(w, r, http.StatusUnsupportedMediaType, "not-supported", "$roster wants a CSV body (Content-Type: text/csv)")
		return
	}
	inputs, rerr := readRoster(io.LimitReader(r.Body, maxGroupBody+1), rj)
	if rerr != nil {
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
		return
	}
	p := principal(r)
	mj := &matchJob{inputs: inputs, count: defaultMatchCnt, owner: p, roster: rj}
	spec := &exportSpec{level: levelGroup, groupID: g.ID, query: pipeline.Query{Types: []string{"Bundle"}}, match: mj}
	s.startJob(w, r, spec, p)
}

// readRoster parses the CSV into match inputs.
func readRoster(rd io.Reader, rj *rosterJob) ([]matchInput, *requestError) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, badRequest("structure", "roster: a header row naming the columns is required (%s)", strings.Join(rosterColumns, ", "))
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(rosterColumns, h) {
			return nil, badRequest("structure", "roster line 1: unknown column %q (known: %s)", h, strings.Join(rosterColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, badRequest("structure", "roster line 1: column %q twice", h)
		}
		col[h] = i
	}
	sexes := map[string]string{"f": "female", "female": "female", "m": "male", "male": "male"}
	var out []matchInput
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, badRequest("structure", "roster line %d: %v", pe.Line, pe.Err)
			}
			return nil, badRequest("structure", "roster: %v", err)
		}
		if len(out) == maxRosterRows {
			return nil, &requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly", Diagnostics: fmt.Sprintf("roster: at most %d rows per upload", maxRosterRows)}}}
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		p := match.Person{Given: get("given"), Family: get("family"), BirthDate: get("birth_date"), Sex: sexes[strings.ToLower(get("sex"))],
			PostalCode: get("postal_code"), Phone: get("phone")}
		for _, id := range strings.Split(get("identifier"), ";") {
			if sys, val, ok := strings.Cut(strings.TrimSpace(id), "|"); ok && val != "" {
				p.Identifiers = append(p.Identifiers, match.Identifier{System: sys, Value: val})
			} else if id = strings.TrimSpace(id); id != "" {
				p.Identifiers = append(p.Identifiers, match.Identifier{Value: id})
			}
		}
		n := len(out)
		if len(p.Identifiers) == 0 && (p.Given == "" || p.Family == "" || p.BirthDate == "") {
			rj.invalid[n] = true
		}
		out = append(out, matchInput{clientID: fmt.Sprintf("row-%d", n+1), norm: match.Normalize(p)})
	}
	if len(out) == 0 {
		return nil, badRequest("required", "roster: no data rows")
	}
	return out, nil
}

// rosterOutcome classifies one row's candidates.
func rosterOutcome(rj *rosterJob, i int, best []candidate) string {
	switch {
	case rj.invalid[i]:
		return "invalid"
	case len(best) == 0:
		return "not-found"
	case best[0].grade == match.Certain && (len(best) == 1 || (best[1].grade != match.Certain && best[1].grade != match.Probable)):
		return "matched"
	}
	return "ambiguous"
}

// applyRoster stores the matched rows in the Group.
func (s *Server) applyRoster(ctx context.Context, rj *rosterJob, matched []string) error {
	g, err := s.store.group(ctx, rj.groupID)
	if err != nil {
		return err
	}
	if g == nil || g.Owner != rj.owner {
		return &clientError{"the Group was deleted while its roster was matched; nothing was changed"}
	}
	now := s.now()
	ms := make([]newMember, 0, len(matched))
	for _, id := range matched {
		ms = append(ms, newMember{PatientID: id})
	}
	if len(ms) > 0 {
		if err := s.store.addMembers(ctx, rj.groupID, ms, now); err != nil {
			return err
		}
	}
	if rj.replace {
		keep := map[string]bool{}
		for _, id := range matched {
			keep[id] = true
		}
		var drop []string
		err := s.store.eachMember(ctx, rj.groupID, func(m member) error {
			if !m.Inactive && !keep[m.PatientID] {
				drop = append(drop, m.PatientID)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(drop) > 0 {
			if _, err := s.store.removeMembers(ctx, rj.groupID, drop, now); err != nil {
				return err
			}
		}
	}
	s.log.Info("group roster applied", "group", rj.groupID, "client", rj.owner, "matched", len(matched), "replace", rj.replace)
	return nil
}

func outcomeTag(code string) *fhirout.Object {
	c := fhirout.NewObject()
	c.Set("system", RosterOutcomeSystem)
	c.Set("code", code)
	return c
}

package server

// Patient/$bulk-match, the draft operation of the Bulk Data IG's
// bulk-match branch (https://build.fhir.org/ig/HL7/bulk-data/branches/bulk-match/match.html):
// an asynchronous POST of a Parameters resource with 1..* `resource`
// Patients (each with the client's id), `onlySingleMatch`,
// `onlyCertainMatches` and `count`, run as a job of the export machinery
// (same status polling, manifest, downloads, DELETE, per-client limit).
// The output is Bundle.ndjson: one `searchset` Bundle per input Patient,
// in input order, tied to it by the meta extension match-resource, its
// entries ranked by search.score with the match-grade extension. No
// input is dropped: one with no candidate gets a Bundle holding only an
// OperationOutcome entry (search.mode outcome) that says not-found or
// ambiguous.
//
// Choices where the draft leaves room:
//   - The matcher is package match (Options.Matcher; nil: its default
//     configuration). Candidates graded possible or better are returned,
//     at most `count` (default 5) per input; onlyCertainMatches keeps the
//     certain ones; onlySingleMatch returns a candidate only when exactly
//     one is certain (the outcome "matched"), else an empty Bundle with
//     the ambiguity explained.
//   - Entries carry a SUBSETTED Patient: the id and the demographics
//     compared; for clients bound to Groups the id only (they learn
//     whether a person they named is known, nothing more). The full
//     Patient comes from an export.
//   - The candidates are the Patients of the candidate store
//     (candidates.go), brought up to the job's snapshot at its start:
//     only the persons sharing a blocking key with an input are read.
//     Records the exporter could not read fail the job (on_unreadable:
//     fail) or are logged (warn), as for an export.
//   - At most maxMatchInputs Patients per request (413 beyond); scope:
//     the client must be allowed to read Patient.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/pipeline"
)

const (
	maxMatchInputs    = 10000
	maxMatchBody      = 64 << 20
	defaultMatchCount = 5

	matchResourceExt = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/match-resource"
	matchGradeExt    = "http://hl7.org/fhir/StructureDefinition/match-grade"
	levelBulkMatch   = "bulk-match"
	opBulkMatch      = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/bulk-match"
)

// matchRequest is a parsed $bulk-match Parameters body.
type matchRequest struct {
	inputs      []match.Record
	onlySingle  bool
	onlyCertain bool
	count       int
	idsOnly     bool // the client is bound to Groups
}

// matchOperation checks what every matching operation ($bulk-match,
// $roster-import) requires of a kick-off: a FHIR JSON Accept header,
// Prefer: respond-async and Patient read access; it answers the request
// itself when one is missing.
func (s *Server) matchOperation(w http.ResponseWriter, r *http.Request, p *Principal, op string) bool {
	async, _ := preferences(r)
	switch {
	case !acceptsFHIRJSON(r):
		s.outcome(w, r, http.StatusBadRequest, "not-supported", op+" requires the header Accept: application/fhir+json")
	case !async:
		s.outcome(w, r, http.StatusBadRequest, "not-supported", op+" requires the header Prefer: respond-async")
	case !p.MayRead("Patient"):
		s.outcome(w, r, http.StatusForbidden, "forbidden", "this client may not read Patient")
	default:
		return true
	}
	return false
}

func (s *Server) bulkMatch(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if !s.matchOperation(w, r, p, "$bulk-match") {
		return
	}
	req, rerr := parseMatchRequest(r)
	if rerr != nil {
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
		return
	}
	req.idsOnly = p.Groups != nil
	spec := &exportSpec{level: levelBulkMatch, query: pipeline.Query{Types: []string{"Bundle"}}}
	spec.run = func(j *liveJob, sp *exportSpec) ([]jobFile, error) { return s.runBulkMatch(j, sp.query.AsOf, req) }
	s.startJob(w, r, spec, p)
}

func parseMatchRequest(r *http.Request) (*matchRequest, *requestError) {
	body, rerr := readFHIRBody(r, maxMatchBody, "$bulk-match wants a FHIR Parameters body as application/fhir+json",
		"Parameters body", "; split the Patients over several requests")
	if rerr != nil {
		return nil, rerr
	}
	var ps struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name         string          `json:"name"`
			Resource     json.RawMessage `json:"resource"`
			ValueBoolean *bool           `json:"valueBoolean"`
			ValueInteger *int            `json:"valueInteger"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(body, &ps); err != nil {
		return nil, badRequest("structure", "Parameters body: %s", jsonProblem(err))
	}
	if ps.ResourceType != "Parameters" {
		return nil, badRequest("structure", "the body must be a FHIR Parameters resource, not %q", ps.ResourceType)
	}
	req := &matchRequest{count: defaultMatchCount}
	ids := map[string]bool{}
	for i, prm := range ps.Parameter {
		switch prm.Name {
		case "resource":
			if len(prm.Resource) == 0 {
				return nil, badRequest("required", "parameter[%d] resource: want a Patient resource", i)
			}
			pt, err := match.ParsePatient(prm.Resource)
			if err != nil || pt.ResourceType != "Patient" {
				return nil, badRequest("invalid", "parameter[%d] resource: want a Patient resource", i)
			}
			if pt.ID == "" {
				return nil, badRequest("required", "parameter[%d] resource: the Patient needs an id (the client's), which the output Bundle refers to", i)
			}
			if ids[pt.ID] {
				return nil, badRequest("duplicate", "parameter[%d] resource: Patient id %q given twice", i, pt.ID)
			}
			ids[pt.ID] = true
			if len(req.inputs) == maxMatchInputs {
				return nil, &requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly",
					Diagnostics: fmt.Sprintf("more than %d Patients in one $bulk-match; split them over several requests", maxMatchInputs)}}}
			}
			req.inputs = append(req.inputs, pt.Record())
		case "onlySingleMatch", "onlyCertainMatches":
			if prm.ValueBoolean == nil {
				return nil, badRequest("invalid", "parameter %s: want valueBoolean", prm.Name)
			}
			if prm.Name == "onlySingleMatch" {
				req.onlySingle = *prm.ValueBoolean
			} else {
				req.onlyCertain = *prm.ValueBoolean
			}
		case "count":
			if prm.ValueInteger == nil || *prm.ValueInteger < 1 {
				return nil, badRequest("invalid", "parameter count: want a positive valueInteger")
			}
			req.count = *prm.ValueInteger
		default:
			return nil, badRequest("not-supported", "parameter[%d]: unknown parameter %q of $bulk-match (known: resource, onlySingleMatch, onlyCertainMatches, count)", i, prm.Name)
		}
	}
	if len(req.inputs) == 0 {
		return nil, badRequest("required", "$bulk-match needs at least one resource parameter (a Patient)")
	}
	return req, nil
}

func (s *Server) matcher() (*match.Matcher, error) {
	if s.opts.Matcher != nil {
		return s.opts.Matcher, nil
	}
	return match.New(nil)
}

// runBulkMatch is the job: candidates from one Patient pass of the
// snapshot, then one Bundle per input, in input order.
func (s *Server) runBulkMatch(j *liveJob, asOf time.Time, req *matchRequest) ([]jobFile, error) {
	m, err := s.matcher()
	if err != nil {
		return nil, err
	}
	st, err := s.candidateStore(j.ctx, m, asOf)
	if err != nil {
		return nil, err
	}
	wr, err := s.outputWriter(j)
	if err != nil {
		return nil, err
	}
	j.personsTotal.Store(int64(len(req.inputs)))
	i := 0
	err = m.All(j.ctx, st, func() (match.Record, bool, error) {
		if i == len(req.inputs) {
			return match.Record{}, false, nil
		}
		i++
		return req.inputs[i-1], true, nil
	}, 0, func(in match.Record, res match.Result) error {
		b := s.matchBundle(st, in, res, req)
		if err := wr.Write(b); err != nil {
			return &writeError{err}
		}
		j.written.Add(1)
		j.persons.Add(1)
		return nil
	})
	infos, cerr := wr.Close()
	if err == nil && cerr != nil {
		err = &writeError{cerr}
	}
	if err != nil {
		return nil, err
	}
	var files []jobFile
	for _, fi := range infos {
		files = append(files, jobFile{Kind: "output", Type: fi.Type, Name: filepath.Base(fi.Path), Count: fi.Count, Bytes: fi.Bytes})
	}
	return files, nil
}

// matchBundle is the searchset Bundle answering one input Patient.
func (s *Server) matchBundle(st match.Candidates, in match.Record, res match.Result, req *matchRequest) *fhirout.Object {
	cands := res.Candidates
	switch {
	case req.onlySingle && res.Outcome != match.Matched:
		cands = nil
	case req.onlySingle:
		cands = cands[:1]
	case req.onlyCertain:
		n := 0
		for n < len(cands) && cands[n].Grade == match.Certain {
			n++
		}
		cands = cands[:n]
	}
	if len(cands) > req.count {
		cands = cands[:req.count]
	}
	b := fhirout.NewResource("Bundle")
	meta := fhirout.NewObject()
	ext := fhirout.NewObject()
	ext.Set("url", matchResourceExt)
	ref := fhirout.NewObject()
	ref.Set("reference", "Patient/"+in.ID)
	ext.Set("valueReference", ref)
	meta.Set("extension", []any{ext})
	b.Set("meta", meta)
	b.Set("type", "searchset")
	b.Set("total", len(cands))
	var entries []any
	for _, c := range cands {
		e := fhirout.NewObject()
		e.Set("fullUrl", s.baseURL+"/Patient/"+c.ID)
		rec, ok, _ := st.Person(context.Background(), c.ID)
		if !ok {
			rec = match.Record{ID: c.ID}
		}
		e.Set("resource", subsettedPatient(rec, req.idsOnly))
		srch := fhirout.NewObject()
		g := fhirout.NewObject()
		g.Set("url", matchGradeExt)
		g.Set("valueCode", string(c.Grade))
		srch.Set("extension", []any{g})
		srch.Set("mode", "match")
		srch.Set("score", fhirout.Number(fmt.Sprintf("%g", c.Score)))
		e.Set("search", srch)
		entries = append(entries, e)
	}
	if len(cands) == 0 {
		msg := "no Patient on this server matches"
		switch {
		case res.Outcome == match.Ambiguous && req.onlySingle:
			msg = fmt.Sprintf("no single certain match: %d candidates, not returned because onlySingleMatch is set", len(res.Candidates))
		case res.Outcome == match.Ambiguous:
			msg = fmt.Sprintf("no certain match: %d probable or possible candidates, not returned because onlyCertainMatches is set", len(res.Candidates))
		}
		e := fhirout.NewObject()
		e.Set("resource", fhirout.OperationOutcome(fhirout.Issue{Severity: "information", Code: "not-found", Diagnostics: msg}))
		srch := fhirout.NewObject()
		srch.Set("mode", "outcome")
		e.Set("search", srch)
		entries = append(entries, e)
	}
	b.Set("entry", entries)
	return b
}

// subsettedPatient is a candidate as the Bundle shows it: the compared
// demographics (or the id alone), marked SUBSETTED.
func subsettedPatient(r match.Record, idOnly bool) *fhirout.Object {
	p := fhirout.NewResource("Patient")
	p.Set("id", r.ID)
	meta := fhirout.NewObject()
	tag := fhirout.NewObject()
	tag.Set("system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue")
	tag.Set("code", "SUBSETTED")
	meta.Set("tag", []any{tag})
	p.Set("meta", meta)
	if idOnly {
		return p
	}
	if len(r.Identifiers) > 0 {
		var ids []any
		for _, id := range r.Identifiers {
			o := fhirout.NewObject()
			o.Set("system", id.System)
			o.Set("value", id.Value)
			ids = append(ids, o)
		}
		p.Set("identifier", ids)
	}
	if r.Family != "" || r.Given != "" {
		n := fhirout.NewObject()
		if r.Family != "" {
			n.Set("family", r.Family)
		}
		var given []string
		for _, g := range []string{r.Given, r.Middle} {
			if g != "" {
				given = append(given, strings.Fields(g)...)
			}
		}
		if len(given) > 0 {
			n.Set("given", given)
		}
		p.Set("name", []any{n})
	}
	if r.Phone != "" {
		t := fhirout.NewObject()
		t.Set("system", "phone")
		t.Set("value", r.Phone)
		p.Set("telecom", []any{t})
	}
	if r.Sex != "" {
		p.Set("gender", r.Sex)
	}
	if r.BirthDate != "" {
		p.Set("birthDate", r.BirthDate)
	}
	if r.Postal != "" {
		a := fhirout.NewObject()
		a.Set("postalCode", r.Postal)
		p.Set("address", []any{a})
	}
	return p
}

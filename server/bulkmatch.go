package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"iisbridge/fhirout"
	"iisbridge/match"
	"iisbridge/pipeline"
)

// Patient/$bulk-match (Bulk Data IG draft, bulk-match branch): an
// asynchronous POST of Parameters with `resource` Patients (each with the
// client's own id), `onlySingleMatch`, `onlyCertainMatches` and `count`.
// The job is an export job (status, manifest, files, DELETE as for
// $export) whose output is NDJSON searchset Bundles, one per input Patient
// in input order, tied to it by the match-resource meta extension, entries
// ranked by search.score with the match-grade extension. No candidate =
// an empty Bundle; certainly-not candidates are never listed.
//
// Choices: candidates are the Patients the client could export (every
// Patient with Patient-level export, else members of its Groups); the
// scan reads each candidate's converted Patient once, comparing it only
// with inputs that share a blocking key (package match), so memory is the
// inputs and their best `count` candidates; at most 10,000 inputs (413
// beyond); `count` defaults to 5 (at most 100); onlySingleMatch keeps the
// best candidate only when no other has the same score.

// opBulkMatch is the draft operation's canonical URL.
const opBulkMatch = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/bulk-match"

const (
	maxMatchInputs   = 10000
	defaultMatchCnt  = 5
	maxMatchCnt      = 100
	matchResourceExt = "http://hl7.org/fhir/uv/bulkdata/StructureDefinition/match-resource"
	matchGradeExt    = "http://hl7.org/fhir/StructureDefinition/match-grade"
)

// matchJob is what a $bulk-match kick-off fixed for its job.
type matchJob struct {
	inputs      []matchInput
	single      bool
	certainOnly bool
	count       int
	owner       *Principal
	roster      *rosterJob // a roster upload (roster.go)
}

type matchInput struct {
	clientID string
	norm     match.Normalized
	best     []candidate // best first, at most count
}

type candidate struct {
	score   float64
	grade   string
	patient *fhirout.Object
}

// bulkMatch handles POST [base]/Patient/$bulk-match.
func (s *Server) bulkMatch(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	async, _ := preferences(r)
	switch {
	case !acceptsFHIRJSON(r):
		s.outcome(w, r, http.StatusBadRequest, "not-supported", "$bulk-match requires the header Accept: application/fhir+json")
		return
	case !async:
		s.outcome(w, r, http.StatusBadRequest, "not-supported", "$bulk-match requires the header Prefer: respond-async")
		return
	case !p.MayRead("Patient"):
		s.outcome(w, r, http.StatusForbidden, "forbidden", "$bulk-match needs read access to Patient (scope system/Patient.rs)")
		return
	}
	mj, rerr := matchParams(r)
	if rerr != nil {
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
		return
	}
	mj.owner = p
	spec := &exportSpec{level: levelPatient, query: pipeline.Query{Types: []string{"Bundle"}}, match: mj}
	s.startJob(w, r, spec, p)
}

// matchParams reads the Parameters of $bulk-match.
func matchParams(r *http.Request) (*matchJob, *requestError) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxGroupBody+1))
	if err != nil {
		return nil, badRequest("invalid", "reading the body: %v", err)
	}
	if len(data) > maxGroupBody {
		return nil, &requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly", Diagnostics: fmt.Sprintf("body larger than %d bytes: split the request", maxGroupBody)}}}
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
	if err := json.Unmarshal(data, &ps); err != nil {
		return nil, badRequest("structure", "Parameters body: %s", jsonProblem(err))
	}
	if ps.ResourceType != "Parameters" {
		return nil, badRequest("structure", "want a FHIR Parameters resource, not %q", ps.ResourceType)
	}
	mj := &matchJob{count: defaultMatchCnt}
	seen := map[string]bool{}
	for i, p := range ps.Parameter {
		switch {
		case p.Name == "resource" && p.Resource != nil:
			o, err := fhirout.ParseObject(p.Resource)
			if err != nil || o.ResourceType() != "Patient" {
				return nil, badRequest("invalid", "parameter[%d] resource: want a Patient resource", i)
			}
			if o.ID() == "" || seen[o.ID()] {
				return nil, badRequest("invalid", "parameter[%d] resource: each Patient needs an id of its own (the client's), to tie its result to it", i)
			}
			seen[o.ID()] = true
			mj.inputs = append(mj.inputs, matchInput{clientID: o.ID(), norm: match.Normalize(personOf(o))})
		case p.Name == "onlySingleMatch" && p.ValueBoolean != nil:
			mj.single = *p.ValueBoolean
		case p.Name == "onlyCertainMatches" && p.ValueBoolean != nil:
			mj.certainOnly = *p.ValueBoolean
		case p.Name == "count" && p.ValueInteger != nil:
			if *p.ValueInteger < 1 {
				return nil, badRequest("invalid", "count must be at least 1")
			}
			mj.count = min(*p.ValueInteger, maxMatchCnt)
		default:
			return nil, badRequest("not-supported", "parameter[%d] %q: want resource, onlySingleMatch, onlyCertainMatches or count", i, p.Name)
		}
	}
	if len(mj.inputs) == 0 {
		return nil, badRequest("required", "give at least one resource (a Patient)")
	}
	if len(mj.inputs) > maxMatchInputs {
		return nil, &requestError{413, []fhirout.Issue{{Severity: "error", Code: "too-costly", Diagnostics: fmt.Sprintf("%d Patients: at most %d per request", len(mj.inputs), maxMatchInputs)}}}
	}
	return mj, nil
}

// personOf reads the demographics of a FHIR Patient: its current name
// (the first not marked old), birth date, gender, current postal code and
// phone, identifiers.
func personOf(o *fhirout.Object) match.Person {
	var p match.Person
	current := func(key string) *fhirout.Object {
		list := objects(o, key)
		for _, e := range list {
			if text(e, "use") != "old" && text(childObj(e, "period"), "end") == "" {
				return e
			}
		}
		if len(list) > 0 {
			return list[0]
		}
		return nil
	}
	if n := current("name"); n != nil {
		p.Family = text(n, "family")
		if g, ok := n.Get("given"); ok {
			if gs, ok := g.([]any); ok && len(gs) > 0 {
				p.Given, _ = gs[0].(string)
			}
		}
	}
	p.BirthDate = text(o, "birthDate")
	p.Sex = text(o, "gender")
	if a := current("address"); a != nil {
		p.PostalCode = text(a, "postalCode")
	}
	for _, t := range objects(o, "telecom") {
		if text(t, "system") == "phone" {
			p.Phone = text(t, "value")
			break
		}
	}
	for _, c := range identifiers(o) {
		p.Identifiers = append(p.Identifiers, match.Identifier{System: c.system, Value: c.code})
	}
	return p
}

// runMatch is the job of a $bulk-match: one pass over the candidates,
// then one Bundle per input.
func (s *Server) runMatch(k *jobSink, spec *exportSpec) error {
	mj := spec.match
	cfg := match.Default()
	if s.opts.Match != nil {
		cfg = *s.opts.Match
	}
	block := map[string][]int{}
	for i, in := range mj.inputs {
		for _, key := range in.norm.Keys() {
			block[key] = append(block[key], i)
		}
	}
	pop, err := s.population(k.ctx, mj.owner)
	if err != nil {
		return fmt.Errorf("reading the client's population: %w", err)
	}
	q := pipeline.Query{Types: []string{"Patient"}, AsOf: spec.query.AsOf}
	if pop != nil {
		q.PatientIDs = []string{}
		for id := range pop {
			q.PatientIDs = append(q.PatientIDs, id)
		}
		slices.Sort(q.PatientIDs)
	}
	scan := &matchSink{ctx: k.ctx, fn: func(pt *fhirout.Object) {
		n := match.Normalize(personOf(pt))
		done := map[int]bool{}
		for _, key := range n.Keys() {
			for _, i := range block[key] {
				if done[i] {
					continue
				}
				done[i] = true
				sc := cfg.Score(mj.inputs[i].norm, n)
				g := cfg.Grade(sc)
				if g == match.NotMatch || (mj.certainOnly && g != match.Certain) {
					continue
				}
				in := &mj.inputs[i]
				in.best = append(in.best, candidate{score: sc, grade: g, patient: pt.Clone()}) // the exporter may reuse pt
				slices.SortStableFunc(in.best, func(a, b candidate) int {
					switch {
					case a.score > b.score:
						return -1
					case a.score < b.score:
						return 1
					}
					return strings.Compare(a.patient.ID(), b.patient.ID())
				})
				if len(in.best) > mj.count+1 { // one more, to see a tie for onlySingleMatch
					in.best = in.best[:mj.count+1]
				}
			}
		}
	}}
	if len(q.PatientIDs) > 0 || q.PatientIDs == nil {
		if err := s.exporter.Export(k.ctx, q, scan); err != nil {
			return err
		}
	}
	var matched []string
	for i, in := range mj.inputs {
		best := in.best
		if mj.roster != nil {
			outcome := rosterOutcome(mj.roster, i, best)
			if outcome == "invalid" {
				best = nil
			}
			if len(best) > mj.count {
				best = best[:mj.count]
			}
			if outcome == "matched" {
				matched = append(matched, best[0].patient.ID())
			}
			b := s.matchBundle(i, in, best)
			b.Child("meta").Set("tag", []any{outcomeTag(outcome)})
			if err := k.Resource(b); err != nil {
				return err
			}
			continue
		}
		if mj.single {
			if len(best) > 1 && best[0].score == best[1].score {
				best = nil // two equally good: no single match to give
			} else if len(best) > 1 {
				best = best[:1]
			}
		}
		if len(best) > mj.count {
			best = best[:mj.count]
		}
		if err := k.Resource(s.matchBundle(i, in, best)); err != nil {
			return err
		}
	}
	if mj.roster != nil {
		return s.applyRoster(k.ctx, mj.roster, matched)
	}
	return nil
}

func (s *Server) matchBundle(i int, in matchInput, best []candidate) *fhirout.Object {
	b := fhirout.NewResource("Bundle")
	b.Set("id", "match-"+strconv.Itoa(i+1))
	ext := fhirout.NewObject()
	ext.Set("url", matchResourceExt)
	ext.Child("valueReference").Set("reference", "Patient/"+in.clientID)
	b.Child("meta").Set("extension", []any{ext})
	b.Set("type", "searchset")
	b.Set("total", fhirout.Number(strconv.Itoa(len(best))))
	var entries []any
	for _, c := range best {
		e := fhirout.NewObject()
		e.Set("fullUrl", s.baseURL+"/Patient/"+c.patient.ID())
		e.Set("resource", c.patient)
		se := e.Child("search")
		ge := fhirout.NewObject()
		ge.Set("url", matchGradeExt)
		ge.Set("valueCode", c.grade)
		se.Set("extension", []any{ge})
		se.Set("mode", "match")
		se.Set("score", fhirout.Number(strconv.FormatFloat(c.score, 'f', 3, 64)))
		entries = append(entries, e)
	}
	if len(entries) > 0 {
		b.Set("entry", entries)
	}
	return b
}

// matchSink hands each Patient of the scan to fn.
type matchSink struct {
	ctx context.Context
	fn  func(*fhirout.Object)
	n   int
}

func (k *matchSink) Resource(r *fhirout.Object) error {
	if k.n++; k.n&1023 == 0 {
		if err := k.ctx.Err(); err != nil {
			return context.Cause(k.ctx)
		}
	}
	if r.ResourceType() == "Patient" {
		k.fn(r)
	}
	return nil
}

func (k *matchSink) Deleted(string, string, time.Time) error { return nil }
func (k *matchSink) Issue(*fhirout.Object) error             { return nil }

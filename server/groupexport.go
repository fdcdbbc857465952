package server

import (
	"context"
	"slices"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
)

// Group/[id]/$export semantics:
//   - only active members' data (inactive members are left out); an empty
//     Group, or a cohort that selects nobody, exports nothing (output []);
//   - `patient` narrows within the Group; a Patient outside it is a 400
//     (for a cohort the filters are evaluated on those Patients at kick-off);
//   - with _since, members who joined the Group after _since get their
//     full history (and their deletions), the others what changed after
//     _since (the IG allows it; the CapabilityStatement says so). A learned member joined at its
//     first evidence, a client-added one when it was added;
//   - a client-managed Group exports only Patients still within its
//     client's reach (population);
//   - a cohort's members are computed by the job, when it runs.

// fullHistorySince is the _since of new members' export: before any
// data, so they get everything, and still a time, so their deletions are
// reported like the others' (the exporter reports deletions only with a
// Since).
var fullHistorySince = time.Unix(0, 1).UTC()

// groupExport is what a Group kick-off fixed for the job.
type groupExport struct {
	fullHistory []string       // members who joined after _since
	cohort      []cohortFilter // evaluated by the job over candidates
	candidates  []string       // nil = every Patient
	evaluated   bool           // the cohort was evaluated at kick-off (patient)
}

func storeFailed() *requestError {
	return &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "reading the Group store failed"}}}
}

// groupPatients fixes a Group export's patients.
func (s *Server) groupPatients(ctx context.Context, spec *exportSpec, g *groupRow, p *Principal) *requestError {
	spec.groupID = g.ID
	ge := &groupExport{}
	spec.group = ge
	if g.Kind == kindCohort {
		fs, refs, err := s.cohortOf(g)
		if err != nil {
			if ce, ok := err.(*clientError); ok {
				return badRequest("not-supported", "%s", ce.msg)
			}
			s.log.Error("reading a cohort Group", "group", g.ID, "err", err)
			return storeFailed()
		}
		cands, err := s.cohortCandidates(ctx, refs, p)
		if err != nil {
			s.log.Error("reading a cohort Group's candidates", "group", g.ID, "err", err)
			return storeFailed()
		}
		ge.cohort, ge.candidates = fs, cands
		if spec.patientRefs == nil {
			return nil // evaluated by the job
		}
		// Few patients (the parameter is bounded): evaluate now so a
		// Patient outside the cohort is a 400.
		narrowed := spec.patientRefs
		if cands != nil {
			narrowed = nil
			for _, id := range spec.patientRefs {
				if _, ok := slices.BinarySearch(cands, id); ok {
					narrowed = append(narrowed, id)
				}
			}
		}
		sel, err := s.evalCohort(ctx, fs, append([]string{}, narrowed...), s.now())
		if err != nil {
			s.log.Error("evaluating a cohort Group", "group", g.ID, "err", err)
			return &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "evaluating the Group's member-filter failed"}}}
		}
		if n := len(spec.patientRefs) - countIn(spec.patientRefs, sel); n > 0 {
			return badRequest("invalid", "parameter patient: %d of the references are not members of Group %s", n, g.ID)
		}
		ge.evaluated = true
		spec.query.PatientIDs = slices.Clone(spec.patientRefs)
		return nil
	}
	var members []member
	err := s.store.eachMember(ctx, g.ID, func(m member) error {
		if !m.Inactive {
			members = append(members, m)
		}
		return nil
	})
	if err != nil {
		return storeFailed()
	}
	if g.Owner != "" {
		pop, err := s.population(ctx, p)
		if err != nil {
			return storeFailed()
		}
		if pop != nil {
			members = slices.DeleteFunc(members, func(m member) bool { return !pop[m.PatientID] })
		}
	}
	if spec.patientRefs != nil {
		ids := make([]string, len(members))
		for i, m := range members {
			ids[i] = m.PatientID
		}
		if n := len(spec.patientRefs) - countIn(spec.patientRefs, ids); n > 0 {
			return badRequest("invalid", "parameter patient: %d of the references are not members of Group %s", n, g.ID)
		}
		asked := make(map[string]bool, len(spec.patientRefs))
		for _, id := range spec.patientRefs {
			asked[id] = true
		}
		members = slices.DeleteFunc(members, func(m member) bool { return !asked[m.PatientID] })
	}
	spec.query.PatientIDs = []string{}
	for _, m := range members {
		if spec.hasSince && m.joined().After(spec.query.Since) {
			ge.fullHistory = append(ge.fullHistory, m.PatientID)
		} else {
			spec.query.PatientIDs = append(spec.query.PatientIDs, m.PatientID)
		}
	}
	return nil
}

// countIn counts the ids of want found in sorted have.
func countIn(want, have []string) int {
	n := 0
	for _, id := range want {
		if _, ok := slices.BinarySearch(have, id); ok {
			n++
		}
	}
	return n
}

// exportPersons streams the export's persons: everyone, the `patient`
// list, or a Group's members (a cohort's computed first; members who
// joined after _since with their full history).
func (s *Server) exportPersons(k *jobSink, spec *exportSpec) error {
	if len(spec.query.Types) == 0 {
		return nil // only Group asked
	}
	ge := spec.group
	if ge != nil && ge.cohort != nil && !ge.evaluated {
		sel, err := s.evalCohort(k.ctx, ge.cohort, ge.candidates, spec.query.AsOf)
		if err != nil {
			return err
		}
		spec.query.PatientIDs = sel
	}
	if spec.query.PatientIDs == nil || len(spec.query.PatientIDs) > 0 {
		if err := s.exporter.Export(k.ctx, spec.query, k); err != nil {
			return err
		}
	}
	if ge != nil && len(ge.fullHistory) > 0 {
		q := spec.query
		q.Since, q.PatientIDs = fullHistorySince, ge.fullHistory
		return s.exporter.Export(k.ctx, q, k)
	}
	return nil
}

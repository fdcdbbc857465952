package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/pipeline"
)

// Criteria-based Groups (Bulk Data STU3 Bulk Cohort API, FMM 1).
//
// A member-filter holds one FHIR query (application/x-fhir-query) on
// Patient or Immunization with the parameters _typeFilter serves (the one
// table in typefilter.go); a person matches a query when its Patient, or
// one of its Immunizations, matches every parameter of it; several
// member-filters are ANDed. Members are computed when an export runs
// (dynamically: no members-refreshed extension), from the person's
// converted data, over the Patients the client may reach, or only over
// the Patients and Groups listed in Group.member. An unsupported
// parameter refuses the Group (400).

// BulkCohortProfile is the Bulk Cohort Group profile.
const BulkCohortProfile = "http://hl7.org/fhir/uv/bulkdata/StructureDefinition/bulk-cohort-group"

const memberFilterURL = "http://hl7.org/fhir/uv/bulkdata/StructureDefinition/member-filter"

// maxMemberFilters bounds the filters of one Group (a bit mask each).
const maxMemberFilters = 32

// cohortFilter is one parsed member-filter.
type cohortFilter struct {
	typ string
	q   *filterQuery
}

// cohortTypes are the types a member-filter may query: served by the
// exporter, with search parameters in the _typeFilter table.
func (s *Server) cohortTypes() []string {
	var out []string
	for _, t := range s.exporter.ResourceTypes() {
		if searchParams[t] != nil {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// parseMemberFilters reads the member-filter modifierExtensions of a
// Group: nil filters when it has none. Any other modifierExtension is
// refused (a modifier the server does not understand).
func (s *Server) parseMemberFilters(o *fhirout.Object) ([]cohortFilter, []fhirout.Issue) {
	var out []cohortFilter
	var issues []fhirout.Issue
	bad := func(code, format string, args ...any) {
		issues = append(issues, fhirout.Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)})
	}
	types := s.cohortTypes()
	for i, ext := range objects(o, "modifierExtension") {
		url := text(ext, "url")
		if url != memberFilterURL {
			bad("not-supported", "Group.modifierExtension[%d]: %q is not understood by this server (only %s)", i, url, memberFilterURL)
			continue
		}
		ex := childObj(ext, "valueExpression")
		if ex == nil {
			bad("required", "Group.modifierExtension[%d] (member-filter): valueExpression is required", i)
			continue
		}
		if lang := text(ex, "language"); lang != "application/x-fhir-query" {
			bad("not-supported", "Group.modifierExtension[%d] (member-filter): language %q is not supported (application/x-fhir-query)", i, lang)
			continue
		}
		expr := text(ex, "expression")
		typ, fq, badClauses, err := parseTypeFilter(expr, func(t string) bool { return slices.Contains(types, t) })
		if err != nil {
			bad("not-supported", "member-filter %q: %v (queries on %s)", expr, err, strings.Join(types, ", "))
			continue
		}
		for _, e := range badClauses {
			bad("not-supported", "member-filter: %v", e)
		}
		out = append(out, cohortFilter{typ: typ, q: fq})
	}
	if len(out) > maxMemberFilters {
		bad("too-costly", "at most %d member-filter extensions", maxMemberFilters)
	}
	if len(issues) > 0 {
		return nil, issues
	}
	return out, nil
}

// cohortOf reads the stored filters and member restriction of a cohort
// Group.
func (s *Server) cohortOf(g *groupRow) ([]cohortFilter, []*fhirout.Object, error) {
	body, err := fhirout.ParseObject([]byte(g.Body))
	if err != nil {
		return nil, nil, fmt.Errorf("group %s: stored body: %w", g.ID, err)
	}
	fs, issues := s.parseMemberFilters(body)
	if len(issues) > 0 {
		// The server's search table changed since the Group was created.
		return nil, nil, &clientError{"Group " + g.ID + ": " + issues[0].Diagnostics}
	}
	return fs, objects(body, "member"), nil
}

// clientError is a failure whose text is meant for the client.
type clientError struct{ msg string }

func (e *clientError) Error() string         { return e.msg }
func (e *clientError) ClientMessage() string { return e.msg }

// cohortCandidates lists the Patient ids a cohort's filters apply to: its
// member references (Patients, members of Groups) within the owner's
// reach; nil = every Patient.
func (s *Server) cohortCandidates(ctx context.Context, refs []*fhirout.Object, p *Principal) ([]string, error) {
	pop, err := s.population(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		if pop == nil {
			return nil, nil
		}
		out := make([]string, 0, len(pop))
		for id := range pop {
			out = append(out, id)
		}
		slices.Sort(out)
		return out, nil
	}
	set := map[string]bool{}
	for _, m := range refs {
		ref := text(childObj(m, "entity"), "reference")
		if id, ok := cleanRef(ref, "Group"); ok && strings.Contains(ref, "Group/") {
			g, err := s.store.group(ctx, id)
			if err != nil {
				return nil, err
			}
			if g == nil || !visibleTo(g, p) {
				continue // deleted since: contributes nobody
			}
			if err := s.store.eachMember(ctx, id, func(m member) error {
				if !m.Inactive {
					set[m.PatientID] = true
				}
				return nil
			}); err != nil {
				return nil, err
			}
		} else if id, ok := cleanRef(ref, "Patient"); ok {
			set[id] = true
		}
	}
	out := []string{}
	for id := range set {
		if pop == nil || pop[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// evalCohort runs the filters over the candidates' converted data (nil =
// every Patient) and returns the Patient ids that match them all, sorted.
func (s *Server) evalCohort(ctx context.Context, fs []cohortFilter, candidates []string, asOf time.Time) ([]string, error) {
	out := []string{}
	if candidates != nil && len(candidates) == 0 {
		return out, nil
	}
	var types []string
	for _, f := range fs {
		if !slices.Contains(types, f.typ) {
			types = append(types, f.typ)
		}
	}
	k := &cohortSink{filters: fs, masks: map[string]uint32{}}
	q := pipeline.Query{Types: types, PatientIDs: candidates, AsOf: asOf}
	if err := s.exporter.Export(ctx, q, k); err != nil {
		return nil, err
	}
	all := uint32(1)<<len(fs) - 1
	for id, m := range k.masks {
		if m == all {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// cohortSink records, per person, which filters one of its resources met.
type cohortSink struct {
	filters []cohortFilter
	masks   map[string]uint32
}

func (k *cohortSink) Resource(r *fhirout.Object) error {
	t := r.ResourceType()
	var pid string
	switch t {
	case "Patient":
		pid = r.ID()
	default:
		ref := strings.Join(sub(r, "patient", "reference"), "")
		pid = strings.TrimPrefix(ref, "Patient/")
	}
	if pid == "" {
		return nil
	}
	for i, f := range k.filters {
		if f.typ == t && k.masks[pid]&(1<<i) == 0 && f.q.match(r) {
			k.masks[pid] |= 1 << i
		}
	}
	return nil
}

func (k *cohortSink) Deleted(string, string, time.Time) error { return nil }
func (k *cohortSink) Issue(*fhirout.Object) error             { return nil }

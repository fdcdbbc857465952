package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/iisbridge/iisbridge/fhirout"
	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/pipeline"
)

// groupRoutes adds the Group write routes (reads are in Handler).
func (s *Server) groupRoutes(r *mux.Router) {
	p := s.prefix
	r.HandleFunc(p+"/Group", s.createGroup).Methods(http.MethodPost)
	r.HandleFunc(p+"/Group/$roster-import", s.rosterImport).Methods(http.MethodPost)
	r.HandleFunc(p+"/Group/{id}/$roster-import", s.rosterImport).Methods(http.MethodPost)
	r.HandleFunc(p+"/Group/{id}", s.updateGroup).Methods(http.MethodPut)
	r.HandleFunc(p+"/Group/{id}", s.deleteGroup).Methods(http.MethodDelete)
	r.HandleFunc(p+"/Group/{id}/$member-add", s.memberOp(true)).Methods(http.MethodPost)
	r.HandleFunc(p+"/Group/{id}/$member-remove", s.memberOp(false)).Methods(http.MethodPost)
	r.HandleFunc(p+"/groupstatus/{task}", s.groupTaskStatus).Methods(http.MethodGet, http.MethodDelete)
}

// PatientIdentifier is a Patient.identifier searched as system|value
// (System "" matches any system).
type PatientIdentifier struct{ System, Value string }

// PatientFinder is implemented by exporters that can look Patients up by
// identifier (an index of identifiers). Without it the server makes one
// pass over the exporter's Patients per request that names identifiers.
type PatientFinder interface {
	// FindPatients returns, for each identifier, the ids of the current
	// Patients that carry it (none, one or several).
	FindPatients(ctx context.Context, ids []PatientIdentifier) (map[PatientIdentifier][]string, error)
}

// memberPlan is the members a request names, not yet resolved.
type memberPlan struct {
	refs   []memberRef
	idents []memberRef
	groups []string // Group ids: a cohort's filters apply to their members; a member list takes them in
	expand bool     // take the groups' members in (member lists)
}

type memberRef struct {
	id         string
	ident      PatientIdentifier
	start, end time.Time
}

func (p *memberPlan) empty() bool {
	return len(p.refs) == 0 && len(p.idents) == 0 && len(p.groups) == 0
}

// instant reads a FHIR date or dateTime as the instant it starts.
func instant(v string) (time.Time, bool) {
	s, _, ok := dateRange(v)
	return s, ok
}

// period reads a Period object.
func period(o *fhirout.Object) (start, end time.Time, err error) {
	if o == nil {
		return
	}
	var ok bool
	if v := text(o, "start"); v != "" {
		if start, ok = instant(v); !ok {
			return start, end, fmt.Errorf("period.start %q is not a FHIR dateTime", v)
		}
	}
	if v := text(o, "end"); v != "" {
		if end, ok = instant(v); !ok {
			return start, end, fmt.Errorf("period.end %q is not a FHIR dateTime", v)
		}
	}
	return
}

// text is the string element key of o ("" when o is nil or it is absent).
func text(o *fhirout.Object, key string) string {
	if o == nil {
		return ""
	}
	return strings.Join(strs(o, key), "")
}

func childObj(o *fhirout.Object, key string) *fhirout.Object {
	if o == nil {
		return nil
	}
	if ob := objects(o, key); len(ob) == 1 {
		return ob[0]
	}
	return nil
}

// checkGroup validates a Group a client sends and returns what to store
// and the members it names.
func (s *Server) checkGroup(ctx context.Context, o *fhirout.Object, p *Principal) (*groupRow, *memberPlan, *requestError) {
	if o.ResourceType() != "Group" {
		return nil, nil, badRequest("invalid", "want a Group resource, not %q", o.ResourceType())
	}
	var issues []fhirout.Issue
	bad := func(code, format string, args ...any) {
		issues = append(issues, fhirout.Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)})
	}
	if t := text(o, "type"); t != "person" {
		bad("invalid", "Group.type: want person (this server's Groups are Groups of Patients), not %q", t)
	}
	if _, ok := o.Get("characteristic"); ok {
		bad("not-supported", "Group.characteristic is not supported: define criteria with member-filter modifierExtensions (Bulk Cohort profile %s)", BulkCohortProfile)
	}
	filters, fissues := s.parseMemberFilters(o)
	issues = append(issues, fissues...)
	kind := kindMember
	if filters != nil {
		kind = kindCohort
		if strings.TrimSpace(text(o, "name")) == "" {
			bad("required", "Group.name is required by the Bulk Cohort profile")
		}
	}
	plan := &memberPlan{}
	for i, m := range objects(o, "member") {
		if inactive, _ := m.Get("inactive"); inactive == true {
			continue // an inactive member is no member to add
		}
		start, end, err := period(childObj(m, "period"))
		if err != nil {
			bad("invalid", "Group.member[%d]: %v", i, err)
		}
		ent := childObj(m, "entity")
		if ent == nil {
			bad("required", "Group.member[%d]: entity is required", i)
			continue
		}
		ref := text(ent, "reference")
		switch {
		case ref != "" && strings.Contains(ref, "Group/"):
			id, ok := cleanRef(ref, "Group")
			if !ok {
				bad("invalid", "Group.member[%d].entity.reference %q is not a Group reference on this server", i, ref)
				continue
			}
			plan.groups = append(plan.groups, id)
		case ref != "":
			id, ok := cleanRef(ref, "Patient")
			if !ok {
				bad("invalid", "Group.member[%d].entity.reference %q is not a Patient reference on this server", i, ref)
				continue
			}
			plan.refs = append(plan.refs, memberRef{id: id, start: start, end: end})
		case childObj(ent, "identifier") != nil:
			id, err := identifierOf(childObj(ent, "identifier"))
			if err != nil {
				bad("invalid", "Group.member[%d].entity.identifier: %v", i, err)
				continue
			}
			plan.idents = append(plan.idents, memberRef{ident: id, start: start, end: end})
		default:
			bad("required", "Group.member[%d].entity: give a reference (Patient/[id]) or an identifier", i)
		}
	}
	plan.expand = kind == kindMember
	for _, gid := range plan.groups {
		g, err := s.store.group(ctx, gid)
		if err != nil {
			return nil, nil, &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "reading the Group store failed"}}}
		}
		if g == nil || !visibleTo(g, p) {
			bad("not-found", "Group.member: Group/%s: no such Group", gid)
		} else if g.Kind == kindCohort {
			bad("not-supported", "Group.member: Group/%s is itself criteria-based; reference member lists only", gid)
		}
	}
	if len(issues) > 0 {
		return nil, nil, &requestError{400, issues}
	}
	body := o.Clone()
	for _, k := range []string{"id", "meta", "text", "quantity", "actual"} {
		body.Delete(k)
	}
	if kind == kindMember {
		body.Delete("member")
	}
	g := &groupRow{Name: text(o, "name"), Owner: p.ClientID, Kind: kind, Body: string(body.AppendJSON(nil))}
	if me := childObj(o, "managingEntity"); me != nil {
		g.OrgName = text(me, "display")
	}
	return g, plan, nil
}

func identifierOf(o *fhirout.Object) (PatientIdentifier, error) {
	id := PatientIdentifier{System: text(o, "system"), Value: text(o, "value")}
	if id.Value == "" {
		return id, fmt.Errorf("value is required")
	}
	return id, nil
}

// memberParams reads the Parameters of $member-add or $member-remove.
func memberParams(r *http.Request, add bool) (*memberPlan, *requestError) {
	data, rerr := readFHIRBody(r, maxParametersBody, "want a FHIR Parameters resource as application/fhir+json", "Parameters body", "")
	if rerr != nil {
		return nil, rerr
	}
	var ps struct {
		ResourceType string `json:"resourceType"`
		Parameter    []struct {
			Name           string `json:"name"`
			ValueReference *struct {
				Reference string `json:"reference"`
			} `json:"valueReference"`
			ValueIdentifier *struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"valueIdentifier"`
			ValuePeriod *struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"valuePeriod"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(data, &ps); err != nil {
		return nil, badRequest("structure", "Parameters body: %s", jsonProblem(err))
	}
	if ps.ResourceType != "Parameters" {
		return nil, badRequest("structure", "want a FHIR Parameters resource, not %q", ps.ResourceType)
	}
	plan := &memberPlan{}
	var start, end time.Time
	for i, p := range ps.Parameter {
		switch {
		case p.Name == "patientReference" && p.ValueReference != nil:
			id, ok := cleanRef(p.ValueReference.Reference, "Patient")
			if !ok {
				return nil, badRequest("invalid", "parameter[%d] patientReference: %q is not a Patient reference on this server", i, p.ValueReference.Reference)
			}
			plan.refs = append(plan.refs, memberRef{id: id})
		case p.Name == "memberId" && p.ValueIdentifier != nil:
			if p.ValueIdentifier.Value == "" {
				return nil, badRequest("required", "parameter[%d] memberId: value is required", i)
			}
			plan.idents = append(plan.idents, memberRef{ident: PatientIdentifier{p.ValueIdentifier.System, p.ValueIdentifier.Value}})
		case p.Name == "providerNpi" && p.ValueIdentifier != nil, p.Name == "providerReference" && p.ValueReference != nil:
			// ATR's attributed provider: accepted, not kept.
		case p.Name == "attributionPeriod" && p.ValuePeriod != nil && add:
			var ok bool
			if p.ValuePeriod.Start != "" {
				if start, ok = instant(p.ValuePeriod.Start); !ok {
					return nil, badRequest("invalid", "attributionPeriod.start %q is not a FHIR dateTime", p.ValuePeriod.Start)
				}
			}
			if p.ValuePeriod.End != "" {
				if end, ok = instant(p.ValuePeriod.End); !ok {
					return nil, badRequest("invalid", "attributionPeriod.end %q is not a FHIR dateTime", p.ValuePeriod.End)
				}
			}
		default:
			return nil, badRequest("not-supported", "parameter[%d] %q: want patientReference (valueReference) or memberId (valueIdentifier)%s",
				i, p.Name, map[bool]string{true: ", and optionally attributionPeriod (valuePeriod)"}[add])
		}
	}
	if plan.empty() {
		return nil, badRequest("required", "name at least one member: patientReference or memberId")
	}
	for _, l := range [][]memberRef{plan.refs, plan.idents} {
		for i := range l {
			l[i].start, l[i].end = start, end
		}
	}
	return plan, nil
}

// unprocessable is a 422 with one issue.
func unprocessable(code, format string, args ...any) *requestError {
	return &requestError{http.StatusUnprocessableEntity, []fhirout.Issue{{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

var errStore = &requestError{500, []fhirout.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "looking up the Patients failed"}}}

// resolveMembers turns a plan into Patient ids: references must name
// existing Patients, identifiers exactly one, and every Patient must be
// within the client's reach. All or nothing.
func (s *Server) resolveMembers(ctx context.Context, plan *memberPlan, p *Principal) ([]newMember, *requestError) {
	var out []newMember
	pop, err := s.population(ctx, p)
	if err != nil {
		s.log.Error("reading the client's population", "err", err)
		return nil, errStore
	}
	if len(plan.refs) > 0 {
		if pc, ok := s.exporter.(PatientChecker); ok {
			ids := make([]string, len(plan.refs))
			for i, r := range plan.refs {
				ids[i] = r.id
			}
			missing, err := pc.MissingPatients(ctx, ids)
			if err != nil {
				s.log.Error("checking member references", "err", err)
				return nil, errStore
			}
			if len(missing) > 0 {
				return nil, unprocessable("not-found", "%d of the Patient references name no Patient on this server (first: Patient/%s)", len(missing), missing[0])
			}
		}
		for _, r := range plan.refs {
			out = append(out, newMember{PatientID: r.id, Start: r.start, End: r.end})
		}
	}
	if plan.expand {
		// A nested Group: its active members now (a snapshot).
		for _, gid := range plan.groups {
			err := s.store.eachMember(ctx, gid, func(m member) error {
				if !m.Inactive {
					out = append(out, newMember{PatientID: m.PatientID})
				}
				return nil
			})
			if err != nil {
				return nil, errStore
			}
		}
	}
	if len(plan.idents) > 0 {
		ids := make([]PatientIdentifier, len(plan.idents))
		for i, r := range plan.idents {
			ids[i] = r.ident
		}
		found, err := s.findPatients(ctx, ids, pop)
		if err != nil {
			s.log.Error("resolving member identifiers", "err", err)
			return nil, errStore
		}
		var none, many int
		for _, r := range plan.idents {
			switch pids := found[r.ident]; len(pids) {
			case 0:
				none++
			case 1:
				out = append(out, newMember{PatientID: pids[0], Start: r.start, End: r.end})
			default:
				many++
			}
		}
		if none+many > 0 {
			return nil, unprocessable("not-found", "of %d identifiers, %d name no Patient and %d name several (never guessed); nothing was changed", len(ids), none, many)
		}
	}
	if pop != nil {
		n := 0
		for _, m := range out {
			if !pop[m.PatientID] {
				n++
			}
		}
		if n > 0 {
			return nil, unprocessable("forbidden", "%d of the Patients are not members of this client's Groups; nothing was changed", n)
		}
	}
	// One row per Patient: the last mention wins.
	seen := map[string]int{}
	dedup := out[:0]
	for _, m := range out {
		if i, ok := seen[m.PatientID]; ok {
			dedup[i] = m
			continue
		}
		seen[m.PatientID] = len(dedup)
		dedup = append(dedup, m)
	}
	return dedup, nil
}

// findPatients resolves identifiers through the exporter's PatientFinder,
// else the candidate store of matching (identifiers with a system: its
// identifier blocks, compared exactly), else one pass over the
// exporter's Patients; within pop when it is not
// nil (a client's reach: an MRN another facility also issued then names
// the client's own Patient).
func (s *Server) findPatients(ctx context.Context, ids []PatientIdentifier, pop map[string]bool) (map[PatientIdentifier][]string, error) {
	if f, ok := s.exporter.(PatientFinder); ok {
		found, err := f.FindPatients(ctx, ids)
		if pop != nil {
			for k, pids := range found {
				found[k] = slices.DeleteFunc(pids, func(id string) bool { return !pop[id] })
			}
		}
		return found, err
	}
	if found, ok, err := s.findInCandidates(ctx, ids, pop); err != nil || ok {
		return found, err
	}
	sk := &identSink{want: map[string][]PatientIdentifier{}, found: map[PatientIdentifier][]string{}}
	for _, id := range ids {
		sk.want[id.Value] = append(sk.want[id.Value], id)
	}
	q := pipeline.Query{Types: []string{"Patient"}, AsOf: s.now()}
	if pop != nil {
		q.PatientIDs = make([]string, 0, len(pop))
		for id := range pop {
			q.PatientIDs = append(q.PatientIDs, id)
		}
		slices.Sort(q.PatientIDs)
		if len(q.PatientIDs) == 0 {
			return sk.found, nil
		}
	}
	err := s.exporter.Export(ctx, q, sk)
	return sk.found, err
}

// identSink collects the Patients carrying wanted identifiers.
type identSink struct {
	want  map[string][]PatientIdentifier // by value
	found map[PatientIdentifier][]string
}

func (k *identSink) Resource(r *fhirout.Object) error {
	if r.ResourceType() != "Patient" {
		return nil
	}
	for _, c := range identifiers(r) {
		for _, w := range k.want[c.code] {
			if (w.System == "" || w.System == c.system) && !slices.Contains(k.found[w], r.ID()) {
				k.found[w] = append(k.found[w], r.ID())
			}
		}
	}
	return nil
}

func (k *identSink) Deleted(string, string, time.Time) error { return nil }
func (k *identSink) Issue(*fhirout.Object) error             { return nil }

// findInCandidates resolves identifiers through the candidate store:
// the persons filed under an identifier's blocking key, kept when they
// carry exactly that system and value. ok is false when it cannot answer
// (an identifier without a system, a matcher that does not block on
// identifiers, a block too common to read).
func (s *Server) findInCandidates(ctx context.Context, ids []PatientIdentifier, pop map[string]bool) (found map[PatientIdentifier][]string, ok bool, err error) {
	m, err := s.matcher()
	if err != nil {
		return nil, false, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		if id.System == "" {
			return nil, false, nil
		}
		if keys[i] = m.IdentifierKey(match.Identifier{System: id.System, Value: id.Value}); keys[i] == "" {
			return nil, false, nil
		}
	}
	st, err := s.candidateStore(ctx, m, time.Time{})
	if err != nil {
		return nil, false, err
	}
	found = map[PatientIdentifier][]string{}
	for i, id := range ids {
		pids, more, err := st.Lookup(ctx, keys[i], maxIdentifierHolders)
		if err != nil {
			return nil, false, err
		}
		if more {
			return nil, false, nil
		}
		for _, pid := range pids {
			if pop != nil && !pop[pid] {
				continue
			}
			r, known, err := st.Person(ctx, pid)
			if err != nil {
				return nil, false, err
			}
			if known && slices.ContainsFunc(r.Identifiers, func(x match.Identifier) bool { return x.System == id.System && x.Value == id.Value }) &&
				!slices.Contains(found[id], pid) {
				found[id] = append(found[id], pid)
			}
		}
	}
	return found, true, nil
}

// maxIdentifierHolders bounds the persons read for one identifier.
const maxIdentifierHolders = 100

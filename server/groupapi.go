package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/iisbridge/iisbridge/fhirout"
)

// The Group API: read and search for every Group a client may see, and
// create, update, delete, $member-add and $member-remove for the Groups a
// client manages itself (Bulk Data "member-based" Groups in the manner of
// Da Vinci ATR, and Bulk Cohort criteria Groups, cohort.go).
//
// Choices where the specifications leave room:
//   - Large Groups: a Group resource in a response (read or search) holds
//     at most _count members (default and maximum 1000), in Patient id
//     order; when more follow, the read answers with an HTTP Link header
//     rel="next" (RFC 8288) to the next page (Group/[id]?_count=N&_cursor=…)
//     and the resource carries meta.tag SUBSETTED. quantity always counts
//     every active member. _summary=true leaves members out. An export
//     writes the whole Group.
//   - Ownership: a client-managed Group is visible only to the client that
//     created it (others get 404, never a confirmation that it exists); the
//     server's Groups (learned, configured) are read-only to clients (405).
//   - Who may be a member: a client allowed Patient-level export may add
//     any Patient; any other client only members of the server's Groups it
//     may see (422 otherwise), so its own Groups never widen its reach.
//   - Members by identifier (system|value) are resolved on the exporter's
//     Patients (PatientFinder when the exporter has it, else one pass over
//     the Patients); an identifier that names no Patient or several is
//     refused (422), never guessed. A call is all or nothing.
//   - $member-add/$member-remove take ATR's parameters; providerNpi and
//     providerReference are accepted and not kept (a member belongs to the
//     Group, the Group to its client).
//   - $member-remove makes the member inactive with period.end = now (the
//     history stays; inactive members are never exported); adding it again
//     makes it active and a new joiner for _since.
//   - A member-based Group may list a Group the client sees
//     (member.entity Group/[id]): its active members are taken in when the
//     Group is created or updated (a snapshot, never a live link).
//   - PUT replaces the Group, its member list included (members kept keep
//     when they joined); to change members of a large Group use
//     $member-add/$member-remove. PUT never creates (404: create with POST).
//     If-Match (W/"versionId", as the read's ETag) makes it conditional:
//     412 when the Group moved on.
//   - Only the current version is kept: Group/[id]/_history/[vid], the
//     Location of a create or update, reads it while it is current and is
//     404 once the Group moved on.
//   - Prefer: respond-async on create and update follows the FHIR
//     asynchronous interaction pattern: 202 and Content-Location
//     [base]/groupstatus/[task]; polling answers 202 while running, then 200
//     with a batch-response Bundle holding the outcome. Tasks live in memory
//     (a restart forgets them: 404) for Options.Expiry after they end.

// maxMemberPage is the most members one Group resource carries in a
// response.
const maxMemberPage = 1000

// maxGroupBody bounds a Group create or update body.
const maxGroupBody = 32 << 20

// memberPage says which members a rendered Group carries.
type memberPage struct {
	after string
	count int  // members per page (0 with none)
	none  bool // _summary=true: no members
	all   bool // every member (exports)
}

var subsettedTag = func() *fhirout.Object {
	c := fhirout.NewObject()
	c.Set("system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue")
	c.Set("code", "SUBSETTED")
	c.Set("display", "subsetted")
	return c
}

// groupResource renders a stored Group with one page of members; next is
// the cursor of the page after it ("" when this is the last).
func (s *Server) groupResource(ctx context.Context, g groupRow, pg memberPage) (o *fhirout.Object, next string, err error) {
	o = fhirout.NewResource("Group")
	o.Set("id", g.ID)
	meta := o.Child("meta")
	if g.Owner != "" {
		meta.Set("versionId", strconv.FormatInt(g.Version, 10))
	}
	meta.Set("lastUpdated", fhirout.FormatInstant(g.Updated))
	if g.Kind == kindCohort {
		meta.Set("profile", []any{BulkCohortProfile})
	}
	var body *fhirout.Object
	if g.Owner != "" && g.Body != "" {
		if body, err = fhirout.ParseObject([]byte(g.Body)); err != nil {
			return nil, "", fmt.Errorf("group %s: stored body: %w", g.ID, err)
		}
	}
	if body != nil {
		for k, v := range body.All() {
			switch k {
			case "resourceType", "id", "meta", "member", "quantity", "actual", "type", "active":
				continue
			}
			o.Set(k, v)
		}
	} else if g.OrgKey != "" {
		id := fhirout.NewObject()
		id.Set("system", GroupIdentifierSystem)
		id.Set("value", g.OrgKey)
		o.Append("identifier", id)
	}
	o.Set("active", true)
	o.Set("type", "person")
	if g.Kind == kindCohort {
		// Members are the persons the filters select when an export starts.
		var refs any
		if body != nil {
			refs, _ = body.Get("member")
		}
		o.Set("actual", refs != nil)
		if refs != nil {
			o.Set("member", refs)
		}
		return o, "", nil
	}
	o.Set("actual", true)
	if body == nil {
		o.Set("name", g.Name)
		if g.OrgKey != "" || g.OrgName != "" {
			me := o.Child("managingEntity")
			if g.OrgKey != "" {
				me.Child("identifier").Set("system", GroupIdentifierSystem)
				me.Child("identifier").Set("value", g.OrgKey)
			}
			if g.OrgName != "" {
				me.Set("display", g.OrgName)
			}
		}
	}
	n, err := s.activeCount(ctx, g)
	if err != nil {
		return nil, "", err
	}
	o.Set("quantity", fhirout.Number(strconv.Itoa(n)))
	var arr []any
	add := func(m member) error {
		e := fhirout.NewObject()
		e.Child("entity").Set("reference", "Patient/"+m.PatientID)
		if !m.First.IsZero() || !m.End.IsZero() {
			p := e.Child("period")
			if !m.First.IsZero() {
				p.Set("start", fhirout.FormatInstant(m.First))
			}
			if !m.End.IsZero() {
				p.Set("end", fhirout.FormatInstant(m.End))
			}
		}
		if m.Inactive {
			e.Set("inactive", true)
		}
		arr = append(arr, e)
		return nil
	}
	subsetted := false
	switch {
	case pg.all:
		err = s.store.eachMember(ctx, g.ID, add)
	case pg.none:
		ms, err2 := s.store.membersPage(ctx, g.ID, "", 1)
		subsetted, err = len(ms) > 0, err2
	default:
		ms, err2 := s.store.membersPage(ctx, g.ID, pg.after, pg.count+1)
		err = err2
		if len(ms) > pg.count {
			ms = ms[:pg.count]
			next = ms[len(ms)-1].PatientID
		}
		for _, m := range ms {
			add(m)
		}
		subsetted = next != "" || (pg.after != "" && len(ms) > 0) || (pg.count == 0 && n > 0)
	}
	if err != nil {
		return nil, "", err
	}
	if len(arr) > 0 {
		o.Set("member", arr)
	}
	if subsetted {
		meta.Set("tag", []any{subsettedTag()})
	}
	return o, next, nil
}

// countKey names a Group's state: every membership change moves its
// updated time or version.
type countKey struct {
	id       string
	upd, ver int64
}

// activeCount is the Group's active member count (quantity), counted once
// per Group state: counting a large Group costs far more than reading a
// page of it.
func (s *Server) activeCount(ctx context.Context, g groupRow) (int, error) {
	k := countKey{g.ID, nanos(g.Updated), g.Version}
	s.gtMu.Lock()
	n, ok := s.counts[k]
	s.gtMu.Unlock()
	if ok {
		return n, nil
	}
	n, err := s.store.activeMembers(ctx, g.ID)
	if err != nil {
		return 0, err
	}
	s.gtMu.Lock()
	if s.counts == nil || len(s.counts) > 4096 {
		s.counts = map[countKey]int{}
	}
	s.counts[k] = n
	s.gtMu.Unlock()
	return n, nil
}

// mayReadGroups refuses Group reads to a client without read access to
// Group (system/Group.rs or system/*.rs).
func (s *Server) mayReadGroups(w http.ResponseWriter, r *http.Request) bool {
	if principal(r).MayRead("Group") {
		return true
	}
	s.outcome(w, r, http.StatusForbidden, "forbidden", "this client may not read Group resources (scope system/Group.rs)")
	return false
}

// visibleGroup loads Group id for the request's client: nil (after a 404)
// when it does not exist or is not the client's to see.
func (s *Server) visibleGroup(w http.ResponseWriter, r *http.Request, id string) *groupRow {
	g, err := s.store.group(r.Context(), id)
	if err != nil {
		s.internalError(w, r, "reading the Group store", err)
		return nil
	}
	if g == nil || !visibleTo(g, principal(r)) {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no Group with this id")
		return nil
	}
	info(r).group = g.ID
	return g
}

// groupAuditEvent names a Group change for the audit log.
func groupAuditEvent(route, method string) string {
	switch {
	case strings.HasSuffix(route, "/$member-add"):
		return "group.member-add"
	case strings.HasSuffix(route, "/$member-remove"):
		return "group.member-remove"
	case strings.HasSuffix(route, "/$roster-import"):
		return "group.roster-import"
	case method == http.MethodPost:
		return "group.create"
	case method == http.MethodPut:
		return "group.update"
	}
	return "group.delete"
}

// pageParams reads _summary, _count and _cursor of a Group read.
func pageParams(q url.Values, allowed ...string) (memberPage, error) {
	for k := range q {
		if !slices.Contains(allowed, k) && k != "_summary" && k != "_count" && k != "_format" {
			return memberPage{}, fmt.Errorf("parameter %s is not supported here", k)
		}
	}
	pg := memberPage{count: maxMemberPage}
	switch v := q.Get("_summary"); v {
	case "", "false":
	case "true":
		pg.none = true
	case "count":
		if !slices.Contains(allowed, "_cursor") { // search only
			break
		}
		fallthrough
	default:
		return pg, fmt.Errorf("_summary=%s is not supported here (true or false)", v)
	}
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return pg, fmt.Errorf("_count=%s: want a number of members, 0 to %d", v, maxMemberPage)
		}
		pg.count = min(n, maxMemberPage)
		pg.none = pg.none || n == 0
	}
	pg.after = q.Get("_cursor")
	return pg, nil
}

// readGroup handles GET [base]/Group/[id] and, for the Location a create
// or update answers with, GET [base]/Group/[id]/_history/[vid]. Only the
// current version of a Group is kept, so it is the only one read; an
// earlier one, or a version of a Group learned from the logs (which has
// none), is 404.
func (s *Server) readGroup(w http.ResponseWriter, r *http.Request) {
	if !s.mayReadGroups(w, r) {
		return
	}
	pg, err := pageParams(r.URL.Query(), "_cursor")
	if err != nil {
		s.outcome(w, r, http.StatusBadRequest, "not-supported", err.Error())
		return
	}
	g := s.visibleGroup(w, r, mux.Vars(r)["id"])
	if g == nil {
		return
	}
	if vid, ok := mux.Vars(r)["vid"]; ok && (g.Owner == "" || vid != strconv.FormatInt(g.Version, 10)) {
		s.outcome(w, r, http.StatusNotFound, "not-found", "only the current version of a Group is kept: read it at Group/"+g.ID)
		return
	}
	o, next, err := s.groupResource(r.Context(), *g, pg)
	if err != nil {
		s.internalError(w, r, "reading the Group store", err)
		return
	}
	if next != "" {
		u := s.baseURL + "/Group/" + g.ID + "?" + url.Values{"_count": {strconv.Itoa(pg.count)}, "_cursor": {next}}.Encode()
		w.Header().Set("Link", "<"+u+">; rel=\"next\"")
	}
	if g.Owner != "" {
		w.Header().Set("ETag", `W/"`+strconv.FormatInt(g.Version, 10)+`"`)
	}
	writeResource(w, http.StatusOK, o)
}

// groupSearch is a parsed GET Group query.
type groupSearch struct {
	ids, names                []string
	nameMod                   string
	identifiers, entityIdents []string
	entityRefs                []string
	count                     bool
	page                      memberPage
}

// groupSearchParams are the parameters of GET Group. _count is left out:
// a client sees few Groups, all in one page; members are paged per Group.
var groupSearchParams = []string{"_id", "identifier", "name", "name:exact", "name:contains", "managing-entity", "managing-entity:identifier", "_summary", "_format"}

func parseGroupSearch(q url.Values) (*groupSearch, error) {
	gs := &groupSearch{}
	for k, vs := range q {
		if !slices.Contains(groupSearchParams, k) {
			return nil, fmt.Errorf("search parameter %s is not supported on Group (supported: _id, identifier, name, managing-entity, _summary)", k)
		}
		var all []string
		for _, v := range vs {
			all = append(all, strings.Split(v, ",")...) // commas OR
		}
		switch k {
		case "_id":
			gs.ids = all
		case "identifier":
			gs.identifiers = all
		case "name", "name:exact", "name:contains":
			gs.names, gs.nameMod = all, strings.TrimPrefix(strings.TrimPrefix(k, "name"), ":")
		case "managing-entity":
			gs.entityRefs = all
		case "managing-entity:identifier":
			gs.entityIdents = all
		}
	}
	if q.Get("_summary") == "count" {
		gs.count = true
	}
	pq := url.Values{}
	if v := q.Get("_summary"); v != "" && v != "count" {
		pq.Set("_summary", v)
	}
	pg, err := pageParams(pq)
	gs.page = pg
	return gs, err
}

// tokenMatch applies a token search value ([system]|value, |value,
// system|, value) to one system/value pair.
func tokenMatch(want, sys, val string) bool {
	ws, wv, hasSys := strings.Cut(want, "|")
	if !hasSys {
		return ws == val
	}
	return ws == sys && (wv == "" || wv == val) || ws == "" && sys == "" && wv == val
}

// identifiersOf lists the Group's identifiers and its managing entity's
// reference and identifier as rendered.
func groupIdents(o *fhirout.Object) (idents []coded, entityRef string, entityIdent coded) {
	idents = identifiers(o)
	if me, ok := o.Get("managingEntity"); ok {
		if m, ok := me.(*fhirout.Object); ok {
			entityRef = text(m, "reference")
			if ids := objects(m, "identifier"); len(ids) == 1 {
				sys, _ := ids[0].Get("system")
				val, _ := ids[0].Get("value")
				entityIdent.system, _ = sys.(string)
				entityIdent.code, _ = val.(string)
			}
		}
	}
	return
}

func anyOf(wants []string, test func(string) bool) bool {
	if wants == nil {
		return true
	}
	for _, w := range wants {
		if test(w) {
			return true
		}
	}
	return false
}

func (gs *groupSearch) match(o *fhirout.Object) bool {
	idents, ref, eid := groupIdents(o)
	name := text(o, "name")
	return anyOf(gs.ids, func(w string) bool { return w == o.ID() }) &&
		anyOf(gs.identifiers, func(w string) bool {
			return slices.ContainsFunc(idents, func(c coded) bool { return tokenMatch(w, c.system, c.code) })
		}) &&
		anyOf(gs.names, func(w string) bool {
			switch gs.nameMod {
			case "exact":
				return name == w
			case "contains":
				return strings.Contains(strings.ToLower(name), strings.ToLower(w))
			}
			return len(name) >= len(w) && strings.EqualFold(name[:len(w)], w)
		}) &&
		anyOf(gs.entityRefs, func(w string) bool { return ref != "" && (ref == w || strings.HasSuffix(ref, "/"+w)) }) &&
		anyOf(gs.entityIdents, func(w string) bool { return eid.code != "" && tokenMatch(w, eid.system, eid.code) })
}

// searchGroups answers GET Group with the Groups the client may see that
// match the query.
func (s *Server) searchGroups(w http.ResponseWriter, r *http.Request) {
	if !s.mayReadGroups(w, r) {
		return
	}
	q, err := parseGroupSearch(r.URL.Query())
	if err != nil {
		s.outcome(w, r, http.StatusBadRequest, "not-supported", err.Error())
		return
	}
	gs, err := s.store.groups(r.Context())
	if err != nil {
		s.internalError(w, r, "reading the Group store", err)
		return
	}
	p := principal(r)
	b := fhirout.NewResource("Bundle")
	b.Set("type", "searchset")
	var entries []any
	for _, g := range gs {
		if !visibleTo(&g, p) {
			continue
		}
		o, _, err := s.groupResource(r.Context(), g, memberPage{none: true})
		if err != nil {
			s.internalError(w, r, "reading the Group store", err)
			return
		}
		if !q.match(o) {
			continue
		}
		if q.count {
			entries = append(entries, nil)
			continue
		}
		if !q.page.none {
			if o, _, err = s.groupResource(r.Context(), g, q.page); err != nil {
				s.internalError(w, r, "reading the Group store", err)
				return
			}
		}
		e := fhirout.NewObject()
		e.Set("fullUrl", s.baseURL+"/Group/"+g.ID)
		e.Set("resource", o)
		e.Child("search").Set("mode", "match")
		entries = append(entries, e)
	}
	b.Set("total", fhirout.Number(strconv.Itoa(len(entries))))
	link := fhirout.NewObject()
	link.Set("relation", "self")
	self := s.baseURL + "/Group"
	if r.URL.RawQuery != "" {
		self += "?" + r.URL.RawQuery
	}
	link.Set("url", self)
	b.Set("link", []any{link})
	if len(entries) > 0 && !q.count {
		b.Set("entry", entries)
	}
	writeResource(w, http.StatusOK, b)
}

// mayWriteGroups refuses a Group change without the scope for it.
func (s *Server) mayWriteGroups(w http.ResponseWriter, r *http.Request, op byte) bool {
	if principal(r).MayWrite("Group", op) {
		return true
	}
	what := map[byte]string{'c': "create", 'u': "update", 'd': "delete"}[op]
	s.outcome(w, r, http.StatusForbidden, "forbidden", "this client may not "+what+" Groups (scope system/Group."+string(op)+" or system/Group.cud)")
	return false
}

// ownGroup loads Group id for a change by the request's client: 404 when
// it is not visible, 405 when it is the server's.
func (s *Server) ownGroup(w http.ResponseWriter, r *http.Request, id string) *groupRow {
	g := s.visibleGroup(w, r, id)
	if g == nil {
		return nil
	}
	if g.Owner == "" {
		s.outcome(w, r, http.StatusMethodNotAllowed, "not-supported", "this Group is maintained by the server; clients may read and export it but not change it")
		return nil
	}
	return g
}

// readGroupBody reads a Group resource from a request body.
func readGroupBody(r *http.Request) (*fhirout.Object, *requestError) {
	data, rerr := readFHIRBody(r, maxGroupBody, "want a FHIR resource as application/fhir+json",
		"body", ": create the Group smaller and use $member-add")
	if rerr != nil {
		return nil, rerr
	}
	if !json.Valid(data) {
		var v any
		return nil, badRequest("structure", "body: %s", jsonProblem(json.Unmarshal(data, &v)))
	}
	o, err := fhirout.ParseObject(data)
	if err != nil {
		return nil, badRequest("structure", "body: want a JSON object (a Group resource)")
	}
	return o, nil
}

// createGroup handles POST [base]/Group.
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	if !s.mayWriteGroups(w, r, 'c') {
		return
	}
	o, rerr := readGroupBody(r)
	if rerr == nil {
		s.changeGroup(w, r, o, nil)
		return
	}
	writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
}

// updateGroup handles PUT [base]/Group/[id].
func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request) {
	if !s.mayWriteGroups(w, r, 'u') {
		return
	}
	id := mux.Vars(r)["id"]
	g := s.ownGroup(w, r, id)
	if g == nil {
		return
	}
	if im := r.Header.Get("If-Match"); im != "" {
		v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), 10, 64)
		if err != nil || v != g.Version {
			s.outcome(w, r, http.StatusPreconditionFailed, "conflict", fmt.Sprintf("If-Match %s: the Group is at version %d", im, g.Version))
			return
		}
	} else {
		g.Version = 0 // no precondition
	}
	o, rerr := readGroupBody(r)
	if rerr == nil && o.ID() != id {
		rerr = badRequest("invalid", "the Group's id (%q) must equal the id in the URL (%q)", o.ID(), id)
	}
	if rerr == nil {
		s.changeGroup(w, r, o, g)
		return
	}
	writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
}

// changeGroup validates a Group sent by a client and creates it (old nil)
// or replaces old, synchronously or, with Prefer: respond-async, as a task.
func (s *Server) changeGroup(w http.ResponseWriter, r *http.Request, o *fhirout.Object, old *groupRow) {
	p := principal(r)
	g, plan, rerr := s.checkGroup(r.Context(), o, p)
	if rerr != nil {
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
		return
	}
	if old != nil {
		g.ID, g.Version = old.ID, old.Version
	} else {
		g.ID = "g-" + newID()[:24]
	}
	info(r).group = g.ID
	run := func(ctx context.Context) (int, *fhirout.Object, error) {
		ms, rerr := s.resolveMembers(ctx, plan, p)
		if rerr != nil {
			return rerr.status, fhirout.OperationOutcome(rerr.issues...), nil
		}
		now := s.now()
		status := http.StatusCreated
		if g.Kind == kindCohort || ms == nil {
			// A cohort's Patient references stay in its body: it keeps no
			// member rows. A list without members replaces with none.
			ms = []newMember{}
		}
		if old == nil {
			if err := s.store.createGroup(ctx, g, ms, now); err != nil {
				return 0, nil, err
			}
		} else {
			status = http.StatusOK
			ok, err := s.store.updateGroup(ctx, g, ms, now)
			if err != nil {
				return 0, nil, err
			}
			if !ok {
				if g.Version != 0 {
					return http.StatusPreconditionFailed, fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: "conflict", Diagnostics: "the Group changed since the version given in If-Match"}), nil
				}
				return http.StatusNotFound, fhirout.OperationOutcome(fhirout.Issue{Severity: "error", Code: "not-found", Diagnostics: "no Group with this id"}), nil
			}
		}
		s.log.Info("group changed", "group", g.ID, "client", p.ClientID, "kind", g.Kind, "members", len(ms), "created", old == nil)
		stored, err := s.store.group(ctx, g.ID)
		if err != nil || stored == nil {
			return 0, nil, fmt.Errorf("reading back group %s: %v", g.ID, err)
		}
		res, _, err := s.groupResource(ctx, *stored, memberPage{count: maxMemberPage})
		return status, res, err
	}
	if async, _ := preferences(r); async {
		s.startGroupTask(w, r, p, run)
		return
	}
	status, res, err := run(r.Context())
	if err != nil {
		s.internalError(w, r, "storing the Group", err)
		return
	}
	if status < 300 {
		w.Header().Set("Location", s.baseURL+"/Group/"+g.ID+"/_history/"+text(res.Child("meta"), "versionId"))
	}
	writeResource(w, status, res)
}

// deleteGroup handles DELETE [base]/Group/[id].
func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	if !s.mayWriteGroups(w, r, 'd') {
		return
	}
	g := s.ownGroup(w, r, mux.Vars(r)["id"])
	if g == nil {
		return
	}
	ok, err := s.store.deleteGroup(r.Context(), g.ID, g.Owner)
	if err != nil {
		s.internalError(w, r, "deleting the Group", err)
		return
	}
	if !ok {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no Group with this id")
		return
	}
	s.log.Info("group deleted", "group", g.ID, "client", g.Owner)
	w.WriteHeader(http.StatusNoContent)
}

// memberOp handles Group/[id]/$member-add and $member-remove: Parameters
// with patientReference (valueReference) or memberId (valueIdentifier),
// repeatable, and for adding an optional attributionPeriod.
func (s *Server) memberOp(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.mayWriteGroups(w, r, 'u') {
			return
		}
		g := s.ownGroup(w, r, mux.Vars(r)["id"])
		if g == nil {
			return
		}
		if g.Kind != kindMember {
			s.outcome(w, r, http.StatusUnprocessableEntity, "business-rule", "a criteria-based Group has no member list: change its member-filter with PUT")
			return
		}
		plan, rerr := memberParams(r, add)
		if rerr == nil {
			var ms []newMember
			ms, rerr = s.resolveMembers(r.Context(), plan, principal(r))
			if rerr == nil {
				s.applyMembers(w, r, g, ms, add)
				return
			}
		}
		writeResource(w, rerr.status, fhirout.OperationOutcome(rerr.issues...))
	}
}

func (s *Server) applyMembers(w http.ResponseWriter, r *http.Request, g *groupRow, ms []newMember, add bool) {
	now := s.now()
	var msg string
	if add {
		if err := s.store.addMembers(r.Context(), g.ID, ms, now); err != nil {
			s.internalError(w, r, "adding members", err)
			return
		}
		msg = fmt.Sprintf("%d member(s) added to Group %s", len(ms), g.ID)
	} else {
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.PatientID
		}
		not, err := s.store.removeMembers(r.Context(), g.ID, ids, now)
		if err != nil {
			s.internalError(w, r, "removing members", err)
			return
		}
		msg = fmt.Sprintf("%d member(s) removed from Group %s", len(ids)-len(not), g.ID)
		if len(not) > 0 {
			msg += fmt.Sprintf("; %d were not active members", len(not))
		}
	}
	s.log.Info("group members changed", "group", g.ID, "client", g.Owner, "add", add, "members", len(ms))
	writeResource(w, http.StatusOK, fhirout.OperationOutcome(fhirout.Issue{Severity: "information", Code: "informational", Diagnostics: msg}))
}

// groupTask is one asynchronous Group create or update.
type groupTask struct {
	owner   string
	done    bool
	status  int
	res     *fhirout.Object
	expires time.Time
}

// startGroupTask runs a Group change in the background and answers 202
// with its status URL.
func (s *Server) startGroupTask(w http.ResponseWriter, r *http.Request, p *Principal, run func(context.Context) (int, *fhirout.Object, error)) {
	id := newID()
	t := &groupTask{owner: p.ClientID}
	s.gtMu.Lock()
	if s.groupTasks == nil {
		s.groupTasks = map[string]*groupTask{}
	}
	now := s.now()
	for k, old := range s.groupTasks {
		if old.done && now.After(old.expires) {
			delete(s.groupTasks, k)
		}
	}
	s.groupTasks[id] = t
	s.gtMu.Unlock()
	s.wg.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select { // a shutdown stops the task (an identifier scan may be long)
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer s.wg.Done()
		defer cancel()
		status, res, err := run(ctx)
		if err != nil {
			s.log.Error("group task failed", "task", id, "err", err)
			status, res = http.StatusInternalServerError, fhirout.OperationOutcome(fhirout.Issue{Severity: "fatal", Code: "exception", Diagnostics: "storing the Group failed"})
		}
		s.gtMu.Lock()
		t.done, t.status, t.res, t.expires = true, status, res, s.now().Add(s.opts.Expiry)
		s.gtMu.Unlock()
	}()
	w.Header().Set("Content-Location", s.baseURL+"/groupstatus/"+id)
	s.outcome202(w)
}

func (s *Server) outcome202(w http.ResponseWriter) {
	writeResource(w, http.StatusAccepted, fhirout.OperationOutcome(fhirout.Issue{Severity: "information", Code: "informational",
		Diagnostics: "accepted: poll the Content-Location for the outcome"}))
}

// groupTaskStatus answers a poll of an asynchronous Group change.
func (s *Server) groupTaskStatus(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["task"]
	s.gtMu.Lock()
	t := s.groupTasks[id]
	var done bool
	var status int
	var res *fhirout.Object
	if t != nil && t.owner == principal(r).ClientID {
		done, status, res = t.done, t.status, t.res
	} else {
		t = nil
	}
	if t != nil && r.Method == http.MethodDelete {
		delete(s.groupTasks, id)
	}
	s.gtMu.Unlock()
	switch {
	case t == nil:
		s.outcome(w, r, http.StatusNotFound, "not-found", "no such Group task (tasks are kept in memory until they expire)")
	case r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusAccepted)
	case !done:
		w.Header().Set("Retry-After", strconv.Itoa(int(s.opts.RetryAfter.Seconds())))
		w.Header().Set("X-Progress", "in progress")
		w.WriteHeader(http.StatusAccepted)
	default:
		b := fhirout.NewResource("Bundle")
		b.Set("type", "batch-response")
		e := fhirout.NewObject()
		resp := e.Child("response")
		resp.Set("status", strconv.Itoa(status)+" "+http.StatusText(status))
		if status < 300 {
			resp.Set("location", "Group/"+res.ID()+"/_history/"+text(res.Child("meta"), "versionId"))
			e.Set("resource", res)
		} else {
			resp.Set("outcome", res)
		}
		b.Set("entry", []any{e})
		writeResource(w, http.StatusOK, b)
	}
}

// Operation definitions of the Group member operations (Da Vinci ATR).
const (
	opMemberAdd    = "http://hl7.org/fhir/us/davinci-atr/OperationDefinition/member-add"
	opMemberRemove = "http://hl7.org/fhir/us/davinci-atr/OperationDefinition/member-remove"
	opRosterImport = "urn:iisbridge:OperationDefinition:roster-import" // this server's own (roster.go)
)

// groupCapability describes the Group API in the CapabilityStatement.
func (s *Server) groupCapability(res *fhirout.Object) {
	res.Set("supportedProfile", []any{BulkCohortProfile})
	res.Set("documentation", fmt.Sprintf("Groups learned from v2 traffic and configured ones are read-only; clients create "+
		"member-based Groups (members by Patient reference or identifier) and Bulk Cohort Groups (member-filter on %s, "+
		"with the search parameters listed for _typeFilter, ANDed; members computed when an export starts). "+
		"A client sees only its own Groups and those it is registered for. "+
		"Members are paged: a Group in a response carries at most _count (default and maximum %d) members in Patient id order, "+
		"the next page linked by an HTTP Link header rel=\"next\" (Group/[id]?_count=&_cursor=), the resource tagged SUBSETTED; "+
		"_summary=true leaves members out; quantity counts every active member. "+
		"Group/[id]/$export: active members only; with _since, members who joined the Group after _since get their full history and every deletion of theirs; "+
		"patient outside the Group is a 400; an empty Group exports nothing. Create and update accept Prefer: respond-async. "+
		"Rosters: POST Group/$roster-import (a new Group, ?name=) or Group/[id]/$roster-import (?mode=add|replace) with a text/csv body "+
		"(header row; columns id, given, family, birth_date, sex, postal_code, phone, identifiers as system|value;...), Prefer: respond-async: "+
		"a job whose manifest lists one searchset Bundle per row (matched, ambiguous, not-found or invalid, with candidates as $bulk-match grades them) "+
		"and the Group; only single certain matches join it. "+
		"Learned Groups: one per organization (MSH-22, else MSH-4, through the configured organizations table); member.period.start is the first evidence; "+
		"members without evidence within the configured window are inactive.",
		strings.Join(s.cohortTypes(), " and "), maxMemberPage))
	for _, code := range []string{"read", "vread", "search-type", "create", "update", "delete"} {
		in := fhirout.NewObject()
		in.Set("code", code)
		res.Append("interaction", in)
	}
	for _, sp := range []struct{ name, def, typ string }{
		{"_id", "http://hl7.org/fhir/SearchParameter/Resource-id", "token"},
		{"identifier", "http://hl7.org/fhir/SearchParameter/Group-identifier", "token"},
		{"name", "http://hl7.org/fhir/SearchParameter/Group-name", "string"},
		{"managing-entity", "http://hl7.org/fhir/SearchParameter/Group-managing-entity", "reference"},
	} {
		o := fhirout.NewObject()
		o.Set("name", sp.name)
		o.Set("definition", sp.def)
		o.Set("type", sp.typ)
		res.Append("searchParam", o)
	}
	res.Set("operation", []any{operation("export", opGroupExport), operation("member-add", opMemberAdd), operation("member-remove", opMemberRemove),
		operation("roster-import", opRosterImport)})
}

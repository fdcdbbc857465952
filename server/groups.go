package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"iisbridge/fhirout"
	"iisbridge/pipeline"
)

// GroupIdentifierSystem names the organization key in Group.identifier
// and Group.managingEntity.identifier.
const GroupIdentifierSystem = "urn:iisbridge:organization"

var groupIDRE = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// groupRow is one Group as stored.
type groupRow struct {
	ID, Name, OrgKey, OrgName string
	Static                    bool
	Updated                   time.Time
}

// OrgGroupID is the stable Group id of an organization key.
func OrgGroupID(orgKey string) string {
	h := sha256.Sum256([]byte(orgKey))
	return "org-" + hex.EncodeToString(h[:8])
}

func (s *store) group(ctx context.Context, id string) (*groupRow, error) {
	var g groupRow
	var upd int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, org_key, org_name, static, updated FROM groups WHERE id = ?`, id).
		Scan(&g.ID, &g.Name, &g.OrgKey, &g.OrgName, &g.Static, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	g.Updated = fromNanos(upd)
	return &g, err
}

func (s *store) groups(ctx context.Context) ([]groupRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, org_key, org_name, static, updated FROM groups ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []groupRow
	for rows.Next() {
		var g groupRow
		var upd int64
		if err := rows.Scan(&g.ID, &g.Name, &g.OrgKey, &g.OrgName, &g.Static, &upd); err != nil {
			return nil, err
		}
		g.Updated = fromNanos(upd)
		out = append(out, g)
	}
	return out, rows.Err()
}

type member struct {
	PatientID   string
	First, Last time.Time
}

func (s *store) members(ctx context.Context, gid string) ([]member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT patient_id, first, last FROM group_members WHERE group_id = ? ORDER BY patient_id`, gid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []member
	for rows.Next() {
		var m member
		var f, l int64
		if err := rows.Scan(&m.PatientID, &f, &l); err != nil {
			return nil, err
		}
		m.First, m.Last = fromNanos(f), fromNanos(l)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *store) memberIDs(ctx context.Context, gid string) ([]string, error) {
	ms, err := s.members(ctx, gid)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.PatientID
	}
	return ids, nil
}

// loadStaticGroups replaces the configured Groups.
func (s *Server) loadStaticGroups(ctx context.Context, gs []StaticGroup) error {
	tx, err := s.store.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE static = 1)`); err != nil {
		return err
	}
	if _, err := tx.Exec(`DELETE FROM groups WHERE static = 1`); err != nil {
		return err
	}
	now := nanos(s.now())
	for _, g := range gs {
		if !groupIDRE.MatchString(g.ID) {
			return fmt.Errorf("group id %q is not a FHIR id", g.ID)
		}
		if _, err := tx.Exec(`INSERT OR REPLACE INTO groups(id, name, org_key, org_name, static, updated) VALUES(?,?,?,?,1,?)`,
			g.ID, g.Name, g.OrgKey, g.Name, now); err != nil {
			return err
		}
		for _, m := range g.Members {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO group_members(group_id, patient_id) VALUES(?,?)`, g.ID, m); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// RefreshGroups rebuilds the learned Groups (one per organization) from
// the exporter's memberships, when it has them. Call it after each index
// update; it also runs every Options.GroupRefresh.
func (s *Server) RefreshGroups(ctx context.Context) error {
	ms, ok := s.exporter.(pipeline.MembershipSource)
	if !ok {
		return nil
	}
	tx, err := s.store.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stamp := s.now().UnixNano()
	if _, err := tx.Exec(`DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE static = 0)`); err != nil {
		return err
	}
	seen := map[string]bool{}
	n := 0
	err = ms.Memberships(ctx, func(m pipeline.Membership) error {
		if m.OrgKey == "" || m.PatientID == "" {
			return nil
		}
		gid := OrgGroupID(m.OrgKey)
		if !seen[gid] {
			seen[gid] = true
			name := m.OrgName
			if name == "" {
				name = m.OrgKey
			}
			if _, err := tx.Exec(`INSERT INTO groups(id, name, org_key, org_name, static, updated) VALUES(?,?,?,?,0,?)
				ON CONFLICT(id) DO UPDATE SET name = excluded.name, org_name = excluded.org_name, updated = excluded.updated`,
				gid, name, m.OrgKey, m.OrgName, stamp); err != nil {
				return err
			}
		}
		n++
		_, err := tx.Exec(`INSERT INTO group_members(group_id, patient_id, first, last) VALUES(?,?,?,?)
			ON CONFLICT(group_id, patient_id) DO UPDATE SET
			  first = CASE WHEN excluded.first > 0 AND (first = 0 OR excluded.first < first) THEN excluded.first ELSE first END,
			  last = max(last, excluded.last)`,
			gid, m.PatientID, nanos(m.First), nanos(m.Last))
		return err
	})
	if err != nil {
		return fmt.Errorf("reading memberships: %w", err)
	}
	if _, err := tx.Exec(`DELETE FROM groups WHERE static = 0 AND updated <> ?`, stamp); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.log.Info("groups refreshed", "groups", len(seen), "memberships", n)
	return nil
}

// groupResource renders a stored Group as FHIR.
func (s *Server) groupResource(ctx context.Context, g groupRow) (*fhirout.Object, error) {
	ms, err := s.store.members(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	o := fhirout.NewResource("Group")
	o.Set("id", g.ID)
	o.Child("meta").Set("lastUpdated", fhirout.FormatInstant(g.Updated))
	if g.OrgKey != "" {
		id := fhirout.NewObject()
		id.Set("system", GroupIdentifierSystem)
		id.Set("value", g.OrgKey)
		o.Append("identifier", id)
	}
	o.Set("active", true)
	o.Set("type", "person")
	o.Set("actual", true)
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
	o.Set("quantity", fhirout.Number(strconv.Itoa(len(ms))))
	if len(ms) > 0 {
		arr := make([]any, len(ms))
		for i, m := range ms {
			e := fhirout.NewObject()
			e.Child("entity").Set("reference", "Patient/"+m.PatientID)
			if !m.First.IsZero() {
				e.Child("period").Set("start", fhirout.FormatInstant(m.First))
			}
			arr[i] = e
		}
		o.Set("member", arr)
	}
	return o, nil
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

func (s *Server) readGroup(w http.ResponseWriter, r *http.Request) {
	if !s.mayReadGroups(w, r) {
		return
	}
	g, err := s.store.group(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.internalError(w, r, "reading the Group store", err)
		return
	}
	if g == nil || !principal(r).MaySeeGroup(g.ID, g.OrgKey) {
		s.outcome(w, r, http.StatusNotFound, "not-found", "no Group with this id")
		return
	}
	o, err := s.groupResource(r.Context(), *g)
	if err != nil {
		s.internalError(w, r, "reading the Group store", err)
		return
	}
	writeResource(w, http.StatusOK, o)
}

// searchGroups answers GET Group with the Groups the client may see,
// optionally narrowed by identifier ([system|]value) or name (prefix).
func (s *Server) searchGroups(w http.ResponseWriter, r *http.Request) {
	if !s.mayReadGroups(w, r) {
		return
	}
	q := r.URL.Query()
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
		if !p.MaySeeGroup(g.ID, g.OrgKey) {
			continue
		}
		if v := q.Get("identifier"); v != "" {
			sys, val, hasSys := strings.Cut(v, "|")
			if !hasSys {
				val, sys = sys, ""
			}
			if val != g.OrgKey || (hasSys && sys != GroupIdentifierSystem) {
				continue
			}
		}
		if v := q.Get("name"); v != "" && !strings.HasPrefix(strings.ToLower(g.Name), strings.ToLower(v)) {
			continue
		}
		o, err := s.groupResource(r.Context(), g)
		if err != nil {
			s.internalError(w, r, "reading the Group store", err)
			return
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
	if len(entries) > 0 {
		b.Set("entry", entries)
	}
	writeResource(w, http.StatusOK, b)
}

// exportGroups writes the Group resources the job's owner may see
// (system-level export with Group in _type).
func (s *Server) exportGroups(ctx context.Context, k *jobSink, spec *exportSpec) error {
	gs, err := s.store.groups(ctx)
	if err != nil {
		return fmt.Errorf("reading Groups: %w", err)
	}
	p := k.owner
	for _, g := range gs {
		if p != nil && !p.MaySeeGroup(g.ID, g.OrgKey) {
			continue
		}
		if !spec.query.Since.IsZero() && !g.Updated.After(spec.query.Since) {
			continue
		}
		o, err := s.groupResource(ctx, g)
		if err != nil {
			return fmt.Errorf("reading Groups: %w", err)
		}
		if err := k.Resource(o); err != nil {
			return err
		}
	}
	return nil
}

package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"

	"github.com/iisbridge/iisbridge/match"
	"github.com/iisbridge/iisbridge/membership"
	"github.com/iisbridge/iisbridge/pipeline"
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
	Owner                     string // client that manages it; "" = the server's
	Kind                      string // kindServer, kindMember, kindCohort
	Body                      string // client-managed: the Group JSON as sent, without id, meta, member (cohort: member kept)
	Version                   int64
}

// OrgGroupID is the stable Group id of an organization key.
func OrgGroupID(orgKey string) string {
	h := sha256.Sum256([]byte(orgKey))
	return "org-" + hex.EncodeToString(h[:8])
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
	if _, err := tx.Exec(`DELETE FROM group_members WHERE group_id IN (SELECT id FROM groups WHERE static = 0 AND owner = '')`); err != nil {
		return err
	}
	seen := map[string]bool{}
	n := 0
	pol := s.groupPolicy()
	var qm *queryMatcher
	err = ms.Memberships(ctx, func(m pipeline.Membership) error {
		if m.OrgKey == "" {
			return nil
		}
		org, ok := pol.Resolve(m.OrgKey, m.Facility, m.OrgName)
		if ok && m.Trigger == pipeline.TriggerUnanswered && m.Asked != nil && org.Triggers.UnansweredQuery {
			if qm == nil {
				var qerr error
				if qm, qerr = s.newQueryMatcher(ctx); qerr != nil {
					return qerr
				}
			}
			var merr error
			if m, ok, merr = qm.match(ctx, m); merr != nil || !ok {
				return merr // no confident single match: no evidence
			}
		}
		if !ok || m.PatientID == "" || !org.Triggers.Accepts(m.Trigger) {
			return nil // outside the table (counted below), or not a trigger of this organization
		}
		gid := OrgGroupID(org.Key)
		if !seen[gid] {
			seen[gid] = true
			name := org.Name
			if name == "" {
				name = org.Key
			}
			if _, err := tx.Exec(`INSERT INTO groups(id, name, org_key, org_name, static, updated) VALUES(?,?,?,?,0,?)
				ON CONFLICT(id) DO UPDATE SET name = excluded.name, org_name = excluded.org_name, updated = excluded.updated, version = version + 1`,
				gid, name, org.Key, org.Name, stamp); err != nil {
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
	if _, err := tx.Exec(`DELETE FROM groups WHERE static = 0 AND owner = '' AND updated <> ?`, stamp); err != nil {
		return err
	}
	if w := s.opts.GroupInactiveAfter; w > 0 {
		// Transient membership: no evidence within the window.
		if _, err := tx.Exec(`UPDATE group_members SET inactive = 1, ended = last
			WHERE group_id IN (SELECT id FROM groups WHERE static = 0 AND owner = '') AND last > 0 AND last < ?`,
			nanos(s.now().Add(-w))); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	unknown, records, err := s.unknownSenders(ctx, pol)
	if err != nil {
		return err
	}
	s.metrics.unknownSenders(unknown, records)
	if unknown > 0 {
		s.log.Warn("groups: senders outside the organizations table make no Group", "senders", unknown, "records", records)
	}
	if qm != nil {
		s.log.Info("groups: unanswered queries matched on their demographics", "queries", qm.queries, "matched", qm.matched)
	}
	s.warmCandidates()
	s.log.Info("groups refreshed", "groups", len(seen), "memberships", n)
	return nil
}

// queryMatcher matches the queries whose answer is missing from the log
// (membership trigger unanswered_query) with the matcher of
// $bulk-match, over its candidate store: only a single certain match is
// evidence (trigger query-matched, confidence its score).
type queryMatcher struct {
	m                *match.Matcher
	st               *match.SQLStore
	queries, matched int
}

func (s *Server) newQueryMatcher(ctx context.Context) (*queryMatcher, error) {
	m, err := s.matcher()
	if err != nil {
		return nil, err
	}
	st, err := s.candidateStore(ctx, m, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("matching unanswered queries: %w", err)
	}
	return &queryMatcher{m: m, st: st}, nil
}

func (q *queryMatcher) match(ctx context.Context, ms pipeline.Membership) (pipeline.Membership, bool, error) {
	q.queries++
	a := ms.Asked
	res, err := q.m.Match(ctx, q.st, match.Record{ID: ms.Location, Given: a.Given, Middle: a.Middle, Family: a.Family,
		BirthDate: a.BirthDate, Sex: a.Sex, Postal: a.Postal, Phone: a.Phone})
	if err != nil {
		return ms, false, fmt.Errorf("matching an unanswered query: %w", err)
	}
	best := res.Best()
	if best == nil {
		return ms, false, nil
	}
	q.matched++
	ms.PatientID, ms.Trigger, ms.Confidence, ms.Asked = best.ID, membership.TriggerQueryMatched, best.Score, nil
	return ms, true, nil
}

func (s *Server) groupPolicy() *membership.Policy {
	if s.opts.GroupPolicy != nil {
		return s.opts.GroupPolicy
	}
	return membership.Default()
}

// unknownSenders counts the senders outside the organizations table and
// their VXU/QBP records (0 without a table, or a source that does not
// count senders).
func (s *Server) unknownSenders(ctx context.Context, pol *membership.Policy) (senders int, records int64, err error) {
	ss, ok := s.exporter.(pipeline.SenderSource)
	if !ok || !pol.Table() {
		return 0, 0, nil
	}
	var all []membership.Sender
	err = ss.Senders(ctx, func(x pipeline.Sender) error {
		all = append(all, membership.Sender{OrgKey: x.OrgKey, Facility: x.Facility, Name: x.Name, Records: x.Records})
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("reading senders: %w", err)
	}
	for _, u := range pol.Unknown(all) {
		senders++
		records += u.Records
	}
	return senders, records, nil
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
		if p != nil && !visibleTo(&g, p) {
			continue
		}
		if !spec.query.Since.IsZero() && !g.Updated.After(spec.query.Since) {
			continue
		}
		o, _, err := s.groupResource(ctx, g, memberPage{all: true})
		if err != nil {
			return fmt.Errorf("reading Groups: %w", err)
		}
		if err := k.Resource(o); err != nil {
			return err
		}
	}
	return nil
}

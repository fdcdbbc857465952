package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Group kinds as stored. Learned and configured Groups belong to the
// server (owner ""); client-managed ones to the client that created them.
const (
	kindServer = ""       // learned from v2 traffic, or configured
	kindMember = "member" // client-managed member list (Bulk Data "member-based")
	kindCohort = "cohort" // Bulk Cohort profile: member-filter criteria
)

// groupColumns are the columns the Group tables gained after their first
// release; migrateGroups adds those a store from an older version lacks.
var groupColumns = []struct{ table, col, def string }{
	{"groups", "owner", "TEXT NOT NULL DEFAULT ''"}, // client id of a client-managed Group
	{"groups", "kind", "TEXT NOT NULL DEFAULT ''"},  // kindServer, kindMember, kindCohort
	{"groups", "body", "TEXT NOT NULL DEFAULT ''"},  // client-managed: the Group as sent, without id, meta, member
	{"groups", "version", "INTEGER NOT NULL DEFAULT 1"},
	{"group_members", "inactive", "INTEGER NOT NULL DEFAULT 0"},
	{"group_members", "ended", "INTEGER NOT NULL DEFAULT 0"}, // member.period.end
	{"group_members", "added", "INTEGER NOT NULL DEFAULT 0"}, // when the member joined on this server (_since)
}

func migrateGroups(db *sql.DB) error {
	for _, c := range groupColumns {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pragma_table_info(?) WHERE name = ?`, c.table, c.col).Scan(&n)
		if err != nil {
			return fmt.Errorf("checking %s.%s: %w", c.table, c.col, err)
		}
		if n == 0 {
			if _, err := db.Exec(`ALTER TABLE ` + c.table + ` ADD COLUMN ` + c.col + ` ` + c.def); err != nil {
				return fmt.Errorf("adding %s.%s: %w", c.table, c.col, err)
			}
		}
	}
	_, err := db.Exec(`CREATE INDEX IF NOT EXISTS groups_owner ON groups(owner)`)
	return err
}

const groupCols = `id, name, org_key, org_name, static, updated, owner, kind, body, version`

func scanGroup(sc interface{ Scan(...any) error }) (*groupRow, error) {
	var g groupRow
	var upd int64
	if err := sc.Scan(&g.ID, &g.Name, &g.OrgKey, &g.OrgName, &g.Static, &upd, &g.Owner, &g.Kind, &g.Body, &g.Version); err != nil {
		return nil, err
	}
	g.Updated = fromNanos(upd)
	return &g, nil
}

func (s *store) group(ctx context.Context, id string) (*groupRow, error) {
	g, err := scanGroup(s.db.QueryRowContext(ctx, `SELECT `+groupCols+` FROM groups WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return g, err
}

func (s *store) groups(ctx context.Context) ([]groupRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+groupCols+` FROM groups ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []groupRow
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// member is one row of a Group's member list.
type member struct {
	PatientID   string
	First, Last time.Time // first and last evidence; client-managed: period.start
	End         time.Time // period.end
	Added       time.Time // joined on this server ("" = First)
	Inactive    bool
}

// joined is when the member joined the Group, for _since.
func (m member) joined() time.Time {
	if !m.Added.IsZero() {
		return m.Added
	}
	return m.First
}

// membersPage lists up to n members with a Patient id after `after`, in
// id order (keyset paging: a Group of a million members is read a page
// at a time).
func (s *store) membersPage(ctx context.Context, gid, after string, n int) ([]member, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT patient_id, first, last, ended, added, inactive FROM group_members
		WHERE group_id = ? AND patient_id > ? ORDER BY patient_id LIMIT ?`, gid, after, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []member
	for rows.Next() {
		var m member
		var f, l, e, a int64
		if err := rows.Scan(&m.PatientID, &f, &l, &e, &a, &m.Inactive); err != nil {
			return nil, err
		}
		m.First, m.Last, m.End, m.Added = fromNanos(f), fromNanos(l), fromNanos(e), fromNanos(a)
		out = append(out, m)
	}
	return out, rows.Err()
}

// eachMember calls fn for every member of a Group, a page at a time.
func (s *store) eachMember(ctx context.Context, gid string, fn func(member) error) error {
	after := ""
	for {
		ms, err := s.membersPage(ctx, gid, after, 10000)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(ms) < 10000 {
			return nil
		}
		after = ms[len(ms)-1].PatientID
	}
}

// activeMembers counts the members an export would include.
func (s *store) activeMembers(ctx context.Context, gid string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM group_members WHERE group_id = ? AND inactive = 0`, gid).Scan(&n)
	return n, err
}

// newMember is a member as a client adds it.
type newMember struct {
	PatientID  string
	Start, End time.Time // member.period
}

// createGroup stores a new client-managed Group with its members.
func (s *store) createGroup(ctx context.Context, g *groupRow, ms []newMember, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO groups(id, name, org_key, org_name, static, updated, owner, kind, body, version) VALUES(?,?,?,?,0,?,?,?,?,1)`,
		g.ID, g.Name, g.OrgKey, g.OrgName, nanos(now), g.Owner, g.Kind, g.Body); err != nil {
		return err
	}
	if err := upsertMembers(tx, g.ID, ms, now); err != nil {
		return err
	}
	return tx.Commit()
}

// updateGroup replaces a client-managed Group's content and, when ms is
// not nil, its member list (members kept keep when they joined). It
// reports false when the Group is gone, is not owner's, or (g.Version not
// 0) is no longer at version g.Version.
func (s *store) updateGroup(ctx context.Context, g *groupRow, ms []newMember, now time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`UPDATE groups SET name = ?, org_key = ?, org_name = ?, body = ?, kind = ?, updated = ?, version = version + 1
		WHERE id = ? AND owner = ? AND (? = 0 OR version = ?)`, g.Name, g.OrgKey, g.OrgName, g.Body, g.Kind, nanos(now), g.ID, g.Owner, g.Version, g.Version)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if ms != nil {
		if _, err := tx.Exec(`CREATE TEMP TABLE IF NOT EXISTS keep_members(patient_id TEXT PRIMARY KEY)`); err != nil {
			return false, err
		}
		if _, err := tx.Exec(`DELETE FROM keep_members`); err != nil {
			return false, err
		}
		for _, m := range ms {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO keep_members VALUES(?)`, m.PatientID); err != nil {
				return false, err
			}
		}
		if _, err := tx.Exec(`DELETE FROM group_members WHERE group_id = ? AND patient_id NOT IN (SELECT patient_id FROM keep_members)`, g.ID); err != nil {
			return false, err
		}
		if _, err := tx.Exec(`DELETE FROM keep_members`); err != nil {
			return false, err
		}
		if err := upsertMembers(tx, g.ID, ms, now); err != nil {
			return false, err
		}
	}
	return true, tx.Commit()
}

// upsertMembers adds members or updates their period; a member that was
// inactive (removed) joins again now.
func upsertMembers(tx *sql.Tx, gid string, ms []newMember, now time.Time) error {
	st, err := tx.Prepare(`INSERT INTO group_members(group_id, patient_id, first, last, ended, added, inactive) VALUES(?,?,?,?,?,?,0)
		ON CONFLICT(group_id, patient_id) DO UPDATE SET first = excluded.first, ended = excluded.ended,
		  added = CASE WHEN inactive = 1 THEN excluded.added ELSE added END, inactive = 0`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, m := range ms {
		if _, err := st.Exec(gid, m.PatientID, nanos(m.Start), 0, nanos(m.End), nanos(now)); err != nil {
			return err
		}
	}
	return nil
}

// touchGroup marks a Group changed (a member added or removed).
func touchGroup(tx *sql.Tx, gid string, now time.Time) error {
	_, err := tx.Exec(`UPDATE groups SET updated = ?, version = version + 1 WHERE id = ?`, nanos(now), gid)
	return err
}

// addMembers adds or re-activates members of a client-managed Group.
func (s *store) addMembers(ctx context.Context, gid string, ms []newMember, now time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := upsertMembers(tx, gid, ms, now); err != nil {
		return err
	}
	if err := touchGroup(tx, gid, now); err != nil {
		return err
	}
	return tx.Commit()
}

// removeMembers makes members inactive with period.end now (the Group
// keeps the record: ATR's attribution history); it returns the ids that
// were not active members.
func (s *store) removeMembers(ctx context.Context, gid string, ids []string, now time.Time) (notMembers []string, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, id := range ids {
		res, err := tx.Exec(`UPDATE group_members SET inactive = 1, ended = ? WHERE group_id = ? AND patient_id = ? AND inactive = 0`, nanos(now), gid, id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			notMembers = append(notMembers, id)
		}
	}
	if len(notMembers) < len(ids) {
		if err := touchGroup(tx, gid, now); err != nil {
			return nil, err
		}
	}
	return notMembers, tx.Commit()
}

// deleteGroup removes a client-managed Group of owner with its members.
func (s *store) deleteGroup(ctx context.Context, gid, owner string) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	res, err := tx.Exec(`DELETE FROM groups WHERE id = ? AND owner = ? AND owner <> ''`, gid, owner)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if _, err := tx.Exec(`DELETE FROM group_members WHERE group_id = ?`, gid); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// visibleTo says whether principal p may see Group g: a client-managed
// Group only by the client that created it; the server's by its Groups.
func visibleTo(g *groupRow, p *Principal) bool {
	if g.Owner != "" {
		return g.Owner == p.ClientID
	}
	return p.MaySeeGroup(g.ID, g.OrgKey)
}

// population is the set of Patient ids principal p may put in its own
// Groups (nil = everyone): a client allowed Patient-level export reaches
// every Patient; any other client only the members of the server's
// Groups it may see, so a client-managed Group never widens what its
// client could export before.
func (s *Server) population(ctx context.Context, p *Principal) (map[string]bool, error) {
	if p.MayExport(levelPatient) && p.Groups == nil {
		return nil, nil
	}
	gs, err := s.store.groups(ctx)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, g := range gs {
		if g.Owner != "" || !p.MaySeeGroup(g.ID, g.OrgKey) {
			continue
		}
		err := s.store.eachMember(ctx, g.ID, func(m member) error {
			if !m.Inactive {
				set[m.PatientID] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return set, nil
}

// cleanRef turns "Patient/x", a full URL ending in it, or "x" into x.
func cleanRef(ref, typ string) (string, bool) {
	ref = strings.TrimSpace(ref)
	if i := strings.LastIndex(ref, typ+"/"); i >= 0 && (i == 0 || ref[i-1] == '/') {
		ref = ref[i+len(typ)+1:]
	} else if strings.Contains(ref, "/") {
		return "", false
	}
	if i := strings.Index(ref, "/_history"); i >= 0 {
		ref = ref[:i]
	}
	return ref, groupIDRE.MatchString(ref)
}

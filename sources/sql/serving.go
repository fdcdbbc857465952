package sql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// What serving a relational source needs besides Scan (the pipeline's
// Relational exporter): every person key, to map Patient ids back to keys,
// and the organization → person links Groups are learned from.

// EachKey calls fn with every person key in key order. It reads the key
// column only: a Patient- or Group-level export maps the Patient ids it is
// asked for back to keys with it, holding nothing per person.
func (r *Reader) EachKey(ctx context.Context, fn func(key string) error) error {
	p := &r.cfg.Persons
	s := &scanner{r: r, cfg: r.cfg, d: r.d}
	q := "SELECT " + s.col("p", p.Key) + " FROM " + s.from(p, "p") + " ORDER BY " + s.col("p", p.Key)
	rows, err := r.db.QueryContext(ctx, q)
	if err != nil {
		return r.redact(fmt.Errorf("source %s: listing person keys: %w", r.cfg.Source, err))
	}
	defer rows.Close()
	var k any
	for rows.Next() {
		if err := rows.Scan(&k); err != nil {
			return r.redact(fmt.Errorf("source %s: listing person keys: %w", r.cfg.Source, err))
		}
		if err := fn(keyText(k)); err != nil {
			return err
		}
	}
	return r.redact(rows.Err())
}

// Membership is one organization → person link a memberships query lists.
type Membership struct {
	Person          string // person key
	OrgKey, OrgName string
	First, Last     time.Time // zero when the query gives none
}

// MembershipColumns are the columns a memberships query returns (first
// and last may be NULL).
var MembershipColumns = []string{"person", "org_key", "org_name", "first", "last"}

// DefaultMembershipsQuery lists the default schema's submitters
// (patient_reported) as Group links, the organization keyed as a v2
// sender is (its MSH-22 id, else namespace|OID). A link to a person merged
// into another is the survivor's; soft-deleted persons are in no Group.
func DefaultMembershipsQuery(d Dialect) string {
	key := "o.org_code || '|' || o.org_oid"
	if d.Name == "mysql" || d.Name == "sqlserver" {
		key = "CONCAT(o.org_code, '|', o.org_oid)"
	}
	return "SELECT COALESCE(p.merged_into, r.patient_id) AS person, CASE WHEN o.msh22_id IS NOT NULL AND o.msh22_id <> '' THEN o.msh22_id ELSE " + key +
		" END AS org_key, o.organization_name AS org_name, r.first_reported AS " + d.Quote("first") + ", r.last_reported AS " + d.Quote("last") +
		" FROM patient_reported r JOIN org_master o ON o.org_id = r.org_id JOIN patient_master p ON p.patient_id = r.patient_id" +
		" WHERE COALESCE(p.deleted_flag, 'N') <> 'Y' ORDER BY r.patient_id"
}

// Memberships runs a memberships query (columns MembershipColumns) and
// calls fn for each link. Rows with no person or organization are
// skipped.
func (r *Reader) Memberships(ctx context.Context, query string, fn func(Membership) error) error {
	rows, err := r.db.QueryContext(ctx, query)
	if err != nil {
		return r.redact(fmt.Errorf("source %s: memberships query: %w", r.cfg.Source, err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return r.redact(fmt.Errorf("source %s: memberships query: %w", r.cfg.Source, err))
	}
	idx := map[string]int{}
	for i, c := range cols {
		idx[strings.ToLower(c)] = i
	}
	for _, c := range MembershipColumns {
		if _, ok := idx[c]; !ok {
			return fmt.Errorf("source %s: memberships query: no column %q (want %s)", r.cfg.Source, c, strings.Join(MembershipColumns, ", "))
		}
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	at := func(c string) (time.Time, error) {
		v := vals[idx[c]]
		if !v.Valid || v.String == "" {
			return time.Time{}, nil
		}
		s, err := normalize('t', "", v.String)
		if err != nil {
			return time.Time{}, fmt.Errorf("source %s: memberships query: column %s: %w", r.cfg.Source, c, err)
		}
		return time.Parse(time.RFC3339Nano, s)
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return r.redact(fmt.Errorf("source %s: memberships query: %w", r.cfg.Source, err))
		}
		m := Membership{Person: vals[idx["person"]].String, OrgKey: vals[idx["org_key"]].String, OrgName: vals[idx["org_name"]].String}
		if m.Person == "" || m.OrgKey == "" {
			continue
		}
		if m.First, err = at("first"); err != nil {
			return err
		}
		if m.Last, err = at("last"); err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return r.redact(rows.Err())
}

// Name is the source's id (its description's source:).
func (r *Reader) Name() string { return r.cfg.Source }

// Ping checks that the database answers (at start-up: a wrong DSN or a
// database down shows at once). The error holds no secret.
func (r *Reader) Ping(ctx context.Context) error {
	if err := r.db.PingContext(ctx); err != nil {
		return r.redact(fmt.Errorf("source %s: connecting: %w", r.cfg.Source, err))
	}
	return nil
}

// BatchSize is how many persons one batch reads (a consumer reading ahead
// buffers about that many).
func (r *Reader) BatchSize() int { return r.cfg.BatchSize }

// CountPersons counts the person rows (outside any snapshot: an export's
// progress total, not its content).
func (r *Reader) CountPersons(ctx context.Context) (int64, error) {
	s := &scanner{r: r, cfg: r.cfg, d: r.d}
	var n int64
	if err := r.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+s.from(&r.cfg.Persons, "p")).Scan(&n); err != nil {
		return 0, r.redact(fmt.Errorf("source %s: counting persons: %w", r.cfg.Source, err))
	}
	return n, nil
}

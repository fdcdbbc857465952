package sql

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/iisbridge/iisbridge/mapping"
)

// Row is one row read: column name to text value. Dates declared under
// dates: come as YYYY-MM-DD, timestamps as RFC 3339 UTC; NULL is absent.
// It implements mapping.Row.
type Row struct {
	Table   string // the table's name in the description (persons: "persons")
	Key     string // the row's key, as text
	Deleted bool   // soft-deleted per the table's deleted: flag
	cols    *columns
	// text holds the row's values back to back, spans where each is: one
	// string and a pointer-free slice per row instead of a string per value
	// (the collector scans neither value by value).
	text  string
	spans []span
	// links are the lookup rows this row points to, by position in
	// cols.lookups (nil entry: points to none); set by the reader for rows
	// of a lookup's from: child.
	links []*Row
}

// span is where a value is in its row's text; off == nullOff: NULL.
type span struct{ off, end uint32 }

const nullOff = ^uint32(0)

var nullSpan = span{nullOff, nullOff}

// value is the value of a column by position.
func (r *Row) value(i int) (string, bool) {
	sp := r.spans[i]
	if sp.off == nullOff {
		return "", false
	}
	return r.text[sp.off:sp.end], true
}

// columns is the column list shared by the rows of one query result (a
// mapping.ColumnLayout).
type columns struct {
	names   []string
	index   map[string]int
	lookups []string // names of the lookups reached from these rows (Row.links)
}

// ColumnIndex is a column's position, -1 when there is none.
func (c *columns) ColumnIndex(name string) int {
	if i, ok := c.index[name]; ok {
		return i
	}
	return -1
}

// Column returns a column's value; ok is false for NULL or no such column.
func (r *Row) Column(name string) (string, bool) {
	i, ok := r.cols.index[name]
	if !ok {
		return "", false
	}
	return r.value(i)
}

// Layout is the row's column list, shared by the rows of its query.
func (r *Row) Layout() mapping.ColumnLayout { return r.cols }

// ColumnAt returns the value at a position of Layout; ok is false for NULL
// or a position < 0.
func (r *Row) ColumnAt(i int) (string, bool) {
	if i < 0 {
		return "", false
	}
	return r.value(i)
}

// Columns lists the row's columns in query order.
func (r *Row) Columns() []string { return r.cols.names }

// Record is one person as the database holds them: the person row, their
// child rows by child name (in key order) and the lookup rows those point
// to. It is the record the sources contract carries for a relational
// source: Locator() re-reads it, Key is the identity key, Modified its
// time, Problems its warnings.
type Record struct {
	Source     string
	Key        string // the person key, as text
	Person     *Row
	Children   map[string][]*Row
	Lookups    map[string][]*Row
	Deleted    bool      // the person row is soft-deleted
	MergedInto string    // key of the person this one was merged into, when set
	Modified   time.Time // newest last-modified among the person's rows; zero when none is declared
	Problems   []Problem // rows of this person with a bad value (the value is left out, the row kept)
	keyValue   any
	lookupFrom map[string][2]string // lookup name → child, column (Lookup)
}

// Locator names the record for a re-read: source, root table, key.
func (r *Record) Locator() string { return r.Source + "/persons/" + r.Key }

// Problem is a bad row: which source, table and key, and what is wrong.
// It never holds a value read (PHI).
type Problem struct {
	Source, Table, Key, Column string
	Msg                        string
}

func (p Problem) String() string {
	s := p.Source + ": " + p.Table
	if p.Key != "" {
		s += " key " + p.Key
	}
	if p.Column != "" {
		s += " column " + p.Column
	}
	return s + ": " + p.Msg
}

// TableStats accounts for every row read from one table: Read = Yielded +
// Orphans.
type TableStats struct {
	Read     int64 // rows the database returned
	Yielded  int64 // rows handed out in a record
	Orphans  int64 // children whose parent is not a person read (range mode), or lookups nobody asked for
	Problems int64 // rows with a bad value (still yielded)
}

// Result is the outcome of one scan.
type Result struct {
	TransactionTime time.Time // the database clock just before the snapshot
	Persons         int64
	Tables          map[string]*TableStats // by description name ("persons" for the root)
}

// ScanOptions narrow a scan.
type ScanOptions struct {
	// Since and Until select persons any of whose rows has a declared
	// last-modified value in [Since, Until); zero = unbounded.
	Since, Until time.Time
	// Keys, when set, selects these persons only (a Patient- or
	// Group-level export), read batch_size keys at a time; unknown keys are
	// skipped. The window applies too.
	Keys []string
	// OnProblem receives each bad row (with the record's problems too).
	OnProblem func(Problem)
}

// Reader reads one relational source.
type Reader struct {
	cfg     *Config
	d       Dialect
	db      *sql.DB
	secrets []string
	// Tests: viaDatabaseSQL reads PostgreSQL through database/sql only;
	// pgPath hears which way each table is read.
	viaDatabaseSQL bool
	pgPath         func(table string, native bool)
}

// Open connects to the source's database (${NAME} in the DSN expanded).
// Errors never hold the DSN's secrets.
func Open(cfg *Config) (*Reader, error) {
	dsn, secrets, err := expandDSN(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source, err)
	}
	d, dsn, err := SplitDSN(cfg.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source, err)
	}
	r := &Reader{cfg: cfg, d: d, secrets: append(secrets, dsnSecrets(dsn)...)}
	db, err := openDB(d, dsn)
	if err != nil {
		return nil, r.redact(fmt.Errorf("source %s: opening the database: %w", cfg.Source, err))
	}
	r.db = db
	return r, nil
}

// openDB opens dsn. MariaDB/MySQL: the driver puts a query's parameters
// into its text itself (interpolateParams, unless the DSN says otherwise):
// one round trip per query instead of prepare, execute and close, and
// rows in the text protocol, whose values the reader takes as they come
// (the binary protocol allocates each integer and timestamp; every batch
// but the first has parameters). Values read are the same text either way.
func openDB(d Dialect, dsn string) (*sql.DB, error) {
	if d.Driver != "mysql" || strings.Contains(dsn, "interpolateParams=") {
		return sql.Open(d.Driver, dsn)
	}
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return sql.Open(d.Driver, dsn) // the driver's own error, at first use
	}
	mc.InterpolateParams = true
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// Close closes the database handle.
func (r *Reader) Close() error { return r.db.Close() }

// Dialect is the database's dialect.
func (r *Reader) Dialect() Dialect { return r.d }

var userinfoRE = regexp.MustCompile(`^[^/@]*?:([^@]*)@`)

// dsnSecrets finds the password in a URL or user:password@ DSN.
func dsnSecrets(dsn string) []string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			return []string{p, url.QueryEscape(p), url.PathEscape(p)}
		}
	}
	if u, err := url.Parse(dsn); err == nil && u.Query().Get("password") != "" {
		return []string{u.Query().Get("password")}
	}
	if g := userinfoRE.FindStringSubmatch(dsn); g != nil && g[1] != "" {
		return []string{g[1]}
	}
	return nil
}

// redact removes the DSN's secrets from an error's text.
func (r *Reader) redact(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	changed := false
	for _, sec := range r.secrets {
		if sec != "" && strings.Contains(s, sec) {
			s, changed = strings.ReplaceAll(s, sec, "***"), true
		}
	}
	if !changed {
		return err
	}
	return &redacted{msg: s, err: err}
}

// redacted keeps errors.Is (context.Canceled, driver.ErrBadConn) while
// its text holds no secret.
type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Is(target error) bool {
	return errors.Is(e.err, target)
}

// Scan reads every selected person in person-key order out of one
// read-only snapshot, batch by batch: one query for the batch's persons,
// one per child table, one per lookup. yield gets each record; an error
// from yield stops the scan and is returned.
func (r *Reader) Scan(ctx context.Context, opt ScanOptions, yield func(*Record) error) (*Result, error) {
	var keys []any
	if opt.Keys != nil {
		keys = make([]any, len(opt.Keys))
		for i, k := range opt.Keys {
			keys[i] = keyArg(k)
		}
		if len(keys) == 0 {
			keys = []any{} // selected, none: an empty export
		}
	}
	res, err := r.scan(ctx, opt, keys, yield)
	return res, r.redact(err)
}

// Person re-reads one person by key (a Record's Key) in a snapshot of its
// own; nil when no such person.
func (r *Reader) Person(ctx context.Context, key string) (*Record, error) {
	var v any = key
	if n, err := strconv.ParseInt(key, 10, 64); err == nil {
		v = n
	}
	var out *Record
	_, err := r.scan(ctx, ScanOptions{}, []any{v}, func(rec *Record) error { out = rec; return nil })
	return out, r.redact(err)
}

type scanner struct {
	r      *Reader
	cfg    *Config
	d      Dialect
	conn   *sql.Conn
	opt    ScanOptions
	res    *Result
	keys   []any // re-read: these person keys only
	window bool
	// lookupFrom is shared by the scan's records (Record.Lookup).
	lookupFrom map[string][2]string
	// childLookups are the lookups reached from each child's rows
	// (Row.links), lookupPos each lookup's position there.
	childLookups map[string][]string
	lookupPos    []int
	// pg reads PostgreSQL results natively (nil: another database).
	pg *pgReader
}

func (r *Reader) scan(ctx context.Context, opt ScanOptions, keys []any, yield func(*Record) error) (*Result, error) {
	cfg := r.cfg
	s := &scanner{r: r, cfg: cfg, d: r.d, opt: opt, keys: keys, window: !opt.Since.IsZero() || !opt.Until.IsZero(), lookupFrom: cfg.lookupFroms()}
	s.childLookups, s.lookupPos = cfg.childLookups()
	if r.d.Name == "postgres" && !r.viaDatabaseSQL {
		s.pg = &pgReader{native: map[string]bool{}, heard: r.pgPath}
	}
	if s.window && !s.anyModified() {
		return nil, fmt.Errorf("source %s: _since/_until need a last-modified column: declare modified: on persons or a child table", cfg.Source)
	}
	s.res = &Result{Tables: map[string]*TableStats{"persons": {}}}
	for _, t := range cfg.Children {
		s.res.Tables[t.Name] = &TableStats{}
	}
	for _, t := range cfg.Lookups {
		s.res.Tables[t.Name] = &TableStats{}
	}
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("source %s: connecting: %w", cfg.Source, err)
	}
	defer conn.Close()
	s.conn = conn
	tt, err := r.d.snapshot(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", cfg.Source, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), r.d.endStatement())
	s.res.TransactionTime = tt
	if keys != nil {
		// Selected persons (a re-read, a Patient- or Group-level export):
		// batch_size keys per batch, in key order (numeric when every key is
		// an integer).
		slices.SortFunc(keys, compareKeys)
		keys = slices.CompactFunc(keys, func(a, b any) bool { return compareKeys(a, b) == 0 })
		for len(keys) > 0 {
			n := min(len(keys), cfg.BatchSize)
			s.keys, keys = keys[:n], keys[n:]
			recs, _, err := s.batch(ctx, nil, true)
			if err != nil {
				return nil, err
			}
			for _, rec := range recs {
				s.res.Persons++
				if err := yield(rec); err != nil {
					return s.res, err
				}
			}
		}
		return s.res, nil
	}
	var last any // keyset cursor: the batch's last person key
	first := true
	for {
		recs, lastKey, err := s.batch(ctx, last, first)
		if err != nil {
			return nil, err
		}
		first = false
		for _, rec := range recs {
			s.res.Persons++
			if err := yield(rec); err != nil {
				return s.res, err
			}
		}
		if len(recs) < cfg.BatchSize {
			break
		}
		last = lastKey
	}
	return s.res, nil
}

func (s *scanner) anyModified() bool {
	if s.cfg.Persons.Modified != "" {
		return true
	}
	for _, t := range s.cfg.Children {
		if t.Modified != "" {
			return true
		}
	}
	return false
}

// from is a table reference: the quoted table, or the query as a derived
// table.
func (s *scanner) from(t *Table, alias string) string {
	if t.Query != "" {
		return "(" + t.Query + ") " + alias
	}
	parts := strings.Split(t.Table, ".")
	for i, p := range parts {
		parts[i] = s.d.Quote(p)
	}
	return strings.Join(parts, ".") + " " + alias
}

func (s *scanner) col(alias, name string) string { return alias + "." + s.d.Quote(name) }

type args struct {
	d    Dialect
	vals []any
}

func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	return a.d.Param(len(a.vals))
}

func (a *args) in(vs []any) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = a.add(v)
	}
	return "(" + strings.Join(ps, ",") + ")"
}

// windowCond is "alias.modified in [since, until)".
func (s *scanner) windowCond(a *args, alias, col string) string {
	var cs []string
	if !s.opt.Since.IsZero() {
		cs = append(cs, s.col(alias, col)+" >= "+a.add(s.d.TimeArg(s.opt.Since)))
	}
	if !s.opt.Until.IsZero() {
		cs = append(cs, s.col(alias, col)+" < "+a.add(s.d.TimeArg(s.opt.Until)))
	}
	return strings.Join(cs, " AND ")
}

// personQuery selects the next batch of persons after last.
func (s *scanner) personQuery(last any, first bool) (string, []any) {
	p := &s.cfg.Persons
	a := &args{d: s.d}
	var where []string
	switch {
	case s.keys != nil:
		where = append(where, s.col("p", p.Key)+" IN "+a.in(s.keys))
	case !first:
		where = append(where, s.col("p", p.Key)+" > "+a.add(last))
	}
	if s.window {
		var any []string
		if p.Modified != "" {
			any = append(any, "("+s.windowCond(a, "p", p.Modified)+")")
		}
		for i := range s.cfg.Children {
			t := &s.cfg.Children[i]
			if t.Modified == "" {
				continue
			}
			any = append(any, "EXISTS (SELECT 1 FROM "+s.from(t, "c")+" WHERE "+s.col("c", t.Parent)+" = "+s.col("p", p.Key)+
				" AND "+s.windowCond(a, "c", t.Modified)+")")
		}
		where = append(where, "("+strings.Join(any, " OR ")+")")
	}
	q := "SELECT " + s.d.Top(s.cfg.BatchSize) + "p.* FROM " + s.from(p, "p")
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + s.col("p", p.Key) + s.d.Limit(s.cfg.BatchSize)
	return q, a.vals
}

// batch reads one batch: persons after last, then each child table's rows
// for them (range mode: every row whose parent key is in (last, batch's
// last key], the final batch unbounded above, so a child with no parent
// is seen; with a window or a key list: parent IN the batch's keys).
func (s *scanner) batch(ctx context.Context, last any, first bool) ([]*Record, any, error) {
	cfg := s.cfg
	q, qa := s.personQuery(last, first)
	persons, err := s.query(ctx, &cfg.Persons, "persons", q, qa)
	if err != nil {
		return nil, nil, err
	}
	st := s.res.Tables["persons"]
	recs := make([]*Record, 0, len(persons.rows))
	byKey := make(map[string]*Record, len(persons.rows))
	var keyVals []any
	for i, row := range persons.rows {
		rec := &Record{Source: cfg.Source, Key: row.Key, Person: row, Children: map[string][]*Row{}, keyValue: persons.keys[i], lookupFrom: s.lookupFrom}
		rec.Deleted = row.Deleted
		if cfg.Persons.MergedInto != "" {
			rec.MergedInto, _ = row.Column(cfg.Persons.MergedInto)
		}
		s.touch(rec, &cfg.Persons, row)
		recs = append(recs, rec)
		byKey[row.Key] = rec
		keyVals = append(keyVals, persons.keys[i])
		st.Yielded++
	}
	s.problems(persons.problems, byKey, nil)
	var lastKey any
	if len(keyVals) > 0 {
		lastKey = keyVals[len(keyVals)-1]
	}
	rangeMode := s.keys == nil && !s.window
	final := len(recs) < cfg.BatchSize
	if len(recs) == 0 && !rangeMode {
		return nil, nil, nil
	}
	for i := range cfg.Children {
		t := &cfg.Children[i]
		a := &args{d: s.d}
		var where []string
		if rangeMode {
			if !first {
				where = append(where, s.col("c", t.Parent)+" > "+a.add(last))
			}
			if !final {
				where = append(where, s.col("c", t.Parent)+" <= "+a.add(lastKey))
			}
		} else {
			where = append(where, s.col("c", t.Parent)+" IN "+a.in(keyVals))
		}
		q := "SELECT c.* FROM " + s.from(t, "c")
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		q += " ORDER BY " + s.col("c", t.Parent) + ", " + s.col("c", t.Key)
		rows, err := s.query(ctx, t, t.Name, q, a.vals)
		if err != nil {
			return nil, nil, err
		}
		cst := s.res.Tables[t.Name]
		if ls := s.childLookups[t.Name]; len(ls) > 0 && len(rows.rows) > 0 {
			// Room for the rows' lookup rows (s.lookups fills it), one
			// slab for the query.
			rows.rows[0].cols.lookups = ls
			n := len(ls)
			links := make([]*Row, len(rows.rows)*n)
			for j, row := range rows.rows {
				row.links = links[j*n : (j+1)*n : (j+1)*n]
			}
		}
		parentAt := -1
		if len(rows.rows) > 0 {
			parentAt = rows.rows[0].cols.ColumnIndex(t.Parent)
		}
		for _, row := range rows.rows {
			parent, _ := row.ColumnAt(parentAt)
			rec := byKey[parent]
			if rec == nil {
				cst.Orphans++
				s.report(Problem{Source: cfg.Source, Table: t.Name, Key: row.Key, Msg: "child row whose parent " + t.Parent + " is no person read"})
				continue
			}
			rec.Children[t.Name] = append(rec.Children[t.Name], row)
			s.touch(rec, t, row)
			cst.Yielded++
		}
		s.problems(rows.problems, byKey, t)
	}
	if err := s.lookups(ctx, recs); err != nil {
		return nil, nil, err
	}
	return recs, lastKey, nil
}

// lookups fetches the rows the batch's child rows point to, one query per
// lookup (in chunks of maxBatch keys), and attaches them to each record
// that points to them.
func (s *scanner) lookups(ctx context.Context, recs []*Record) error {
	for i := range s.cfg.Lookups {
		t := &s.cfg.Lookups[i]
		child, col := s.lookupFrom[t.Name][0], s.lookupFrom[t.Name][1]
		// got: every key pointed to, and then its row (nil: none read).
		got := map[string]*Row{}
		var want []string
		for _, rec := range recs {
			rows := rec.Children[child]
			if len(rows) == 0 {
				continue
			}
			at := rows[0].cols.ColumnIndex(col) // a child's rows share their query's columns
			for _, row := range rows {
				if v, ok := row.ColumnAt(at); ok {
					if _, dup := got[v]; !dup {
						got[v] = nil
						want = append(want, v)
					}
				}
			}
		}
		if len(want) == 0 {
			continue
		}
		slices.Sort(want)
		st := s.res.Tables[t.Name]
		var yielded int64
		for len(want) > 0 {
			n := min(len(want), maxBatch)
			a := &args{d: s.d}
			var q string
			if s.pg != nil && s.pg.native[t.Name] {
				// One array parameter: PostgreSQL plans a list of
				// thousands of parameters for milliseconds.
				q = "SELECT l.* FROM " + s.from(t, "l") + " WHERE " + s.col("l", t.Key) + " = ANY(" + a.add(pgTextArray(want[:n])) + ")"
			} else {
				chunk := make([]any, n)
				for j, v := range want[:n] {
					chunk[j] = keyArg(v)
				}
				q = "SELECT l.* FROM " + s.from(t, "l") + " WHERE " + s.col("l", t.Key) + " IN " + a.in(chunk)
			}
			want = want[n:]
			rows, err := s.query(ctx, t, t.Name, q, a.vals)
			if err != nil {
				return err
			}
			for _, row := range rows.rows {
				if got[row.Key] == nil {
					yielded++ // each key read once (as before: rows by key)
				}
				got[row.Key] = row
			}
			s.problems(rows.problems, nil, t)
		}
		for _, rec := range recs {
			rows := rec.Children[child]
			if len(rows) == 0 {
				continue
			}
			at := rows[0].cols.ColumnIndex(col)
			var mine []*Row
			var missed map[string]bool
			for _, row := range rows {
				v, ok := row.ColumnAt(at)
				if !ok {
					continue
				}
				l := got[v]
				if row.links != nil {
					row.links[s.lookupPos[i]] = l
				}
				if l != nil {
					if !slices.Contains(mine, l) { // a person points to a few rows
						mine = append(mine, l)
					}
					continue
				}
				if missed[v] {
					continue
				}
				if missed == nil {
					missed = map[string]bool{}
				}
				missed[v] = true
				p := Problem{Source: s.cfg.Source, Table: child, Key: row.Key, Column: col, Msg: "points to no " + t.Name + " row"}
				rec.Problems = append(rec.Problems, p)
				s.report(p)
			}
			if len(mine) > 0 {
				if rec.Lookups == nil {
					rec.Lookups = map[string][]*Row{}
				}
				rec.Lookups[t.Name] = mine
			}
		}
		st.Yielded += yielded
	}
	return nil
}

// compareKeys orders integers numerically, before text keys.
func compareKeys(a, b any) int {
	ai, aok := a.(int64)
	bi, bok := b.(int64)
	switch {
	case aok && bok:
		return cmp.Compare(ai, bi)
	case aok:
		return -1
	case bok:
		return 1
	}
	return cmp.Compare(a.(string), b.(string))
}

// keyArg passes an integer-looking key as an integer: PostgreSQL compares
// an int column with a text parameter only after a cast.
func keyArg(v string) any {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n
	}
	return v
}

func (s *scanner) touch(rec *Record, t *Table, row *Row) {
	if t.Modified == "" {
		return
	}
	if v, ok := row.Column(t.Modified); ok {
		if m, err := time.Parse(time.RFC3339Nano, v); err == nil && m.After(rec.Modified) {
			rec.Modified = m
		}
	}
}

func (s *scanner) report(p Problem) {
	if s.opt.OnProblem != nil {
		s.opt.OnProblem(p)
	}
}

// problems hands out a query's bad values: to the record of the row's
// person when known, and to OnProblem.
func (s *scanner) problems(ps []rowProblem, byKey map[string]*Record, t *Table) {
	for _, rp := range ps {
		if t == nil || t.Parent != "" {
			var parent string
			if t == nil {
				parent = rp.row.Key
			} else {
				parent, _ = rp.row.Column(t.Parent)
			}
			if rec := byKey[parent]; rec != nil {
				rec.Problems = append(rec.Problems, rp.p)
			}
		}
		s.report(rp.p)
	}
}

type rowProblem struct {
	row *Row
	p   Problem
}

type result struct {
	rows     []*Row
	keys     []any // persons: each row's key as the driver gave it (the keyset cursor)
	problems []rowProblem
}

// query runs one statement on the snapshot's connection and reads all its
// rows (one batch: bounded by batch_size persons' rows). PostgreSQL's rows
// come through pgx's own protocol reader when their types allow it
// (pgQuery); everything else through database/sql.
func (s *scanner) query(ctx context.Context, t *Table, name, q string, args []any) (*result, error) {
	if s.pg != nil {
		if out, ok, err := s.pg.query(ctx, s, t, name, q, args); ok {
			return out, err
		}
	}
	rows, err := s.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.readErr(ctx, name, err)
	}
	defer rows.Close()
	names, err := rows.Columns()
	if err != nil {
		return nil, s.readErr(ctx, name, err)
	}
	types, _ := rows.ColumnTypes()
	kinds := make([]byte, len(names)) // 'D' SQL date, 't' timestamp, by the column's type
	for i := range names {
		if types != nil {
			switch tn := strings.ToUpper(types[i].DatabaseTypeName()); {
			case tn == "DATE":
				kinds[i] = 'D'
			case strings.Contains(tn, "TIMESTAMP") || strings.HasPrefix(tn, "DATETIME"):
				kinds[i] = 't'
			}
		}
	}
	b, err := s.newBuilder(t, name, names, kinds)
	if err != nil {
		return nil, err
	}
	// Values are scanned as RawBytes (no string per value) and copied into
	// the builder's text. A RawBytes left nil is NULL; each starts as a
	// non-nil empty buffer so that an empty string stays non-nil
	// (database/sql appends into it).
	raw := make([]sql.RawBytes, len(names))
	view := make([][]byte, len(names))
	bufs := make([][]byte, len(names))
	ptrs := make([]any, len(names))
	for i := range raw {
		bufs[i] = make([]byte, 0, 32)
		ptrs[i] = &raw[i]
	}
	var keyRaw any
	if b.isRoot {
		ptrs[b.keyIdx] = &keyRaw // persons: keep the driver's own key value for the cursor
	}
	for rows.Next() {
		for i := range raw {
			raw[i] = bufs[i][:0] // never a driver's buffer: database/sql may alias those
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, s.readErr(ctx, name, err)
		}
		for i := range raw {
			view[i] = raw[i]
		}
		if b.isRoot {
			view[b.keyIdx] = nil
			if keyRaw != nil {
				view[b.keyIdx] = []byte(keyText(keyRaw))
			}
		}
		b.add(view, keyRaw)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(ctx, name, err)
	}
	return b.out, nil
}

// builder turns one query result's values into rows: their text in shared
// chunks, dates and timestamps normalized, bad values reported.
type builder struct {
	s       *scanner
	t       *Table
	name    string
	cols    *columns
	kind    []byte // 'd' layout date, 't' timestamp, 'D' SQL date
	layouts []string
	fast    []*dateLayout // of layouts, where it applies
	keyIdx  int
	delIdx  int
	isRoot  bool
	st      *TableStats
	slab    rowSlab
	out     *result
}

// newBuilder reads a result whose columns are names; kinds are what the
// columns' database types say ('D', 't' or 0), the description's dates:
// and timestamps: taking precedence.
func (s *scanner) newBuilder(t *Table, name string, names []string, kinds []byte) (*builder, error) {
	cols := &columns{names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		cols.index[n] = i
	}
	keyIdx, ok := cols.index[t.Key]
	if !ok {
		return nil, fmt.Errorf("source %s: %s: key column %q is not in the result (columns: %s)", s.cfg.Source, name, t.Key, strings.Join(names, ", "))
	}
	b := &builder{s: s, t: t, name: name, cols: cols, kind: kinds, layouts: make([]string, len(names)), fast: make([]*dateLayout, len(names)), keyIdx: keyIdx, delIdx: -1,
		isRoot: t.Parent == "" && t.From == "", st: s.res.Tables[name], out: &result{}}
	for i, n := range names {
		if l, ok := t.Dates[n]; ok {
			b.kind[i], b.layouts[i], b.fast[i] = 'd', l, compileDateLayout(l)
		} else if n == t.Modified || slices.Contains(t.Timestamps, n) {
			b.kind[i] = 't'
		}
	}
	if t.Deleted != nil {
		if i, ok := cols.index[t.Deleted.Column]; ok {
			b.delIdx = i
		}
	}
	return b, nil
}

// add makes a row of one result row's values (nil: NULL), copied; key is
// the person key as the driver gave it (persons only: the keyset cursor).
func (b *builder) add(vals [][]byte, key any) {
	b.st.Read++
	row := b.slab.row(len(vals))
	row.Table, row.cols = b.name, b.cols
	// The row's text: the values as read, then those normalized, in one
	// piece of the chunk (room for the longest a normalized value can be).
	n := 0
	for i, v := range vals {
		n += len(v)
		if b.kind[i] != 0 && v != nil {
			n += maxNormalized
		}
	}
	b.slab.room(n)
	text := &b.slab.text
	start := text.Len()
	off := uint32(0)
	for i, v := range vals {
		if v == nil {
			row.spans[i] = nullSpan
			continue
		}
		text.Write(v)
		row.spans[i] = span{off, off + uint32(len(v))}
		off += uint32(len(v))
	}
	if b.isRoot {
		b.out.keys = append(b.out.keys, key)
	}
	if sp := row.spans[b.keyIdx]; sp.off != nullOff {
		row.Key = text.String()[start+int(sp.off) : start+int(sp.end)] // as read
	}
	for i, k := range b.kind {
		sp := row.spans[i]
		if k == 0 || sp.off == nullOff {
			continue
		}
		v := text.String()[start+int(sp.off) : start+int(sp.end)]
		out, prefix, err := b.slab.normalize(k, b.layouts[i], b.fast[i], v)
		if err == nil && len(out) > maxNormalized {
			err = errors.New("unparseable value") // beyond any time.Time: never seen
		}
		switch {
		case err != nil:
			row.spans[i] = nullSpan
			b.st.Problems++
			b.out.problems = append(b.out.problems, rowProblem{row, Problem{Source: b.s.cfg.Source, Table: b.name, Key: row.Key, Column: b.cols.names[i], Msg: err.Error()}})
		case prefix > 0:
			row.spans[i].end = sp.off + uint32(prefix)
		default:
			text.Write(out)
			row.spans[i] = span{off, off + uint32(len(out))}
			off += uint32(len(out))
		}
	}
	row.text = text.String()[start : start+int(off)]
	if b.delIdx >= 0 {
		if v, ok := row.value(b.delIdx); ok && slices.Contains(b.t.Deleted.Values, v) {
			row.Deleted = true
		}
	}
	b.out.rows = append(b.out.rows, row)
}

// maxNormalized bounds a normalized value: an RFC 3339 UTC timestamp of
// any year time.Time holds, or a date.
const maxNormalized = 40

func keyText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// rowSlab hands out one query's rows, their value slices and their text
// from chunks shared by many rows: a few allocations per chunk instead of
// four per row. Nothing is ever reused: a chunk lives as long as any of
// its rows (a batch's persons are mapped and emitted while the next
// batch is read into new chunks).
type rowSlab struct {
	rows    []Row
	spans   []span
	text    strings.Builder // strings taken from it stay valid: it only ever appends, or starts a new chunk
	scratch []byte
}

// Chunks double from small (a lookup query reads a few rows) up to these:
// small enough that a chunk is not pinned long by a row still in use (a
// 1M-row export measured the same CPU with chunks 4 times larger).
const (
	slabRows = 32      // rows per chunk
	slabVals = 512     // values per chunk (at least a row's)
	slabText = 4 << 10 // bytes of text per chunk
)

// row is a new row with room for ncols values.
func (s *rowSlab) row(ncols int) *Row {
	if len(s.rows) == cap(s.rows) {
		s.rows = make([]Row, 0, min(max(8, 2*cap(s.rows)), slabRows))
	}
	if cap(s.spans)-len(s.spans) < ncols {
		s.spans = make([]span, 0, max(min(cap(s.rows)*ncols, slabVals), ncols))
	}
	s.rows = s.rows[:len(s.rows)+1]
	r := &s.rows[len(s.rows)-1]
	n := len(s.spans)
	s.spans = s.spans[:n+ncols]
	r.spans = s.spans[n : n+ncols : n+ncols]
	return r
}

// room makes sure n more bytes of text fit in the current chunk (a string
// written then is in one piece).
func (s *rowSlab) room(n int) {
	if c := s.text.Cap(); c-s.text.Len() < n {
		s.text.Reset()
		s.text.Grow(max(n, min(max(1024, 2*c), slabText)))
	}
}

// normalize is normalize without allocating: the output is in the
// slab's scratch (valid until the next call), or, when prefix > 0, the
// first prefix bytes of v (a SQL date's).
func (s *rowSlab) normalize(kind byte, layout string, fast *dateLayout, v string) (out []byte, prefix int, err error) {
	switch kind {
	case 'd':
		if fast != nil {
			if b, ok := fast.appendISO(s.scratch[:0], v); ok {
				s.scratch = b
				return b, 0, nil
			}
		}
		t, err := time.Parse(layout, v)
		if err != nil {
			return nil, 0, fmt.Errorf("unparseable date (want layout %s)", layout)
		}
		s.scratch = t.AppendFormat(s.scratch[:0], time.DateOnly)
		return s.scratch, 0, nil
	case 'D':
		if len(v) >= 10 {
			if _, err := time.Parse(time.DateOnly, v[:10]); err == nil {
				return nil, 10, nil // valid: already the canonical form
			}
		}
		return nil, 0, errors.New("unparseable date")
	}
	if b, ok := appendCanonicalTS(s.scratch[:0], v); ok {
		s.scratch = b
		return b, 0, nil
	}
	o, err := normalize(kind, layout, v)
	s.scratch = append(s.scratch[:0], o...)
	return s.scratch, 0, err
}

// normalize rewrites a date held as text to YYYY-MM-DD, a timestamp to
// RFC 3339 UTC; the error says what is wrong without the value.
func normalize(kind byte, layout, v string) (string, error) {
	switch kind {
	case 'd':
		t, err := time.Parse(layout, v)
		if err != nil {
			return "", fmt.Errorf("unparseable date (want layout %s)", layout)
		}
		return t.Format(time.DateOnly), nil
	case 'D':
		if len(v) >= 10 {
			if t, err := time.Parse(time.DateOnly, v[:10]); err == nil {
				return t.Format(time.DateOnly), nil
			}
		}
		return "", errors.New("unparseable date")
	}
	if out, ok := canonicalTS(v); ok {
		return out, nil
	}
	t, err := parseDBTime(v)
	if err != nil {
		for _, l := range offsetLayouts {
			if t2, err2 := time.Parse(l, v); err2 == nil {
				return t2.UTC().Format(time.RFC3339Nano), nil
			}
		}
		return "", errors.New("unparseable timestamp")
	}
	return t.Format(time.RFC3339Nano), nil
}

// offsetLayouts read a timestamp with its offset: RFC 3339 (what Go
// prints), and PostgreSQL's ISO text of a timestamptz in a session's time
// zone (+05:30, -03, or an LMT zone's -03:30:12).
var offsetLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07", "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07:00:00"}

// readErr says which read failed; a lost connection ends the scan (its
// snapshot is gone with it): the caller runs the export again.
func (s *scanner) readErr(ctx context.Context, table string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("source %s: reading %s: %w", s.cfg.Source, table, ctx.Err())
	}
	return fmt.Errorf("source %s: reading %s failed (the connection may be lost; the snapshot is gone, run the scan again): %w", s.cfg.Source, table, err)
}

// canonicalTS is the fast path of normalize for what the drivers print
// (YYYY-MM-DD HH:MM:SS or ...THH:MM:SS, an optional fraction, an optional
// Z or +00:00): the same text time.RFC3339Nano would give in UTC, without
// parsing into a time.Time (timestamps are a fifth of the values read).
func canonicalTS(v string) (string, bool) {
	b, ok := appendCanonicalTS(make([]byte, 0, 30), v)
	return string(b), ok
}

// appendCanonicalTS appends canonicalTS(v) to b.
func appendCanonicalTS(b []byte, v string) ([]byte, bool) {
	if len(v) < 19 || (v[10] != ' ' && v[10] != 'T') {
		return b, false
	}
	for i := 0; i < 19; i++ {
		switch i {
		case 4, 7:
			if v[i] != '-' {
				return b, false
			}
		case 13, 16:
			if v[i] != ':' {
				return b, false
			}
		case 10:
		default:
			if v[i] < '0' || v[i] > '9' {
				return b, false
			}
		}
	}
	mo, d, h, mi, se := atoi2(v[5:7]), atoi2(v[8:10]), atoi2(v[11:13]), atoi2(v[14:16]), atoi2(v[17:19])
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 {
		return b, false
	}
	if d > 28 {
		y, _ := strconv.Atoi(v[:4])
		if time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() != d {
			return b, false
		}
	}
	rest := v[19:]
	frac := ""
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 || j > 10 {
			return b, false
		}
		frac = strings.TrimRight(rest[1:j], "0")
		rest = rest[j:]
	}
	if rest != "" && rest != "Z" && rest != "+00:00" && rest != "+00" {
		return b, false
	}
	b = append(b, v[:10]...)
	b = append(b, 'T')
	b = append(b, v[11:19]...)
	if frac != "" {
		b = append(b, '.')
		b = append(b, frac...)
	}
	b = append(b, 'Z')
	return b, true
}

func atoi2(s string) int { return int(s[0]-'0')*10 + int(s[1]-'0') }

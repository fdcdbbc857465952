package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// Snapshot is a consistent read view of the index (one SQLite read
// transaction): indexing may go on while an export reads it. Close it.
type Snapshot struct {
	x  *Index
	tx *sql.Tx
	// inputs names the inputs by id (the inputs table).
	inputs map[int64]string
	// sources names the sources by id (the sources table).
	sources map[int64]string
	msgs    *sql.Stmt // a person's messages: prepared once, run per person
	// msgsMu: one driver statement cannot run twice at once; the
	// connection serializes the calls anyway.
	msgsMu sync.Mutex
}

// Snapshot opens a read view that includes every batch stamped before the
// call.
func (x *Index) Snapshot(ctx context.Context) (*Snapshot, error) {
	x.commitMu.RLock()
	defer x.commitMu.RUnlock()
	tx, err := x.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("index: snapshot: %w", err)
	}
	s := &Snapshot{x: x, tx: tx, inputs: map[int64]string{}, sources: map[int64]string{}}
	// The first read pins the WAL snapshot.
	rows, err := tx.QueryContext(ctx, `SELECT id, name FROM inputs UNION ALL SELECT -id, name FROM sources`)
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("index: snapshot: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			tx.Rollback()
			return nil, err
		}
		if id < 0 {
			s.sources[-id] = name
			continue
		}
		s.inputs[id] = name
	}
	if err := rows.Err(); err != nil {
		tx.Rollback()
		return nil, err
	}
	s.msgs, err = tx.PrepareContext(ctx, `SELECT `+messageColumns+`
		FROM keys k JOIN messages m ON m.key_id = k.id
		WHERE k.parent = ? AND m.indexed_at <= ? ORDER BY m.at_time, m.id`)
	if err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("index: snapshot: %w", err)
	}
	return s, nil
}

// Close ends the read transaction.
func (s *Snapshot) Close() error {
	s.msgs.Close()
	return s.tx.Rollback()
}

// Person is one person: its Patient id and root key node.
type Person struct {
	ID   string
	root int64
}

// Persons lists up to n persons with an id greater than after, in id
// order (keyset pagination).
func (s *Snapshot) Persons(ctx context.Context, after string, n int) ([]Person, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT pid, id FROM keys WHERE parent = id AND pid > ? ORDER BY pid LIMIT ?`, after, n)
	if err != nil {
		return nil, fmt.Errorf("index: persons: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.ID, &p.root); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Person looks up one Patient id; ok is false when no current person has it.
func (s *Snapshot) Person(ctx context.Context, id string) (p Person, ok bool, err error) {
	err = s.tx.QueryRowContext(ctx, `SELECT pid, id FROM keys WHERE parent = id AND pid = ?`, id).Scan(&p.ID, &p.root)
	if err == sql.ErrNoRows {
		return p, false, nil
	}
	return p, err == nil, err
}

// Message is one indexed message of a person.
type Message struct {
	Loc       sources.Location // Source is the input (a file, a table); re-read through Locator
	Type      string           // MSH-9.1^MSH-9.2
	Time      time.Time        // MSH-7 (zero when absent or unusable)
	IndexedAt time.Time
	OrgKey    string
	OrgName   string
	Warnings  string // reader warnings about the input around it
	From      string // the source that read it (sources.Named)
	path      string // the input as indexed (Loc.Source may be reworded for display)
	seq       int64
	hash      sql.NullInt64 // sources.DataHash of the message when indexed
}

// ErrChanged is sources.ErrChanged.
var ErrChanged = sources.ErrChanged

// Seq is the arrival order of the message in the index.
func (m *Message) Seq() int64 { return m.seq }

// Locator is what the source re-reads the message by (Rereader.Reread):
// the source, the input and the record's place in it, id and checksum.
func (m *Message) Locator() sources.Locator {
	l := sources.Locator{From: m.From, Source: m.path, Offset: m.Loc.Offset, Length: m.Loc.Length, ID: m.Loc.ControlID}
	if m.hash.Valid {
		l.Hash = uint64(m.hash.Int64)
	}
	return l
}

// Messages lists the messages of person p, oldest first (MSH-7, then
// arrival), skipping those indexed after asOf when it is set.
func (s *Snapshot) Messages(ctx context.Context, p Person, asOf time.Time) ([]Message, error) {
	lim := noUpper
	if !asOf.IsZero() {
		lim = micros(asOf)
	}
	s.msgsMu.Lock()
	defer s.msgsMu.Unlock()
	rows, err := s.msgs.QueryContext(ctx, p.root, lim)
	if err != nil {
		return nil, fmt.Errorf("index: messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	sc := newMessageScan()
	for rows.Next() {
		m, err := s.scan(rows, sc)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// messageColumns are the columns messageScan reads, in its order: the
// arrival order and the walk record (walkRecord).
const messageColumns = `m.id, m.walk`

// messageScan reads messageColumns, after the columns of pre (read into
// pre's pointers), row after row into the same destinations. The arrival
// order is scanned into an interface, which database/sql copies as the
// driver gives it (into an *int64 it converts it through reflection), the
// walk record into RawBytes, which it does not copy.
type messageScan struct {
	seq  any
	rec  sql.RawBytes
	dest []any
}

func newMessageScan(pre ...any) *messageScan {
	sc := &messageScan{}
	sc.dest = append(pre, &sc.seq, &sc.rec)
	return sc
}

// scan reads the current row of rows.
func (s *Snapshot) scan(rows *sql.Rows, sc *messageScan) (Message, error) {
	if err := rows.Scan(sc.dest...); err != nil {
		return Message{}, err
	}
	var m Message
	var err error
	if m.seq, err = asInt64(sc.seq); err != nil {
		return Message{}, fmt.Errorf("column 0: %w", err)
	}
	r, err := readWalkRecord(sc.rec)
	if err != nil {
		return Message{}, fmt.Errorf("message %d: %w", m.seq, err)
	}
	m.Loc.Offset, m.Loc.Length, m.Loc.Line, m.Loc.Index = r.off, r.len, int(r.line), int(r.idx)
	m.Loc.ControlID, m.Type, m.OrgKey, m.OrgName, m.Warnings = r.recID, r.typ, r.orgKey, r.orgName, r.err
	in := s.inputs[r.input]
	m.Loc.Source, m.path, m.From = in, in, s.sources[r.source]
	if r.atTime != 0 {
		m.Time = fromMicros(r.atTime)
	}
	m.IndexedAt = fromMicros(r.indexed)
	if r.hasHash {
		m.hash = sql.NullInt64{Int64: int64(r.hash), Valid: true}
	}
	return m, nil
}

// asInt64 is an integer column's value as database/sql would scan it
// into an int64: the driver's int64, else converted (NULL is an error).
func asInt64(v any) (int64, error) {
	if n, ok := v.(int64); ok {
		return n, nil
	}
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return 0, err
	}
	if !n.Valid {
		return 0, errors.New("converting NULL to int64 is unsupported")
	}
	return n.Int64, nil
}

// Problem is an input record that is not a person's message: broken input
// (Kind "error"), reader warnings without a message ("warning"), or a
// message the bridge does not convert ("skipped": queries, candidate
// lists, ACKs...).
type Problem struct {
	Loc       sources.Location
	Kind      string
	Type      string
	Reason    string
	IndexedAt time.Time
}

// Problems calls fn for each error and warning item indexed in
// (since, asOf] (zero = unbounded), in arrival order. Skipped messages
// are counted by Counts, not listed.
func (s *Snapshot) Problems(ctx context.Context, since, asOf time.Time, fn func(Problem) error) error {
	lo, hi := noLower, noUpper
	if !since.IsZero() {
		lo = micros(since)
	}
	if !asOf.IsZero() {
		hi = micros(asOf)
	}
	rows, err := s.tx.QueryContext(ctx, problemsQuery, lo, hi)
	if err != nil {
		return fmt.Errorf("index: problems: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Problem
		var inputID, at int64
		if err := rows.Scan(&inputID, &p.Loc.Offset, &p.Loc.Length, &p.Loc.Line, &p.Loc.Index, &p.Loc.ControlID,
			&p.Kind, &p.Type, &p.Reason, &at); err != nil {
			return err
		}
		p.Loc.Source = s.inputs[inputID]
		p.Kind = map[string]string{"E": "error", "W": "warning"}[p.Kind]
		p.IndexedAt = fromMicros(at)
		if err := fn(p); err != nil {
			return err
		}
	}
	return rows.Err()
}

// problemsQuery is Problems' query: its kind test is messages_problems'
// condition, so it reads that index, not every message.
const problemsQuery = `SELECT input_id, off, len, line, idx, rec_id, kind, type, coalesce(err, ''), indexed_at
	FROM messages WHERE kind IN ('E', 'W') AND indexed_at > ? AND indexed_at <= ? ORDER BY id`

// DeletedPatients calls fn for each Patient id merged away in (since, asOf].
func (s *Snapshot) DeletedPatients(ctx context.Context, since, asOf time.Time, fn func(id string, at time.Time) error) error {
	lo, hi := noLower, noUpper
	if !since.IsZero() {
		lo = micros(since)
	}
	if !asOf.IsZero() {
		hi = micros(asOf)
	}
	rows, err := s.tx.QueryContext(ctx, `SELECT pid, gone_at FROM patients WHERE gone_at > ? AND gone_at <= ? ORDER BY pid`, lo, hi)
	if err != nil {
		return fmt.Errorf("index: deleted patients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return err
		}
		if err := fn(id, fromMicros(at)); err != nil {
			return err
		}
	}
	return rows.Err()
}

// kindWarned counts, in table counts, the warning issues an export
// reports about messages as read (Counts.Warned), so summaries count
// what error files hold.
const kindWarned = "w"

// Counts tallies the index by kind of record.
type Counts struct {
	Files      int64
	Records    int64 // every item indexed
	Person     int64 // VXU and single-match RSP messages
	Queries    int64 // QBP
	Candidates int64 // RSP with candidates or no match
	Skipped    int64 // other message types (ACK...)
	Errors     int64 // broken input
	Warnings   int64 // warning-only items
	Warned     int64 // warnings about messages as read (reader, parser): an export reports each
	Persons    int64 // after the last Update
	Keys       int64 // identity keys ever created (ids are not reused)
}

// Counts tallies the snapshot.
func (s *Snapshot) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	rows, err := s.tx.QueryContext(ctx, `SELECT kind, n FROM counts`)
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return c, err
		}
		if k != kindWarned {
			c.Records += n
		}
		switch k {
		case kindWarned:
			c.Warned = n
		case "P":
			c.Person = n
		case "Q":
			c.Queries = n
		case "C":
			c.Candidates = n
		case "S":
			c.Skipped = n
		case "E":
			c.Errors = n
		case "W":
			c.Warnings = n
		}
	}
	rows.Close()
	err = s.tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM inputs),
		coalesce((SELECT CAST(v AS INTEGER) FROM meta WHERE k = 'persons'), 0),
		coalesce((SELECT CAST(v AS INTEGER) FROM meta WHERE k = 'keys'), 0)`).Scan(&c.Files, &c.Persons, &c.Keys)
	return c, err
}

// NewMessage builds a Message outside the index (tests of consumers).
func NewMessage(seq int64, loc sources.Location, orgKey string, indexedAt time.Time) Message {
	return Message{seq: seq, Loc: loc, OrgKey: orgKey, IndexedAt: indexedAt}
}

// MergedInto lists the Patient ids that were merged into person p (gone
// in (since, asOf]), with the time they went: their Immunization ids are
// gone with them.
func (s *Snapshot) MergedInto(ctx context.Context, p Person, since, asOf time.Time) ([]Merged, error) {
	lo, hi := noLower, noUpper
	if !since.IsZero() {
		lo = micros(since)
	}
	if !asOf.IsZero() {
		hi = micros(asOf)
	}
	rows, err := s.tx.QueryContext(ctx, `SELECT pa.pid, pa.gone_at FROM keys k JOIN patients pa ON pa.pid = k.pid
		WHERE k.parent = ? AND k.id != k.parent AND pa.gone_at > ? AND pa.gone_at <= ? ORDER BY pa.pid`, p.root, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("index: merged patients: %w", err)
	}
	defer rows.Close()
	var out []Merged
	for rows.Next() {
		var m Merged
		var t int64
		if err := rows.Scan(&m.ID, &t); err != nil {
			return nil, err
		}
		m.At = fromMicros(t)
		out = append(out, m)
	}
	return out, rows.Err()
}

package index

// The membership ledger: organization → person evidence learned from the
// records (sources.Record.Evidence, Answers), kept per sender, person and
// trigger with its first and last evidence. The index stores every kind
// of evidence; which triggers make a Group member, and which senders
// belong to which organization, is policy applied when reading (package
// membership), so a policy change needs no re-index.
//
// Updated in finish, in the transaction that settles the links: new
// records are added (evidence of messages after ledger_mark, and query
// answers pairing a new record with an old one), rows of persons merged
// away move to the survivor, and any rebuild (a file rewritten or
// dropped: persons may split, evidence may vanish) recomputes the ledger
// from the messages that remain. The result is the same whichever way it
// was reached: re-indexing is idempotent. An Update with Options.NoLedger
// drops the mark instead, and the next one without it starts over.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

const ledgerSchema = `
CREATE TABLE IF NOT EXISTS ledger(
	pid TEXT NOT NULL,          -- the person's Patient id
	org_key TEXT NOT NULL,      -- the sender (sources.Record.OrgKey: MSH-22 id, else MSH-4)
	facility TEXT NOT NULL,     -- its MSH-4 when org_key is the MSH-22 id, else ''
	trig TEXT NOT NULL,         -- Trigger*
	org_name TEXT NOT NULL,
	root INTEGER NOT NULL,      -- the person's root identity key when written (a merge moves the row)
	first_at INTEGER NOT NULL, first_msg INTEGER NOT NULL, -- first evidence: message time (µs), messages.id
	last_at INTEGER NOT NULL, last_msg INTEGER NOT NULL,   -- last evidence
	n INTEGER NOT NULL,         -- evidence records
	confidence REAL NOT NULL DEFAULT 1, -- 1: deterministic (the record names the person)
	PRIMARY KEY(pid, org_key, facility, trig)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS asked(     -- what a QBP^Q11 asks about (PHI, like keys): matched when its answer is missing
	msg INTEGER PRIMARY KEY,     -- messages.id of the QBP
	given TEXT NOT NULL, middle TEXT NOT NULL, family TEXT NOT NULL,
	birth TEXT NOT NULL, sex TEXT NOT NULL, postal TEXT NOT NULL, phone TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS senders(
	org_key TEXT NOT NULL, facility TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	n INTEGER NOT NULL,         -- VXU and QBP records sent
	PRIMARY KEY(org_key, facility)) WITHOUT ROWID;
`

// Triggers: the kinds of evidence the ledger keeps.
const (
	TriggerVXU          = "vxu"              // any VXU about the person
	TriggerAdministered = "vxu-administered" // a VXU with a dose given there (RXA-9 00)
	TriggerHistorical   = "vxu-historical"   // a VXU with a historical dose
	TriggerRefusal      = "vxu-refusal"      // a VXU with a refusal
	TriggerQuery        = "query"            // a QBP^Q11 answered by an RSP^K11 (QAK-2 OK, MSA-2 = its MSH-10) naming one person
)

// evidenceOf is the value of messages.holds: the record's evidence bits
// (Holds alone, from a source that sets no bits, is Administered).
func evidenceOf(r *sources.Record) int64 {
	e := r.Evidence
	if r.Holds {
		e |= sources.Administered
	}
	return int64(e)
}

type senderKey struct{ org, facility string }

type senderCount struct {
	name string
	n    int64
}

// countSender counts a record that can be membership evidence from its
// sender: a VXU (Reported) or a query.
func (w *writer) countSender(r *sources.Record) {
	if r.OrgKey == "" || (r.Kind != sources.Query && r.Evidence&sources.Reported == 0) || w.x.groupless() {
		return
	}
	if w.senders == nil {
		w.senders = map[senderKey]*senderCount{}
	}
	k := senderKey{r.OrgKey, r.Facility}
	c := w.senders[k]
	if c == nil {
		c = &senderCount{}
		w.senders[k] = c
	}
	c.n++
	if r.OrgName != "" {
		c.name = r.OrgName
	}
}

func (w *writer) flushSenders() error {
	for k, c := range w.senders {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO senders(org_key, facility, name, n) VALUES(?,?,?,?)
			ON CONFLICT(org_key, facility) DO UPDATE SET n = n + excluded.n,
			name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END`, k.org, k.facility, c.name, c.n); err != nil {
			return fmt.Errorf("index: senders: %w", err)
		}
		delete(w.senders, k)
	}
	return nil
}

// uncountSenders takes an input's records out of the sender counts.
func (w *writer) uncountSenders(inputID int64) error {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT org_key, coalesce(facility, ''), count(*) FROM messages
		WHERE input_id = ? AND org_key IS NOT NULL AND (kind = 'Q' OR holds & ? != 0) GROUP BY 1, 2`, inputID, int64(sources.Reported))
	if err != nil {
		return fmt.Errorf("index: senders: %w", err)
	}
	type sc struct {
		k senderKey
		n int64
	}
	var out []sc
	for rows.Next() {
		var s sc
		if err := rows.Scan(&s.k.org, &s.k.facility, &s.n); err != nil {
			rows.Close()
			return err
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, s := range out {
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE senders SET n = n - ? WHERE org_key = ? AND facility = ?`, s.n, s.k.org, s.k.facility); err != nil {
			return err
		}
	}
	_, err = w.tx.ExecContext(w.ctx, `DELETE FROM senders WHERE n <= 0`)
	return err
}

// evidenceSQL lists the evidence of messages with ids in (?1, ?2], one
// row per message: a VXU with its evidence bits (query 0), or a query's
// evidence (query 1), ordered so that the rows of one sender about one
// person are adjacent, in time order (addEvidence makes the entries of
// each trigger from them). A query's evidence is the QBP's (its sender,
// time and place) for the person its answer names; the pair is new when
// either message is: an answer in the window, or a query in the window
// answered by a message up to ?3 (the mark; answers after it are in
// their own window).
const evidenceSQL = `
WITH ev(org_key, facility, org_name, key_id, holds, query, t, msg) AS (
	SELECT org_key, coalesce(facility, ''), coalesce(org_name, ''), key_id, holds, 0,
		CASE WHEN at_time != 0 THEN at_time ELSE indexed_at END, id
	FROM messages WHERE id > ?1 AND id <= ?2 AND kind = 'P' AND holds & 8 != 0 AND org_key IS NOT NULL AND key_id IS NOT NULL
	UNION ALL SELECT q.org_key, coalesce(q.facility, ''), coalesce(q.org_name, ''), r.key_id, 0, 1,
		CASE WHEN q.at_time != 0 THEN q.at_time ELSE q.indexed_at END, q.id
	FROM messages r JOIN messages q ON q.kind = 'Q' AND q.rec_id = r.answers
	WHERE r.id > ?1 AND r.id <= ?2 AND r.answers IS NOT NULL AND r.kind = 'P' AND r.holds & 16 != 0 AND r.type = 'RSP^K11'
		AND q.type = 'QBP^Q11' AND q.org_key IS NOT NULL AND r.key_id IS NOT NULL
	UNION ALL SELECT q.org_key, coalesce(q.facility, ''), coalesce(q.org_name, ''), r.key_id, 0, 1,
		CASE WHEN q.at_time != 0 THEN q.at_time ELSE q.indexed_at END, q.id
	FROM messages q JOIN messages r ON r.answers = q.rec_id
	WHERE q.id > ?1 AND q.id <= ?2 AND r.id <= ?3 AND q.kind = 'Q' AND q.type = 'QBP^Q11' AND q.org_key IS NOT NULL
		AND r.kind = 'P' AND r.holds & 16 != 0 AND r.type = 'RSP^K11' AND r.key_id IS NOT NULL)
SELECT root.pid, root.id, ev.org_key, ev.facility, ev.org_name, ev.holds, ev.query, ev.t, ev.msg
FROM ev JOIN keys k ON k.id = ev.key_id JOIN keys root ON root.id = k.parent
ORDER BY root.pid, ev.org_key, ev.facility, ev.t, ev.msg`

// ledgerTriggers are the triggers of evidenceSQL's rows in the order of
// the ledger's key, with the evidence bits that show each (0: a query's).
var ledgerTriggers = [...]struct {
	trig string
	bits sources.Evidence
}{
	{TriggerQuery, 0},
	{TriggerVXU, sources.Reported},
	{TriggerAdministered, sources.Administered},
	{TriggerHistorical, sources.Historical},
	{TriggerRefusal, sources.Refusal},
}

// triggersOf says which ledgerTriggers an evidenceSQL row shows (bit i:
// ledgerTriggers[i]).
func triggersOf(holds int64, query bool) uint8 {
	var m uint8
	for i, t := range ledgerTriggers {
		if (t.bits == 0) == query && (query || sources.Evidence(holds)&t.bits != 0) {
			m |= 1 << i
		}
	}
	return m
}

const upsertLedger = `INSERT INTO ledger(pid, org_key, facility, trig, org_name, root, first_at, first_msg, last_at, last_msg, n, confidence)
	VALUES`

const upsertLedgerConflict = `
	ON CONFLICT(pid, org_key, facility, trig) DO UPDATE SET
		first_msg = CASE WHEN excluded.first_at < first_at THEN excluded.first_msg ELSE first_msg END,
		first_at = min(first_at, excluded.first_at),
		last_msg = CASE WHEN excluded.last_at >= last_at THEN excluded.last_msg ELSE last_msg END,
		last_at = max(last_at, excluded.last_at),
		n = n + excluded.n, root = excluded.root, confidence = max(confidence, excluded.confidence),
		org_name = CASE WHEN excluded.org_name != '' THEN excluded.org_name ELSE org_name END`

// ledgerRow is one ledger entry being written.
type ledgerRow struct {
	pid, org, facility, trig, name string
	root                           int64
	firstAt, firstMsg              int64
	lastAt, lastMsg                int64
	n                              int64
	confidence                     float64
}

// updateLedger brings the ledger in line with the messages, in tx (after
// the links are settled and the merged-away Patient ids are marked gone
// at stamp): everything again when full, else the messages after the
// mark, then the rows of merged persons moved to their survivor.
func (x *Index) updateLedger(ctx context.Context, tx *sql.Tx, stamp int64, full bool) error {
	var mark int64
	if !full {
		err := tx.QueryRowContext(ctx, `SELECT CAST(v AS INTEGER) FROM meta WHERE k = 'ledger_mark'`).Scan(&mark)
		if err == sql.ErrNoRows {
			full = true
		} else if err != nil {
			return fmt.Errorf("index: ledger: %w", err)
		}
	}
	if full {
		mark = 0
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledger`); err != nil {
			return fmt.Errorf("index: ledger: %w", err)
		}
	}
	var top int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM messages`).Scan(&top); err != nil {
		return fmt.Errorf("index: ledger: %w", err)
	}
	for lo := mark; lo < top; lo += ledgerWindow {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := addEvidence(ctx, tx, lo, min(lo+ledgerWindow, top), mark); err != nil {
			return err
		}
	}
	if !full {
		if err := moveMerged(ctx, tx, stamp); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO meta(k, v) VALUES('ledger_mark', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`, top)
	return err
}

// ledgerWindow is how many message ids one pass of addEvidence covers:
// its entries are held in memory (writes through the transaction need
// the result set closed first).
const ledgerWindow = 100000

// addEvidence adds the evidence of the messages with ids in (lo, hi]
// (mark: see evidenceSQL); entries split over windows combine in the
// upsert. Entries are written as they are complete, while the rows are
// read (SQLite sorts them all before the first).
func addEvidence(ctx context.Context, tx *sql.Tx, lo, hi, mark int64) error {
	rows, err := tx.QueryContext(ctx, evidenceSQL, lo, hi, mark)
	if err != nil {
		return fmt.Errorf("index: ledger: %w", err)
	}
	defer rows.Close()
	lw := &ledgerWriter{ctx: ctx, tx: tx}
	defer lw.close()
	var (
		// the entries of one sender about one person (who), by trigger
		cur  [len(ledgerTriggers)]ledgerRow
		have uint8
		who  ledgerRow
	)
	flush := func() error {
		for i := range cur {
			if have&(1<<i) != 0 {
				if err := lw.add(&cur[i]); err != nil {
					return err
				}
			}
		}
		have = 0
		return nil
	}
	var r ledgerRow
	for rows.Next() {
		var holds, t, msg int64
		var query bool
		if err := rows.Scan(&r.pid, &r.root, &r.org, &r.facility, &r.name, &holds, &query, &t, &msg); err != nil {
			return fmt.Errorf("index: ledger: %w", err)
		}
		if have != 0 && (r.pid != who.pid || r.org != who.org || r.facility != who.facility) {
			if err := flush(); err != nil {
				return err
			}
		}
		who = r
		for i, m := 0, triggersOf(holds, query); m != 0; i, m = i+1, m>>1 {
			if m&1 == 0 {
				continue
			}
			e := &cur[i]
			if have&(1<<i) == 0 {
				*e = r
				e.trig = ledgerTriggers[i].trig
				e.firstAt, e.firstMsg, e.lastAt, e.lastMsg, e.n, e.confidence = t, msg, t, msg, 1, 1
				have |= 1 << i
				continue
			}
			e.lastAt, e.lastMsg = t, msg
			e.n++
			if r.name != "" {
				e.name = r.name
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index: ledger: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	return lw.flush()
}

// ledgerRowsPerInsert is how many entries one upsert writes: fewer
// statements to run, the same work per row.
const ledgerRowsPerInsert = 64

// ledgerWriter upserts ledger entries in statements of
// ledgerRowsPerInsert rows (the last one shorter).
type ledgerWriter struct {
	ctx  context.Context
	tx   *sql.Tx
	st   *sql.Stmt // the full-size statement, prepared at first use
	args []any
}

func (lw *ledgerWriter) add(r *ledgerRow) error {
	lw.args = append(lw.args, r.pid, r.org, r.facility, r.trig, r.name, r.root, r.firstAt, r.firstMsg,
		r.lastAt, r.lastMsg, r.n, r.confidence)
	if len(lw.args) < 12*ledgerRowsPerInsert {
		return nil
	}
	return lw.flush()
}

// flush writes the entries added since the last.
func (lw *ledgerWriter) flush() error {
	n := len(lw.args) / 12
	if n == 0 {
		return nil
	}
	var err error
	if n == ledgerRowsPerInsert && lw.st == nil {
		lw.st, err = lw.tx.PrepareContext(lw.ctx, upsertLedgerRows(n))
	}
	if err == nil {
		if n == ledgerRowsPerInsert {
			_, err = lw.st.ExecContext(lw.ctx, lw.args...)
		} else {
			_, err = lw.tx.ExecContext(lw.ctx, upsertLedgerRows(n), lw.args...)
		}
	}
	if err != nil {
		return fmt.Errorf("index: ledger: %w", err)
	}
	lw.args = lw.args[:0]
	return nil
}

func (lw *ledgerWriter) close() {
	if lw.st != nil {
		lw.st.Close()
	}
}

// upsertLedgerRows is the upsert of n entries.
func upsertLedgerRows(n int) string {
	return upsertLedger + strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?),", n-1) + "(?,?,?,?,?,?,?,?,?,?,?,?)" + upsertLedgerConflict
}

// moveMerged moves the entries of persons merged away at stamp to the
// person that took them in (the root of their old root key), combining
// them with that person's own.
func moveMerged(ctx context.Context, tx *sql.Tx, stamp int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT l.pid, r.pid, r.id, l.org_key, l.facility, l.trig, l.org_name,
		l.first_at, l.first_msg, l.last_at, l.last_msg, l.n, l.confidence
		FROM patients pa JOIN ledger l ON l.pid = pa.pid JOIN keys k ON k.id = l.root JOIN keys r ON r.id = k.parent
		WHERE pa.gone_at = ? AND k.parent != k.id`, stamp)
	if err != nil {
		return fmt.Errorf("index: ledger merges: %w", err)
	}
	var moved []ledgerRow
	var gone []string
	for rows.Next() {
		var r ledgerRow
		var old string
		if err := rows.Scan(&old, &r.pid, &r.root, &r.org, &r.facility, &r.trig, &r.name, &r.firstAt, &r.firstMsg,
			&r.lastAt, &r.lastMsg, &r.n, &r.confidence); err != nil {
			rows.Close()
			return err
		}
		moved = append(moved, r)
		gone = append(gone, old)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, g := range gone {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ledger WHERE pid = ?`, g); err != nil {
			return err
		}
	}
	lw := &ledgerWriter{ctx: ctx, tx: tx}
	defer lw.close()
	for i := range moved {
		if err := lw.add(&moved[i]); err != nil {
			return err
		}
	}
	return lw.flush()
}

// LedgerEntry is one row of the membership ledger: a sender's evidence
// of one kind about one person.
type LedgerEntry struct {
	PatientID string
	OrgKey    string // the sender: MSH-22 id, else MSH-4 (namespace|universal id)
	Facility  string // its MSH-4 when OrgKey is the MSH-22 id
	OrgName   string
	Trigger   string // Trigger*
	// First and Last are the first and last evidence (message times),
	// FirstLoc and LastLoc the messages behind them.
	First, Last       time.Time
	FirstLoc, LastLoc sources.Location
	Records           int64   // evidence records
	Confidence        float64 // 1 for deterministic evidence
}

// Ledger calls fn for every ledger entry, in Patient id order (then
// sender and trigger).
func (s *Snapshot) Ledger(ctx context.Context, fn func(LedgerEntry) error) error {
	rows, err := s.tx.QueryContext(ctx, `SELECT l.pid, l.org_key, l.facility, l.org_name, l.trig, l.first_at, l.last_at, l.n, l.confidence,
		coalesce(f.input_id, 0), coalesce(f.line, 0), coalesce(f.idx, 0), coalesce(f.off, 0), coalesce(f.len, 0), coalesce(f.rec_id, ''),
		coalesce(g.input_id, 0), coalesce(g.line, 0), coalesce(g.idx, 0), coalesce(g.off, 0), coalesce(g.len, 0), coalesce(g.rec_id, '')
		FROM ledger l LEFT JOIN messages f ON f.id = l.first_msg LEFT JOIN messages g ON g.id = l.last_msg
		ORDER BY l.pid, l.org_key, l.facility, l.trig`)
	if err != nil {
		return fmt.Errorf("index: ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e LedgerEntry
		var first, last, ff, lf int64
		if err := rows.Scan(&e.PatientID, &e.OrgKey, &e.Facility, &e.OrgName, &e.Trigger, &first, &last, &e.Records, &e.Confidence,
			&ff, &e.FirstLoc.Line, &e.FirstLoc.Index, &e.FirstLoc.Offset, &e.FirstLoc.Length, &e.FirstLoc.ControlID,
			&lf, &e.LastLoc.Line, &e.LastLoc.Index, &e.LastLoc.Offset, &e.LastLoc.Length, &e.LastLoc.ControlID); err != nil {
			return err
		}
		e.First, e.Last = fromMicros(first), fromMicros(last)
		e.FirstLoc.Source, e.LastLoc.Source = s.inputs[ff], s.inputs[lf]
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LedgerKey is a ledger entry without its evidence's times, places and
// counts: which sender showed which kind of evidence about whom.
type LedgerKey struct {
	PatientID, OrgKey, Facility, OrgName, Trigger string
}

// LedgerKeys calls fn for every ledger entry in Ledger's order, reading
// only the ledger (Ledger looks up the first and last message of each).
func (s *Snapshot) LedgerKeys(ctx context.Context, fn func(LedgerKey) error) error {
	rows, err := s.tx.QueryContext(ctx, `SELECT pid, org_key, facility, org_name, trig FROM ledger
		ORDER BY pid, org_key, facility, trig`)
	if err != nil {
		return fmt.Errorf("index: ledger: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k LedgerKey
		if err := rows.Scan(&k.PatientID, &k.OrgKey, &k.Facility, &k.OrgName, &k.Trigger); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Sender is one sender of VXU or QBP records, with how many it sent.
type Sender struct {
	OrgKey, Facility, Name string
	Records                int64
}

// Senders lists the senders of VXU and QBP records (the possible
// membership evidence), by key.
func (s *Snapshot) Senders(ctx context.Context, fn func(Sender) error) error {
	rows, err := s.tx.QueryContext(ctx, `SELECT org_key, facility, name, n FROM senders ORDER BY org_key, facility`)
	if err != nil {
		return fmt.Errorf("index: senders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x Sender
		if err := rows.Scan(&x.OrgKey, &x.Facility, &x.Name, &x.Records); err != nil {
			return err
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return rows.Err()
}

// storeAsked records what query r, stored as message msg, asks about
// (nothing for another record).
func (w *writer) storeAsked(msg int64, r *sources.Record) error {
	d := r.Asked
	if d == nil || r.Kind != sources.Query || w.x.groupless() {
		return nil
	}
	_, err := w.insAsked.Exec(msg, d.Given, d.Middle, d.Family, d.BirthDate, d.Sex, d.Postal, d.Phone)
	if err != nil {
		return fmt.Errorf("index: query demographics: %w", err)
	}
	return nil
}

// Unanswered is a QBP^Q11 whose answer is not in the log, with what it
// asks about (PHI).
type Unanswered struct {
	OrgKey, Facility, OrgName string
	Time                      time.Time
	Loc                       sources.Location
	Asked                     sources.Demographics
}

// Unanswered calls fn for every QBP^Q11 with demographics that no
// record answers (no RSP's MSA-2 names its MSH-10), in arrival order.
func (s *Snapshot) Unanswered(ctx context.Context, fn func(Unanswered) error) error {
	rows, err := s.tx.QueryContext(ctx, `SELECT q.org_key, coalesce(q.facility, ''), coalesce(q.org_name, ''),
		CASE WHEN q.at_time != 0 THEN q.at_time ELSE q.indexed_at END, q.input_id, q.line, q.idx, q.off, q.len, q.rec_id,
		a.given, a.middle, a.family, a.birth, a.sex, a.postal, a.phone
		FROM asked a JOIN messages q ON q.id = a.msg
		WHERE q.org_key IS NOT NULL AND q.kind = 'Q' AND q.type = 'QBP^Q11'
			AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.answers = q.rec_id)
		ORDER BY q.id`)
	if err != nil {
		return fmt.Errorf("index: unanswered queries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u Unanswered
		var t, file int64
		d := &u.Asked
		if err := rows.Scan(&u.OrgKey, &u.Facility, &u.OrgName, &t, &file, &u.Loc.Line, &u.Loc.Index, &u.Loc.Offset, &u.Loc.Length,
			&u.Loc.ControlID, &d.Given, &d.Middle, &d.Family, &d.BirthDate, &d.Sex, &d.Postal, &d.Phone); err != nil {
			return err
		}
		u.Time, u.Loc.Source = fromMicros(t), s.inputs[file]
		if err := fn(u); err != nil {
			return err
		}
	}
	return rows.Err()
}

package index

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Merged is a Patient id merged into a person, and when it went.
type Merged struct {
	ID string
	At time.Time
}

// Walk calls fn for every person with messages indexed up to asOf (zero:
// all), in Patient id order, with those messages as Messages returns them
// and the Patient ids merged into the person as MergedInto(p, zero, asOf)
// returns them. It reads two cursors ordered by person in one pass
// instead of two queries per person, which cost more than the rows. The
// slices passed to fn are fn's to keep.
func (s *Snapshot) Walk(ctx context.Context, asOf time.Time, fn func(p Person, msgs []Message, merged []Merged) error) error {
	hi := noUpper
	if !asOf.IsZero() {
		hi = micros(asOf)
	}
	// Messages are read key by key (messages_key) and sorted by person:
	// seeking each person's messages instead (roots in pid order, their
	// keys, their messages) read the table at random and cost twice as
	// much. SQLite's sorter keeps bounded memory and spills to temporary
	// files.
	rows, err := s.tx.QueryContext(ctx, `SELECT r.pid, r.id, `+messageColumns+`
		FROM messages m JOIN keys k ON k.id = m.key_id JOIN keys r ON r.id = k.parent
		WHERE m.key_id IS NOT NULL AND m.indexed_at <= ? ORDER BY r.pid, m.at_time, m.id`, hi)
	if err != nil {
		return fmt.Errorf("index: walk: %w", err)
	}
	defer rows.Close()
	// The merged patients' query reads every key of every person before
	// its first row (1.7 s of a 1M export): it is not run when no Patient
	// went in the window, which a scan of the patients table tells.
	var gone bool
	err = s.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM patients WHERE gone_at > -1 AND gone_at <= ?)`, hi).Scan(&gone)
	if err != nil {
		return fmt.Errorf("index: walk: merged patients: %w", err)
	}
	merges := &mergeCursor{done: !gone}
	if gone {
		mrows, err := s.tx.QueryContext(ctx, `SELECT r.pid, pa.pid, pa.gone_at
			FROM keys r INDEXED BY keys_root_pid JOIN keys k ON k.parent = r.id JOIN patients pa ON pa.pid = k.pid
			WHERE r.parent = r.id AND k.id != k.parent AND pa.gone_at > -1 AND pa.gone_at <= ? ORDER BY r.pid, pa.pid`, hi)
		if err != nil {
			return fmt.Errorf("index: walk: merged patients: %w", err)
		}
		defer mrows.Close()
		merges.rows = mrows
	}

	var (
		cur  Person
		msgs []Message // the person's so far (reused)
		room []Message // what persons' slices are cut from
	)
	flush := func() error {
		if len(msgs) == 0 {
			return nil
		}
		merged, err := merges.take(cur.ID)
		if err != nil {
			return err
		}
		// One array holds the messages of many persons instead of a
		// slice grown for each; capped, a person's slice never reaches
		// into the next one's.
		if len(room) < len(msgs) {
			room = make([]Message, max(len(msgs), walkRoom))
		}
		out := room[:len(msgs):len(msgs)]
		room = room[len(msgs):]
		copy(out, msgs)
		msgs = msgs[:0]
		return fn(cur, out, merged)
	}
	var (
		p    Person
		root any // p.root, scanned as messageScan scans integers
	)
	sc := newMessageScan(&p.ID, &root)
	for rows.Next() {
		m, err := s.scan(rows, sc)
		if err == nil {
			p.root, err = asInt64(root)
		}
		if err != nil {
			return fmt.Errorf("index: walk: %w", err)
		}
		if p != cur {
			if err := flush(); err != nil {
				return err
			}
			cur = p
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("index: walk: %w", err)
	}
	return flush()
}

// walkRoom is how many messages the array Walk cuts persons' slices
// from holds (about 60 KB).
const walkRoom = 256

// mergeCursor hands out the merged-patient rows of each person in turn.
type mergeCursor struct {
	rows    *sql.Rows
	pending bool // row below is read but not handed out
	done    bool // no more rows (rows may be nil)
	person  string
	row     Merged
}

// take returns the rows of person pid; persons before it (none have
// messages, so none are exported) are skipped.
func (c *mergeCursor) take(pid string) ([]Merged, error) {
	var out []Merged
	for {
		if !c.pending {
			if c.done {
				return out, nil
			}
			if !c.rows.Next() {
				c.done = true
				if err := c.rows.Err(); err != nil {
					return nil, fmt.Errorf("index: walk: merged patients: %w", err)
				}
				return out, nil
			}
			var at int64
			if err := c.rows.Scan(&c.person, &c.row.ID, &at); err != nil {
				return nil, fmt.Errorf("index: walk: merged patients: %w", err)
			}
			c.row.At = fromMicros(at)
			c.pending = true
		}
		switch {
		case c.person < pid:
			c.pending = false
		case c.person == pid:
			out = append(out, c.row)
			c.pending = false
		default:
			return out, nil
		}
	}
}

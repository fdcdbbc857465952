package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// UpdateStats says what one Update did.
type UpdateStats struct {
	Files     int // inputs named (files, for a v2 archive)
	New       int // indexed for the first time
	Appended  int // grown: only the new records were read
	Rewritten int // changed in place: indexed again from the start
	Unchanged int // skipped
	// Moved inputs were found under a new name (renamed, rotated,
	// compressed or decompressed) with the content indexed before: their
	// records are kept and re-read from the new place.
	Moved int
	// Dropped inputs were indexed but are gone, or no longer named: their
	// records are removed from the index.
	Dropped int
	// Unreadable inputs could not be read now (permission denied, I/O
	// error, a path that cannot be listed): what was indexed of them is
	// kept, and exports that need it say they could not read it.
	Unreadable int
	// Broken inputs were refused as a whole or in part (a gzip bomb, a
	// corrupt gzip stream): reported as broken input, the rest goes on.
	Broken   int
	Messages int64 // items read (messages and error items)
	Errors   int64 // error items among them
	Bytes    int64 // bytes read
	Elapsed  time.Duration
	// Rebuilt, on the first Update after Open emptied the index, says why
	// (schema, identity rules or encoding changed): everything is read
	// again.
	Rebuilt string
}

// inputRow is an indexed input of the index's source.
type inputRow struct {
	id     int64
	name   string
	cursor []byte // the source's, opaque
}

// Update brings the index in line with the inputs args name (for v2
// archives: files, directories, glob patterns). The source compares them
// with the cursors it left (sources.Source.Changes) and the index applies
// what it says: records of new inputs and appended records are stored,
// inputs rewritten lose their records and are read again, inputs moved
// keep their records under the new name, and dropped ones lose theirs.
// An input that cannot be read now does not stop the update: what was
// indexed of it is kept and it is counted in Unreadable.
func (x *Index) Update(ctx context.Context, args []string) (UpdateStats, error) {
	x.updateMu.Lock()
	defer x.updateMu.Unlock()
	start := time.Now()
	var st UpdateStats
	if !x.rebuiltTold {
		st.Rebuilt, x.rebuiltTold = x.rebuilt, true
	}
	rows, err := x.inputRows(ctx)
	if err != nil {
		return st, err
	}
	known := make(map[string][]byte, len(rows))
	for name, r := range rows {
		known[name] = r.cursor
	}
	ch, err := x.opts.Source.Changes(ctx, sources.Scope{Args: args, Known: known, Own: x.dir})
	if err != nil {
		return st, err
	}
	if ch.Release != nil {
		defer ch.Release()
	}
	st.Unreadable += ch.Unlisted
	changes := make([]*sources.Change, len(ch.Inputs))
	for i := range ch.Inputs {
		changes[i] = &ch.Inputs[i]
	}
	if err := tally(changes, rows, &st); err != nil {
		return st, err
	}
	// Only an Update that reads records needs the load prepared: an
	// unchanged archive's Update stays a few queries.
	var bulk bool
	if st.New+st.Appended+st.Rewritten > 0 {
		if bulk, err = x.prepareLoad(ctx); err != nil {
			return st, err
		}
	}
	w := &writer{x: x, ctx: ctx, st: &st}
	defer w.rollback()
	w.sizes(changes)
	rebuild := false
	if st.Dropped+st.Moved > 0 {
		if err := w.relocate(changes, rows); err != nil {
			return st, err
		}
		rebuild = st.Dropped > 0
	}
	for _, c := range changes {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if c.Op == sources.Dropped || c.Op == sources.Unreadable {
			continue
		}
		w.prog.size = c.Size
		rewritten, err := w.apply(c, rows[c.Name])
		if err != nil {
			return st, err
		}
		rebuild = rebuild || rewritten
		w.prog.base += c.Size
		w.progress(0)
	}
	if err := w.commit(); err != nil {
		return st, err
	}
	// A groupless index's first load builds none: its one reader, a
	// system export's Walk, reads the messages table in order as fast
	// without them, and each is a serial step of the load (together
	// 0.24 s of the 0.6 s from a 200k convert's last record stored to its
	// first person walked). A later Update builds them (prepareLoad): it
	// may merge persons, and Walk reads merges through keys_root_pid.
	if bulk && !x.groupless() {
		if err := x.buildLookups(ctx); err != nil {
			return st, err
		}
	}
	// An input only moved changed no record: no links to redo.
	if st.New+st.Appended+st.Rewritten+st.Dropped > 0 || st.Messages > 0 {
		if err := x.finish(ctx, rebuild, bulk); err != nil {
			return st, err
		}
	} else if !x.opts.NoLedger {
		if err := x.catchUpLedger(ctx); err != nil {
			return st, fmt.Errorf("index: ledger: %w", err)
		}
	}
	// A scratch index has no next Update for the cached keys to serve,
	// and its export's collector would mark them at every cycle.
	if x.opts.Scratch {
		x.uf.drop()
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// tally counts the changes and checks they fit the indexed inputs: a
// source that names an input it never indexed as moved, appended or
// dropped has lost track of it, and nothing is applied.
func tally(changes []*sources.Change, rows map[string]*inputRow, st *UpdateStats) error {
	from := map[string]bool{}
	for _, c := range changes {
		was := c.Name
		if c.From != "" {
			was = c.From
			if c.Op != sources.Unchanged && c.Op != sources.Appended {
				return fmt.Errorf("index: input %s moved but %s: the source's changes do not fit together", c.Name, opName(c.Op))
			}
			if from[c.From] {
				return fmt.Errorf("index: input %s moved twice: the source's changes do not fit together", c.From)
			}
			from[c.From] = true
			st.Moved++
		}
		switch c.Op {
		case sources.Unchanged, sources.Appended, sources.Dropped:
			if rows[was] == nil {
				return fmt.Errorf("index: input %s is %s but was never indexed: the source's changes do not fit together", c.Name, opName(c.Op))
			}
		}
		if c.Op != sources.Dropped {
			st.Files++
		}
		switch c.Op {
		case sources.Unchanged:
			if c.From == "" {
				st.Unchanged++
			}
		case sources.New:
			st.New++
		case sources.Appended:
			if c.From == "" {
				st.Appended++
			}
		case sources.Rewritten:
			st.Rewritten++
		case sources.Dropped:
			st.Dropped++
		case sources.Unreadable:
			st.Unreadable++
		default:
			return fmt.Errorf("index: input %s: unknown change %d", c.Name, c.Op)
		}
	}
	return nil
}

func opName(op sources.Op) string {
	switch op {
	case sources.Unchanged:
		return "unchanged"
	case sources.New:
		return "new"
	case sources.Appended:
		return "appended"
	case sources.Rewritten:
		return "rewritten"
	case sources.Dropped:
		return "dropped"
	case sources.Unreadable:
		return "unreadable"
	}
	return "op " + strconv.Itoa(int(op))
}

// inputRows loads every input of the source indexed, by name.
func (x *Index) inputRows(ctx context.Context) (map[string]*inputRow, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT id, name, cursor FROM inputs WHERE source_id = ?`, x.sourceID)
	if err != nil {
		return nil, fmt.Errorf("index: inputs: %w", err)
	}
	defer rows.Close()
	out := map[string]*inputRow{}
	for rows.Next() {
		r := &inputRow{}
		if err := rows.Scan(&r.id, &r.name, &r.cursor); err != nil {
			return nil, fmt.Errorf("index: inputs: %w", err)
		}
		out[r.name] = r
	}
	return out, rows.Err()
}

// relocate applies drops and moves in one transaction: a dropped input
// goes with its records (and the source forgets it), a moved one takes
// its new name (through a placeholder, so two inputs may swap names).
// rows follows: by new name afterwards.
func (w *writer) relocate(changes []*sources.Change, rows map[string]*inputRow) error {
	if err := w.begin(); err != nil {
		return err
	}
	for _, c := range changes {
		if c.Op != sources.Dropped {
			continue
		}
		r := rows[c.Name]
		if err := w.deleteMessages(r.id); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM inputs WHERE id = ?`, r.id); err != nil {
			return err
		}
		delete(rows, c.Name)
		if _, err := w.x.opts.Source.Scan(w.ctx, c, nil); err != nil {
			return err
		}
	}
	var moved []*inputRow
	for _, c := range changes {
		if c.From == "" {
			continue
		}
		r := rows[c.From]
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE inputs SET name = ? WHERE id = ?`, "moving:"+strconv.FormatInt(r.id, 10), r.id); err != nil {
			return err
		}
		moved = append(moved, r)
	}
	for _, r := range moved {
		delete(rows, r.name)
	}
	i := 0
	for _, c := range changes {
		if c.From == "" {
			continue
		}
		r := moved[i]
		i++
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE inputs SET name = ? WHERE id = ?`, c.Name, r.id); err != nil {
			return fmt.Errorf("index: %s: %w", c.Name, err)
		}
		r.name = c.Name
		rows[c.Name] = r
	}
	return nil
}

// deleteMessages removes an input's records and their counts.
func (w *writer) deleteMessages(inputID int64) error {
	if err := w.uncountSenders(inputID); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM asked WHERE msg IN (SELECT id FROM messages WHERE input_id = ?)`, inputID); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE counts SET n = n - coalesce((SELECT CASE counts.kind WHEN ? THEN sum(m.warn)
		ELSE sum(m.kind = counts.kind) END FROM messages m WHERE m.input_id = ?), 0)`, kindWarned, inputID); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM messages WHERE input_id = ?`, inputID)
	return err
}

// errNoRecords: the source passed records for a change that reads none.
var errNoRecords = errors.New("the source passed records for a change that reads none")

// apply brings one input up to date as the source said (r: its row,
// under its name from now on; nil for a new input).
func (w *writer) apply(c *sources.Change, r *inputRow) (rewritten bool, err error) {
	if c.Op == sources.Unchanged {
		sc, err := w.x.opts.Source.Scan(w.ctx, c, func(*sources.Record) error { return errNoRecords })
		if err != nil {
			return false, fmt.Errorf("index: %s: %w", c.Name, err)
		}
		if sc.Cursor == nil {
			return false, nil // nothing to record
		}
		if err := w.begin(); err != nil {
			return false, err
		}
		_, err = w.tx.ExecContext(w.ctx, `UPDATE inputs SET cursor = ? WHERE id = ?`, sc.Cursor, r.id)
		return false, err
	}
	if err := w.begin(); err != nil {
		return false, err
	}
	switch {
	case r == nil:
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO inputs(source_id, name) VALUES(?, ?)`, w.x.sourceID, c.Name)
		if err != nil {
			return false, fmt.Errorf("index: %s: %w", c.Name, err)
		}
		id, _ := res.LastInsertId()
		r = &inputRow{id: id, name: c.Name}
	case c.Op != sources.Appended:
		// Rewritten (or new under a name still indexed): its records go.
		if c.Op == sources.Rewritten {
			slog.Info("index: input changed since indexing; reading it again", "input", c.Name)
		}
		if err := w.deleteMessages(r.id); err != nil {
			return false, err
		}
		rewritten = true
	}
	return rewritten, w.read(c, r)
}

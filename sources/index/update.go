package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// writer batches inserts: one transaction per BatchSize items, stamped
// with one indexed-at time and committed under commitMu.
type writer struct {
	x      *Index
	ctx    context.Context
	st     *UpdateStats
	tx     *sql.Tx
	n      int
	stamp  int64
	insMsg *sql.Stmt
	// insMsgs inserts x.msgBatch records at once; pend holds the records
	// store has taken and not yet written (msgCols parameters each, and
	// the record), written by flush
	insMsgs *sql.Stmt
	pend    []any
	pendRec []*sources.Record
	links   []byte // store's, reused
	walks   []byte // the walk records of pend (reused once written)
	// insAsked: prepared once per batch, as insMsg (a query's
	// demographics, storeAsked)
	insAsked *sql.Stmt
	kinds    map[string]int64 // records by kind in this batch (table counts)
	// senders counts this batch's VXU and QBP by sender (table senders)
	senders map[senderKey]*senderCount
	// for Options.Progress: bytes of the inputs before the current one,
	// the current input's size and the total
	prog struct{ base, size, total int64 }
}

// sizes sets the progress total from the inputs to read; nothing when
// nobody asked for progress.
func (w *writer) sizes(changes []*sources.Change) {
	if w.x.opts.Progress == nil {
		return
	}
	for _, c := range changes {
		if c.Op != sources.Unreadable && c.Op != sources.Dropped {
			w.prog.total += c.Size
		}
	}
	w.x.opts.Progress(0, w.prog.total)
}

// progress reports off bytes read into the current input (an offset past
// its size, in a decompressed copy, is capped at it).
func (w *writer) progress(off int64) {
	if w.x.opts.Progress != nil {
		w.x.opts.Progress(w.prog.base+min(off, w.prog.size), w.prog.total)
	}
}

func (w *writer) begin() error {
	if w.tx != nil {
		return nil
	}
	w.x.commitMu.Lock()
	tx, err := w.x.db.BeginTx(w.ctx, nil)
	if err != nil {
		w.x.commitMu.Unlock()
		return fmt.Errorf("index: begin: %w", err)
	}
	w.tx, w.n = tx, 0
	// Millisecond stamps: FHIR instants carry ms, so _since round-trips.
	w.stamp = micros(w.x.opts.Now().Truncate(time.Millisecond))
	if w.insMsg, err = tx.PrepareContext(w.ctx, insertMessages(1, w.stamp)); err != nil {
		w.rollback()
		return err
	}
	if w.insMsgs, err = tx.PrepareContext(w.ctx, insertMessages(w.x.msgBatch, w.stamp)); err != nil {
		w.rollback()
		return err
	}
	if w.insAsked, err = tx.PrepareContext(w.ctx, `INSERT OR REPLACE INTO asked(msg, given, middle, family, birth, sex, postal, phone)
		VALUES(?,?,?,?,?,?,?,?)`); err != nil {
		w.rollback()
		return err
	}
	if err := w.x.uf.begin(w.ctx, tx); err != nil {
		w.rollback()
		return err
	}
	return nil
}

func (w *writer) rollback() {
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
		w.pend, w.pendRec = w.pend[:0], w.pendRec[:0]
		w.x.uf.abort()
		w.x.commitMu.Unlock()
	}
}

func (w *writer) commit() error {
	if w.tx == nil {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.x.uf.flush(); err != nil {
		return err
	}
	for k, n := range w.kinds {
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO counts(kind, n) VALUES(?, ?)
			ON CONFLICT(kind) DO UPDATE SET n = n + excluded.n`, k, n); err != nil {
			return err
		}
		delete(w.kinds, k)
	}
	if err := w.flushSenders(); err != nil {
		return err
	}
	err := w.tx.Commit()
	w.tx = nil
	w.x.commitMu.Unlock()
	if err != nil {
		w.x.uf.abort()
		return fmt.Errorf("index: commit: %w", err)
	}
	return nil
}

// read stores the records source change c reads of input r: its partial
// cursor first, in the transaction of the first records (a crash before
// the end leaves it, and the source reads the input again whole), then
// the cursor Scan returns, in the transaction of the last.
func (w *writer) read(c *sources.Change, r *inputRow) error {
	if err := w.begin(); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE inputs SET cursor = ? WHERE id = ?`, c.Cursor, r.id); err != nil {
		return fmt.Errorf("index: %s: %w", c.Name, err)
	}
	if c.Broken != "" {
		w.st.Broken++
	}
	// Reading, parsing and classifying (the source's Scan) run in their
	// own goroutine, ahead of the SQL writes (the two halves cost about
	// the same).
	ctx, cancel := context.WithCancel(w.ctx)
	chunks := make(chan []*sources.Record, 8)
	// On any return, stop the source and wait for it (it closes chunks).
	defer func() {
		cancel()
		for range chunks {
		}
	}()
	var (
		sc      sources.Scanned
		scanErr error
	)
	c.Groupless = w.x.groupless()
	go func() {
		defer close(chunks)
		chunk := make([]*sources.Record, 0, 256)
		sc, scanErr = w.x.opts.Source.Scan(ctx, c, func(r *sources.Record) error {
			chunk = append(chunk, r)
			if len(chunk) == cap(chunk) {
				select {
				case chunks <- chunk:
				case <-ctx.Done():
					return ctx.Err()
				}
				chunk = make([]*sources.Record, 0, 256)
			}
			return nil
		})
		if scanErr == nil && len(chunk) > 0 {
			select {
			case chunks <- chunk:
			case <-ctx.Done():
			}
		}
	}()
	for chunk := range chunks {
		for i, pr := range chunk {
			if err := w.begin(); err != nil {
				return err
			}
			if err := w.store(r.id, pr); err != nil {
				return err
			}
			w.st.Messages++
			if pr.Kind == sources.Broken {
				w.st.Errors++
			}
			if i == len(chunk)-1 {
				w.progress(pr.Loc.Offset + pr.Loc.Length)
			}
			if w.n++; w.n >= w.x.opts.BatchSize {
				if err := w.commit(); err != nil {
					return err
				}
				if err := w.ctx.Err(); err != nil {
					return err
				}
			}
		}
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if scanErr != nil {
		return fmt.Errorf("index: %w", scanErr)
	}
	w.st.Bytes += sc.Bytes
	if err := w.flush(); err != nil {
		return err
	}
	if sc.Cursor == nil {
		return nil
	}
	if err := w.begin(); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(w.ctx, `UPDATE inputs SET cursor = ? WHERE id = ?`, sc.Cursor, r.id)
	return err
}

// msgCols is the number of parameters insertMessages takes per record;
// msgBatch the records one INSERT writes: database/sql's and SQLite's
// work per statement (arguments, statement set-up and reset, result) is
// paid once for them all.
const (
	msgCols  = 19
	msgBatch = 32
)

// insertMessages is the INSERT of n records (msgCols parameters each, in
// store's order) indexed at stamp: the batch's one indexed-at time is a
// literal of the statements prepared for it, not an argument of every
// record (each costs about 500 instructions in database/sql and the
// driver).
func insertMessages(n int, stamp int64) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO messages(input_id, off, len, line, idx,
		rec_id, at_time, kind, type, key_id, links, org_key, org_name, holds, answers, err, walk, warn, facility, indexed_at)
		VALUES`)
	row := "(?" + strings.Repeat(",?", msgCols-1) + "," + strconv.FormatInt(stamp, 10) + ")"
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	return b.String()
}

// store takes one record with its identity keys (written now) for the
// next flush.
func (w *writer) store(inputID int64, r *sources.Record) error {
	loc := &r.Loc
	var keyID, links any
	if len(r.Keys) > 0 {
		b := w.links[:0]
		var first int64
		for i, k := range r.Keys {
			if i == 0 {
				id, err := w.x.uf.id(k)
				if err != nil {
					return err
				}
				first = id
				continue
			}
			id, err := w.x.uf.join(first, k)
			if err != nil {
				return err
			}
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, id, 10)
		}
		keyID = first
		if len(b) > 0 {
			links = string(b)
		}
		w.links = b
	}
	if w.kinds == nil {
		w.kinds = map[string]int64{}
	}
	w.kinds[string(r.Kind)]++
	w.countSender(r)
	w.kinds[kindWarned] += int64(r.Warn)
	var at int64
	if !r.Time.IsZero() {
		at = micros(r.Time)
	}
	// A person's message (a first key) is what Walk reads: its walk record.
	var walk any
	if keyID != nil {
		wr := walkRecord{source: w.x.sourceID, input: inputID, off: loc.Offset, len: loc.Length,
			line: int64(loc.Line), idx: int64(loc.Index), atTime: at, indexed: w.stamp,
			recID: loc.ControlID, typ: r.Type, orgKey: r.OrgKey, orgName: r.OrgName, err: r.Err}
		if r.Kind != sources.Broken && r.Kind != sources.Warning {
			wr.hasHash, wr.hash = true, r.Hash
		}
		n := len(w.walks)
		w.walks = appendWalkRecord(w.walks, &wr)
		walk = w.walks[n:len(w.walks):len(w.walks)]
	}
	// The organization, evidence and query columns are the ledger's and
	// the senders' (ledger.go): a groupless index leaves them empty.
	var org, orgName, answers, facility any
	var holds int64
	if !w.x.groupless() {
		org, orgName, answers, facility = nullStr(r.OrgKey), nullStr(r.OrgName), nullStr(r.Answers), nullStr(r.Facility)
		holds = evidenceOf(r)
	}
	// Ints as int64: database/sql converts other types by reflection.
	w.pend = append(w.pend, inputID, loc.Offset, loc.Length, int64(loc.Line), int64(loc.Index),
		loc.ControlID, at, string(r.Kind), r.Type, keyID, links, org, orgName,
		holds, answers, nullStr(r.Err), walk, int64(r.Warn), facility)
	w.pendRec = append(w.pendRec, r)
	if len(w.pendRec) == w.x.msgBatch {
		return w.flush()
	}
	return nil
}

// flush writes the records store took: x.msgBatch of them in one
// statement, fewer one by one (the end of a transaction or an input).
func (w *writer) flush() error {
	recs := w.pendRec
	if len(recs) == 0 {
		return nil
	}
	defer func() {
		clear(w.pend)
		clear(w.pendRec)
		w.pend, w.pendRec, w.walks = w.pend[:0], w.pendRec[:0], w.walks[:0]
	}()
	if len(recs) == w.x.msgBatch {
		res, err := w.insMsgs.Exec(w.pend...)
		if err != nil {
			return fmt.Errorf("index: %s to %s: %w", &recs[0].Loc, &recs[len(recs)-1].Loc, err)
		}
		// A new row's id is one past the table's largest: the rows got
		// consecutive ids, the last one's last.
		last, err := res.LastInsertId()
		if err != nil {
			return err
		}
		for i, r := range recs {
			if err := w.storeAsked(last-int64(len(recs)-1-i), r); err != nil {
				return err
			}
		}
		return nil
	}
	for i, r := range recs {
		res, err := w.insMsg.Exec(w.pend[i*msgCols : (i+1)*msgCols]...)
		if err != nil {
			return fmt.Errorf("index: %s: %w", &r.Loc, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if err := w.storeAsked(id, r); err != nil {
			return err
		}
	}
	return nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

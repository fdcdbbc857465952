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
	if w.insMsg, err = tx.PrepareContext(w.ctx, `INSERT INTO messages(source_id, input_id, off, len, line, idx,
		rec_id, at_time, kind, type, key_id, links, org_key, org_name, holds, answers, err, indexed_at, hash, warn, facility)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`); err != nil {
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
		w.x.uf.ids.reset()
		w.x.uf.nodes.reset()
		w.x.uf.next = 0
		w.x.commitMu.Unlock()
	}
}

func (w *writer) commit() error {
	if w.tx == nil {
		return nil
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
		w.x.uf.ids.reset()
		w.x.uf.nodes.reset()
		w.x.uf.next = 0
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
	if sc.Cursor == nil {
		return nil
	}
	if err := w.begin(); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(w.ctx, `UPDATE inputs SET cursor = ? WHERE id = ?`, sc.Cursor, r.id)
	return err
}

// store writes one record with its identity keys.
func (w *writer) store(inputID int64, r *sources.Record) error {
	loc := &r.Loc
	var keyID, links any
	if len(r.Keys) > 0 {
		ids := make([]string, 0, len(r.Keys))
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
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		keyID = first
		if len(ids) > 0 {
			links = strings.Join(ids, ",")
		}
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
	var hash any
	if r.Kind != sources.Broken && r.Kind != sources.Warning {
		hash = int64(r.Hash)
	}
	res, err := w.insMsg.Exec(w.x.sourceID, inputID, loc.Offset, loc.Length, loc.Line, loc.Index,
		loc.ControlID, at, string(r.Kind), r.Type, keyID, links, nullStr(r.OrgKey), nullStr(r.OrgName),
		evidenceOf(r), nullStr(r.Answers), nullStr(r.Err), w.stamp, hash, r.Warn, nullStr(r.Facility))
	if err != nil {
		return fmt.Errorf("index: %s: %w", loc, err)
	}
	if r.Asked != nil && r.Kind == sources.Query {
		id, _ := res.LastInsertId()
		return w.storeAsked(id, r.Asked)
	}
	return nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

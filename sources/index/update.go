package index

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
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
	kinds  map[string]int64 // records by kind in this batch (table counts)
	// senders counts this batch's VXU and QBP by sender (table senders)
	senders map[senderKey]*senderCount
	// progress of the file being read, saved with every commit
	cur     *fileRow
	curPath string // where its content is read (the file, or the source's copy)
	pos     struct {
		size, line, index int64
		crc               sql.NullInt64 // checksum of the first size bytes, known at the end of a file
		final             bool          // the file is read to its end
	}
	// for Options.Progress: bytes of the files before the current one,
	// the current file's size and the total
	prog struct{ base, size, total int64 }
}

// sizes sets the progress total from the files to read; nothing when
// nobody asked for progress.
func (w *writer) sizes(acts []*action) {
	if w.x.opts.Progress == nil {
		return
	}
	for _, a := range acts {
		if a.unread == nil {
			w.prog.total += a.stat.size
		}
	}
	w.x.opts.Progress(0, w.prog.total)
}

// progress reports off bytes read into the current file (a gzip file's
// decompressed offset is capped at its size).
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
	if w.insMsg, err = tx.PrepareContext(w.ctx, `INSERT INTO messages(source_id, file_id, off, len, line, idx,
		rec_id, at_time, kind, type, key_id, links, org_key, org_name, holds, answers, err, indexed_at, hash, warn, facility)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`); err != nil {
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
	if err := w.saveProgress(); err != nil {
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
		w.x.uf.ids.reset()
		w.x.uf.nodes.reset()
		w.x.uf.next = 0
		return fmt.Errorf("index: commit: %w", err)
	}
	return nil
}

// saveProgress records how far the current file is indexed, in the same
// transaction as its messages, so a crash never indexes bytes twice. In
// the middle of a file (pos.final unset) the checksum of what was read is
// not known: the row then keeps its former size and times, so the next
// Update reads the file again from the start. A file read to its end with
// no checksum (broken gzip) is read again whenever it changes.
func (w *writer) saveProgress() error {
	f := w.cur
	if f == nil || w.tx == nil {
		return nil
	}
	if !w.pos.final {
		_, err := w.tx.ExecContext(w.ctx, `UPDATE files SET indexed_size = ?, prefix_crc = NULL, head_crc = NULL,
			next_line = ?, next_index = ?, indexed_at = ? WHERE id = ?`,
			w.pos.size, w.pos.line, w.pos.index, w.stamp, f.id)
		return err
	}
	var head sql.NullInt64
	if w.pos.crc.Valid && w.pos.size > 0 {
		buf := make([]byte, min(w.pos.size, headWindow))
		if err := readFull(w.curPath, buf); err != nil {
			return fmt.Errorf("index: %s: %w", f.path, err)
		}
		head = sql.NullInt64{Int64: int64(sources.DataHash(buf)), Valid: true}
	}
	_, err := w.tx.ExecContext(w.ctx, `UPDATE files SET indexed_size = ?, prefix_crc = ?, head_crc = ?,
		next_line = ?, next_index = ?, size = ?, mtime = ?, ino = ?, ctime = ?, checked_at = ?, indexed_at = ? WHERE id = ?`,
		w.pos.size, w.pos.crc, head, w.pos.line, w.pos.index, f.stat.size, f.stat.mtime, f.stat.ino, f.stat.ctime,
		f.checkedAt, w.stamp, f.id)
	return err
}

// countReader counts bytes and newlines read, so an append can resume
// with the right offsets and line numbers.
type countReader struct {
	r     io.Reader
	n     int64
	lines int64
	crc   uint64 // of everything before, then of what was read
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	c.crc = sources.UpdateHash(c.crc, p[:n])
	return n, err
}

// read indexes content c of f from byte offset from to its end.
func (w *writer) read(f *fileRow, from int64, c *content) error {
	in, err := os.Open(c.path)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer in.Close()
	if _, err := in.Seek(from, io.SeekStart); err != nil {
		return fmt.Errorf("index: %s: %w", f.path, err)
	}
	cr := &countReader{r: in}
	if from > 0 {
		cr.crc = uint64(f.prefixCRC.Int64)
	}
	baseLine, baseIndex := f.nextLine, f.nextIndex
	w.cur, w.curPath = f, c.path
	w.pos.size, w.pos.line, w.pos.index, w.pos.crc, w.pos.final = from, baseLine, baseIndex, sql.NullInt64{}, false
	defer func() { w.cur = nil }()
	// Reading, parsing and classifying (the source's Scan) run in their
	// own goroutine, ahead of the SQL writes (the two halves cost about
	// the same).
	ctx, cancel := context.WithCancel(w.ctx)
	chunks := make(chan []*sources.Record, 8)
	// On any return, stop the reader and wait for it (it closes chunks)
	// before the deferred Close of the file.
	defer func() {
		cancel()
		for range chunks {
		}
	}()
	var readErr error
	go func() {
		defer close(chunks)
		chunk := make([]*sources.Record, 0, 256)
		err := w.x.opts.Source.Scan(f.path, cr, func(r *sources.Record) error {
			r.Loc.Offset += from
			r.Loc.Line += int(baseLine) - 1
			r.Loc.Index += int(baseIndex)
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
		if err != nil {
			if ctx.Err() == nil {
				readErr = fmt.Errorf("index: %s: %w", f.path, err)
			}
			return
		}
		if len(chunk) > 0 {
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
			if err := w.store(f.id, pr); err != nil {
				return err
			}
			w.pos.size = pr.Loc.Offset + pr.Loc.Length
			w.pos.index = int64(pr.Loc.Index)
			w.pos.line = int64(pr.Loc.Line) // refined at the end of the file
			w.st.Messages++
			if pr.Kind == sources.Broken {
				w.st.Errors++
			}
			if i == len(chunk)-1 {
				w.progress(w.pos.size)
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
	if readErr != nil {
		return readErr
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.st.Bytes += cr.n
	if err := w.begin(); err != nil {
		return err
	}
	w.pos.size = from + cr.n
	w.pos.line = baseLine + cr.lines
	w.pos.final = true
	if c.broken != "" {
		// What follows could not be read: an error item, and no checksum,
		// so any change reads the file again from the start.
		if err := w.brokenItem(f, c.broken); err != nil {
			return err
		}
		return w.saveProgress()
	}
	w.pos.crc = sql.NullInt64{Int64: int64(cr.crc), Valid: true}
	return w.saveProgress()
}

// store writes one record with its identity keys.
func (w *writer) store(fileID int64, r *sources.Record) error {
	loc := &r.Loc
	var keyID, links any
	if len(r.Keys) > 0 {
		ids := make([]string, 0, len(r.Keys))
		var first int64
		for i, k := range r.Keys {
			id, err := w.x.uf.id(k)
			if err != nil {
				return err
			}
			if i == 0 {
				first = id
			} else {
				if err := w.x.uf.union(first, id); err != nil {
					return err
				}
				ids = append(ids, strconv.FormatInt(id, 10))
			}
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
	res, err := w.insMsg.Exec(w.x.sourceID, fileID, loc.Offset, loc.Length, loc.Line, loc.Index,
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

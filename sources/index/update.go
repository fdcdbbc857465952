package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"iisbridge/hl7v2"
	"iisbridge/sources"
	"iisbridge/sources/v2archive"
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
	// progress of the file being read, saved with every commit
	cur *fileRow
	pos struct {
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
	if w.insMsg, err = tx.PrepareContext(w.ctx, `INSERT INTO messages(file_id, off, len, line, idx,
		control_id, msh7, kind, type, key_id, links, org_key, org_name, has00, msa2, err, indexed_at, hash, warn)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`); err != nil {
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
		if err := readFull(f.readPath, buf); err != nil {
			return fmt.Errorf("index: %s: %w", f.path, err)
		}
		head = sql.NullInt64{Int64: int64(v2archive.DataHash(buf)), Valid: true}
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
	c.crc = v2archive.UpdateHash(c.crc, p[:n])
	return n, err
}

// read indexes content c of f from byte offset from to its end.
func (w *writer) read(f *fileRow, from int64, c *content) error {
	in, err := os.Open(f.readPath)
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
	rd, err := v2archive.OpenReader(f.readPath, cr, w.x.opts.Reader)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer rd.Close()
	baseLine, baseIndex := f.nextLine, f.nextIndex
	w.cur = f
	w.pos.size, w.pos.line, w.pos.index, w.pos.crc, w.pos.final = from, baseLine, baseIndex, sql.NullInt64{}, false
	defer func() { w.cur = nil }()
	// Reading, parsing and classifying run in their own goroutine, ahead
	// of the SQL writes (the two halves cost about the same).
	ctx, cancel := context.WithCancel(w.ctx)
	chunks := make(chan []prepared, 8)
	// On any return, stop the reader and wait for it (it closes chunks)
	// before the deferred Close of rd and the file.
	defer func() {
		cancel()
		for range chunks {
		}
	}()
	var readErr error
	go func() {
		defer close(chunks)
		chunk := make([]prepared, 0, 256)
		for {
			it, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				readErr = fmt.Errorf("index: %s: %w", f.path, err)
				return
			}
			if it.Err == nil && len(it.Data) == 0 && len(it.Warnings) == 0 {
				continue
			}
			it.Loc.Offset += from
			it.Loc.Line += int(baseLine) - 1
			it.Loc.Index += int(baseIndex)
			chunk = append(chunk, w.x.prepare(it))
			if len(chunk) == cap(chunk) {
				select {
				case chunks <- chunk:
				case <-ctx.Done():
					return
				}
				chunk = make([]prepared, 0, 256)
			}
		}
		if len(chunk) > 0 {
			select {
			case chunks <- chunk:
			case <-ctx.Done():
			}
		}
	}()
	for chunk := range chunks {
		for i := range chunk {
			pr := &chunk[i]
			if err := w.begin(); err != nil {
				return err
			}
			if err := w.store(f.id, pr); err != nil {
				return err
			}
			w.pos.size = pr.loc.Offset + pr.loc.Length
			w.pos.index = int64(pr.loc.Index)
			w.pos.line = int64(pr.loc.Line) // refined at the end of the file
			w.st.Messages++
			if pr.row.kind == "E" {
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

// prepared is one item classified, ready to store.
type prepared struct {
	loc sources.Location
	row msgRow
}

// prepare classifies one item (no database access: it runs ahead of the
// writer).
func (x *Index) prepare(it *v2archive.Item) prepared {
	r := msgRow{kind: "E"}
	switch {
	case it.Err != nil:
		r.err = it.Err.Error()
	case len(it.Data) == 0:
		r.kind, r.err = "W", strings.Join(it.Warnings, "; ")
	default:
		m, err := hl7v2.Parse(it.Data)
		if err != nil {
			r.err = err.Error()
			break
		}
		x.classify(m, it.Data, &r)
		r.hash = int64(v2archive.DataHash(it.Data))
		if len(it.Warnings) > 0 {
			r.err = strings.Join(it.Warnings, "; ")
			r.warn = 1 // an export reports them in one issue
		}
		r.warn += len(m.Warnings())
	}
	return prepared{loc: it.Loc, row: r}
}

// store writes one prepared item with its identity keys.
func (w *writer) store(fileID int64, pr *prepared) error {
	r, loc := &pr.row, &pr.loc
	var keyID, links any
	if len(r.keys) > 0 {
		ids := make([]string, 0, len(r.keys))
		var first int64
		for i, k := range r.keys {
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
	w.kinds[r.kind]++
	w.kinds[kindWarned] += int64(r.warn)
	_, err := w.insMsg.Exec(fileID, loc.Offset, loc.Length, loc.Line, loc.Index,
		loc.ControlID, r.msh7, r.kind, r.typ, keyID, links, nullStr(r.orgKey), nullStr(r.orgName),
		r.has00, nullStr(r.msa2), nullStr(r.err), w.stamp, r.hash, r.warn)
	if err != nil {
		return fmt.Errorf("index: %s: %w", loc, err)
	}
	return nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type msgRow struct {
	kind, typ       string
	msh7            int64
	keys            []string
	orgKey, orgName string
	has00           bool
	msa2, err       string
	hash            any // int64 DataHash of the message, nil for error items
	warn            int // warning issues an export reports about the message as read (reader, parser)
}

// classify reads the few fields indexing needs: MSH-4/5/7/9/21/22, PID-3,
// PID-5/7/8, MSA-2, QAK-2, RXA-5/9.
func (x *Index) classify(m *hl7v2.Message, data []byte, r *msgRow) {
	segs := m.Segments()
	msh := segs[0]
	code, trigger, _ := m.Type()
	code, trigger = strings.ToUpper(code), strings.ToUpper(trigger)
	r.typ = code + "^" + trigger
	if ts, err := hl7v2.ParseTS(msh.Field(7).Rep(1).Component(1).String()); err == nil {
		r.msh7 = micros(ts.Time)
	}
	r.orgKey, r.orgName = orgOf(msh)
	cfg := x.opts.Identity
	switch code {
	case "VXU":
		r.kind = "P"
		if pid, ok := segs.Find("PID", 1); ok {
			r.keys = cfg.patientKeys(pid, hdKey(msh.Field(4).Rep(1)), r.keys)
		}
		for _, o := range m.Orders() {
			if o.RXA.IsZero() {
				continue
			}
			// An administered dose: RXA-9 00, not a refusal or not-given
			// row (RXA-20 RE/NA), not a deletion (RXA-21 D), not 998.
			val := func(f int) string {
				return strings.ToUpper(strings.TrimSpace(o.RXA.Field(f).Rep(1).Component(1).String()))
			}
			st := val(20)
			if val(9) == "00" && val(5) != "998" && st != "RE" && st != "NA" && val(21) != "D" {
				r.has00 = true
			}
		}
	case "RSP":
		r.msa2 = msaControl(segs)
		if single(segs, msh) {
			r.kind = "P"
			pid, _ := segs.Find("PID", 1)
			// MRNs in an answer are the asker's (MSH-6, receiving facility).
			r.keys = cfg.patientKeys(pid, hdKey(msh.Field(6).Rep(1)), r.keys)
		} else {
			r.kind = "C"
		}
	case "QBP":
		r.kind = "Q"
	default:
		r.kind = "S"
	}
	if r.kind == "P" && len(r.keys) == 0 {
		// No usable key: the message is a person of its own, named by
		// its content so the id is stable.
		h := sha256.Sum256(data)
		r.keys = append(r.keys, fmt.Sprintf("%s%x", prefixLone, h[:16]))
	}
}

func msaControl(segs hl7v2.Segments) string {
	if msa, ok := segs.Find("MSA", 1); ok {
		return strings.TrimSpace(msa.Field(2).Rep(1).String())
	}
	return ""
}

// single reports whether an RSP names exactly one person: one PID, a
// profile that is not Z31 (candidates) or Z33 (none), and a QAK-2 that
// does not say not found / too many / protected.
func single(segs hl7v2.Segments, msh hl7v2.Segment) bool {
	n := 0
	for _, s := range segs {
		if s.Name() == "PID" {
			n++
		}
	}
	if n != 1 {
		return false
	}
	prof := strings.ToUpper(msh.Field(21).Rep(1).Component(1).String())
	if prof == "Z31" || prof == "Z33" {
		return false
	}
	if qak, ok := segs.Find("QAK", 1); ok {
		switch strings.ToUpper(strings.TrimSpace(qak.Field(2).Rep(1).String())) {
		case "NF", "TM", "PD", "AE", "AR":
			return false
		}
	}
	return true
}

// orgOf names the sending organization: MSH-22 (XON id in .10, name in
// .1) when filled, else MSH-4 as "namespace|universal id" (the
// pipeline.Membership.OrgKey convention).
func orgOf(msh hl7v2.Segment) (key, name string) {
	xon := msh.Field(22).Rep(1)
	if !xon.IsNull() {
		if id := strings.TrimSpace(xon.Component(10).String()); id != "" {
			return id, strings.TrimSpace(xon.Component(1).String())
		}
	}
	hd := hl7v2.ParseHD(msh.Field(4).Rep(1))
	key = strings.TrimSpace(hd.Namespace)
	if u := strings.TrimSpace(hd.UniversalID); u != "" {
		key += "|" + u
	}
	return key, hd.Namespace
}

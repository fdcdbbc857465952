package index

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"iisbridge/hl7v2"
	"iisbridge/sources"
	"iisbridge/sources/v2archive"
)

// UpdateStats says what one Update did.
type UpdateStats struct {
	Files     int   // input files seen
	New       int   // indexed for the first time
	Appended  int   // grown: only the new bytes were read
	Rewritten int   // changed in place: indexed again from the start
	Unchanged int   // skipped
	Messages  int64 // items read (messages and error items)
	Errors    int64 // error items among them
	Bytes     int64 // bytes read
	Elapsed   time.Duration
	// Rebuilt, on the first Update after Open emptied the index, says why
	// (schema, identity rules or encoding changed): everything is read
	// again.
	Rebuilt string
}

const hashWindow = 4096

type fileRow struct {
	id                   int64
	path, readPath       string
	gz                   bool
	size, mtime, indexed int64
	head, tail           []byte
	nextLine, nextIndex  int64
}

// Update indexes what is new in paths (files, directories walked
// recursively in lexical order skipping dot names, glob patterns): new
// files, bytes appended to indexed files, files rewritten in place. A file
// that was indexed and is no longer found keeps its messages (archives
// are moved and rotated; deleting data is an explicit act).
func (x *Index) Update(ctx context.Context, paths []string) (UpdateStats, error) {
	x.updateMu.Lock()
	defer x.updateMu.Unlock()
	start := time.Now()
	var st UpdateStats
	if !x.rebuiltTold {
		st.Rebuilt, x.rebuiltTold = x.rebuilt, true
	}
	files, err := expandPaths(paths, x.dir)
	if err != nil {
		return st, err
	}
	w := &writer{x: x, ctx: ctx, st: &st}
	defer w.rollback()
	sizes := w.sizes(files)
	rebuild := false
	for i, p := range files {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Files++
		w.prog.size = sizes[i]
		changed, rewritten, err := w.file(p)
		if err != nil {
			return st, err
		}
		rebuild = rebuild || rewritten
		_ = changed
		w.prog.base += sizes[i]
		w.progress(0)
	}
	if err := w.commit(); err != nil {
		return st, err
	}
	if st.New+st.Appended+st.Rewritten > 0 {
		if err := x.finish(ctx, rebuild); err != nil {
			return st, err
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

// expandPaths lists the files behind paths, leaving out the index's own
// data directory (an archive tree may hold it).
func expandPaths(paths []string, dataDir string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	own, _ := filepath.Abs(dataDir)
	mine := func(p string) bool {
		a, err := filepath.Abs(p)
		return err == nil && (a == own || strings.HasPrefix(a, own+string(filepath.Separator)))
	}
	add := func(p string) {
		if !seen[p] && !mine(p) {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, arg := range paths {
		if arg == "-" {
			return nil, errors.New("index: standard input cannot be indexed (messages must be re-readable); save it to a file")
		}
		matches := []string{arg}
		if _, err := os.Stat(arg); err != nil && strings.ContainsAny(arg, "*?[") {
			m, err := filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("index: pattern %q: %w", arg, err)
			}
			sort.Strings(m)
			matches = m
		}
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				return nil, fmt.Errorf("index: %w", err)
			}
			if !fi.IsDir() {
				add(m)
				continue
			}
			err = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != m && (strings.HasPrefix(d.Name(), ".") || d.IsDir() && mine(p)) {
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if !d.IsDir() {
					if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
						add(p)
					}
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("index: %w", err)
			}
		}
	}
	return out, nil
}

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
	pos struct{ size, line, index int64 }
	// for Options.Progress: bytes of the files before the current one,
	// the current file's size and the total
	prog struct{ base, size, total int64 }
}

// sizes returns the sizes of files and sets the progress total; nil when
// nobody asked for progress.
func (w *writer) sizes(files []string) []int64 {
	out := make([]int64, len(files))
	if w.x.opts.Progress == nil {
		return out
	}
	for i, p := range files {
		if fi, err := os.Stat(p); err == nil {
			out[i] = fi.Size()
			w.prog.total += fi.Size()
		}
	}
	w.x.opts.Progress(0, w.prog.total)
	return out
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
	w.stamp = w.x.opts.Now().Truncate(time.Millisecond).UnixNano()
	if w.insMsg, err = tx.PrepareContext(w.ctx, `INSERT INTO messages(file_id, off, len, line, idx,
		control_id, msh7, kind, type, key_id, links, org_key, org_name, has00, msa2, err, indexed_at)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`); err != nil {
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
// transaction as its messages, so a crash never indexes bytes twice.
func (w *writer) saveProgress() error {
	f := w.cur
	if f == nil || w.tx == nil {
		return nil
	}
	head, tail, err := edgeHashes(f.readPath, w.pos.size)
	if err != nil {
		return err
	}
	if f.gz {
		head, tail = f.head, nil // a gzip file is compared by its own bytes
	}
	_, err = w.tx.ExecContext(w.ctx, `UPDATE files SET indexed_size = ?, head_hash = ?, tail_hash = ?,
		next_line = ?, next_index = ?, size = ?, mtime = ?, indexed_at = ? WHERE id = ?`,
		w.pos.size, head, tail, w.pos.line, w.pos.index, f.size, f.mtime, w.stamp, f.id)
	return err
}

// file brings one input file up to date.
func (w *writer) file(path string) (changed, rewritten bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, false, fmt.Errorf("index: %w", err)
	}
	gz, err := isGzip(path)
	if err != nil {
		return false, false, fmt.Errorf("index: %w", err)
	}
	f, err := w.x.fileRow(w.ctx, path)
	if err != nil {
		return false, false, err
	}
	size, mtime := fi.Size(), fi.ModTime().UnixNano()
	from := int64(0)
	switch {
	case f == nil:
		w.st.New++
		if err := w.begin(); err != nil {
			return false, false, err
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO files(path, read_path, gz) VALUES(?, ?, ?)`, path, path, gz)
		if err != nil {
			return false, false, fmt.Errorf("index: %s: %w", path, err)
		}
		id, _ := res.LastInsertId()
		f = &fileRow{id: id, path: path, readPath: path, nextLine: 1}
	default:
		same, err := f.unchanged(size, mtime, gz)
		if err != nil {
			return false, false, err
		}
		switch {
		case same == sameAll:
			w.st.Unchanged++
			return false, false, nil
		case same == sameAppended:
			w.st.Appended++
			from = f.indexed
		default:
			w.st.Rewritten++
			rewritten = true
			if err := w.begin(); err != nil {
				return false, false, err
			}
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE counts SET n = n - coalesce((SELECT count(*) FROM messages m
				WHERE m.file_id = ? AND m.kind = counts.kind), 0)`, f.id); err != nil {
				return false, false, err
			}
			if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM messages WHERE file_id = ?`, f.id); err != nil {
				return false, false, err
			}
			f.nextLine, f.nextIndex = 1, 0
		}
	}
	f.gz, f.size, f.mtime = gz, size, mtime
	f.readPath = path
	if gz {
		sp, head, err := w.x.spool(path, f.id)
		if err != nil {
			return false, false, err
		}
		f.readPath, f.head = sp, head
		if err := w.begin(); err != nil {
			return false, false, err
		}
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE files SET read_path = ?, gz = 1 WHERE id = ?`, sp, f.id); err != nil {
			return false, false, err
		}
	}
	return true, rewritten, w.read(f, from)
}

type sameness int

const (
	sameNot sameness = iota
	sameAppended
	sameAll
)

func (f *fileRow) unchanged(size, mtime int64, gz bool) (sameness, error) {
	if gz || f.gz {
		if !gz || !f.gz || size != f.size || mtime != f.mtime {
			return sameNot, nil
		}
		head, _, err := edgeHashes(f.path, size)
		if err != nil || !bytes.Equal(head, f.head) {
			return sameNot, err
		}
		return sameAll, nil
	}
	if size < f.indexed {
		return sameNot, nil
	}
	head, tail, err := edgeHashes(f.path, f.indexed)
	if err != nil {
		return sameNot, err
	}
	if !bytes.Equal(head, f.head) || !bytes.Equal(tail, f.tail) {
		return sameNot, nil
	}
	if size == f.indexed {
		return sameAll, nil
	}
	return sameAppended, nil
}

// edgeHashes hashes the first and the last hashWindow bytes of path's
// first n bytes.
func edgeHashes(path string, n int64) (head, tail []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("index: %w", err)
	}
	defer f.Close()
	buf := make([]byte, min(n, hashWindow))
	sum := func(off int64) ([]byte, error) {
		if _, err := f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && len(buf) == 0) {
			return nil, fmt.Errorf("index: %s: %w", path, err)
		}
		h := sha256.Sum256(buf)
		return h[:], nil
	}
	if head, err = sum(0); err != nil {
		return nil, nil, err
	}
	tail, err = sum(n - int64(len(buf)))
	return head, tail, err
}

func isGzip(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var b [2]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 2 && b[0] == 0x1f && b[1] == 0x8b, nil
}

// spool decompresses a gzip input into DIR/spool/<file id> so its messages
// can be re-read by offset; it returns the spool path and the hash of the
// gzip file's first bytes.
func (x *Index) spool(path string, id int64) (string, []byte, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("index: %w", err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return "", nil, fmt.Errorf("index: %s: gzip: %w", path, err)
	}
	sp := filepath.Join(x.dir, "spool", strconv.FormatInt(id, 10))
	out, err := os.Create(sp)
	if err != nil {
		return "", nil, fmt.Errorf("index: %w", err)
	}
	_, cerr := io.Copy(out, zr)
	if err := out.Close(); cerr == nil {
		cerr = err
	}
	if cerr != nil {
		// A corrupt tail: keep what decompressed; the reader reports
		// nothing for the rest, so say it here.
		return "", nil, fmt.Errorf("index: %s: gzip: %w", path, cerr)
	}
	fi, err := in.Stat()
	if err != nil {
		return "", nil, err
	}
	head, _, err := edgeHashes(path, fi.Size())
	return sp, head, err
}

func (x *Index) fileRow(ctx context.Context, path string) (*fileRow, error) {
	f := &fileRow{path: path}
	err := x.db.QueryRowContext(ctx, `SELECT id, read_path, gz, size, mtime, indexed_size, head_hash, tail_hash,
		next_line, next_index FROM files WHERE path = ?`, path).Scan(&f.id, &f.readPath, &f.gz, &f.size, &f.mtime,
		&f.indexed, &f.head, &f.tail, &f.nextLine, &f.nextIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("index: %s: %w", path, err)
	}
	return f, nil
}

// countReader counts bytes and newlines read, so an append can resume
// with the right offsets and line numbers.
type countReader struct {
	r     io.Reader
	n     int64
	lines int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += int64(bytes.Count(p[:n], []byte{'\n'}))
	return n, err
}

// read indexes f from byte offset from to its end.
func (w *writer) read(f *fileRow, from int64) error {
	in, err := os.Open(f.readPath)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer in.Close()
	if _, err := in.Seek(from, io.SeekStart); err != nil {
		return fmt.Errorf("index: %s: %w", f.path, err)
	}
	cr := &countReader{r: in}
	rd, err := v2archive.OpenReader(f.readPath, cr, w.x.opts.Reader)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	defer rd.Close()
	baseLine, baseIndex := f.nextLine, f.nextIndex
	w.cur = f
	w.pos.size, w.pos.line, w.pos.index = from, baseLine, baseIndex
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
		if len(it.Warnings) > 0 {
			r.err = strings.Join(it.Warnings, "; ")
		}
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
	_, err := w.insMsg.Exec(fileID, loc.Offset, loc.Length, loc.Line, loc.Index,
		loc.ControlID, r.msh7, r.kind, r.typ, keyID, links, nullStr(r.orgKey), nullStr(r.orgName),
		r.has00, nullStr(r.msa2), nullStr(r.err), w.stamp)
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
		r.msh7 = ts.Time.UnixNano()
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

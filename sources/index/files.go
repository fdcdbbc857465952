package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// UpdateStats says what one Update did.
type UpdateStats struct {
	Files     int // input files seen
	New       int // indexed for the first time
	Appended  int // grown: only the new bytes were read
	Rewritten int // changed in place: indexed again from the start
	Unchanged int // skipped
	// Moved files were found at a new path (renamed, rotated, compressed
	// or decompressed) with the content indexed before: their messages
	// are kept and re-read from the new place.
	Moved int
	// Dropped files were indexed but are gone, or no longer under the
	// paths given: their messages are removed from the index.
	Dropped int
	// Unreadable files could not be read now (permission denied, I/O
	// error): what was indexed of them is kept, and exports that need it
	// say they could not read it.
	Unreadable int
	// Broken files were refused as a whole or in part (a gzip bomb, a
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

// headWindow is how many first bytes of a file's content identify it
// when looking for a file that moved (with the checksum of everything
// indexed, which decides).
const headWindow = 4096

// racyWindow: a file modified this close to (or after) the moment the
// index last compared it may have changed again within the file system's
// timestamp granularity, so equal size and times do not prove it
// unchanged; its content is compared instead (git's "racily clean").
var racyWindow = 2 * time.Second

type fileRow struct {
	id        int64
	path      string
	stat      fileStat
	indexed   int64         // content bytes indexed
	prefixCRC sql.NullInt64 // checksum of those bytes (NULL: unknown, read again)
	headCRC   sql.NullInt64 // checksum of the first min(headWindow, indexed) bytes
	checkedAt int64         // wall clock (unix ns) when the content was last compared
	nextLine  int64
	nextIndex int64
}

// fileStat is what the file system says about a file; any difference
// from the stored one makes the index compare the file's content.
type fileStat struct{ size, mtime, ino, ctime int64 }

func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	st.ino, st.ctime = inodeCtime(fi)
	return st
}

// racy says whether the file may have changed since checkedAt without its
// size or times showing it.
func (st fileStat) racy(checkedAt int64) bool {
	lim := checkedAt - int64(racyWindow)
	return st.mtime >= lim || st.ctime >= lim
}

// content is a file's messages as the index reads them: the file itself,
// or a fresh decompressed copy the source made of a compressed file.
type content struct {
	path   string // what to read ("" when nothing could be kept)
	size   int64
	fresh  *sources.Unpacked // the copy, until the source keeps it (Keep)
	broken string            // why (part of) the file is not read: decompression bomb, corrupt stream
}

// discard removes a fresh copy nobody kept.
func (c *content) discard() {
	if c != nil && c.fresh != nil && c.fresh.Path != "" {
		os.Remove(c.fresh.Path)
		c.fresh = nil
	}
}

// action is what Update does with one file.
type action struct {
	path   string
	stat   fileStat
	row    *fileRow // nil: a new file
	c      *content
	same   sameness
	moved  bool  // row was found under another path
	unread error // the file cannot be read now
	// checked is the wall clock just before the file was looked at: a
	// change after it leaves a newer time than it (see racy).
	checked int64
}

type sameness int

const (
	sameNot      sameness = iota // read again from the start
	sameAppended                 // read from row.indexed
	sameAll                      // nothing to read
)

// Update brings the index in line with paths (files, directories walked
// recursively in lexical order, glob patterns; v2archive.Expand lists
// them, so every command reads the same files): new files and appended
// bytes are read, files rewritten in place are read again, files found at
// a new path (renamed, rotated, gzipped) keep their messages, and files
// that are gone or no longer under paths are dropped with their messages.
// Files are keyed by canonical absolute path. A file that cannot be read
// now (permission, I/O) does not stop the update: what was indexed of it
// is kept and it is counted in Unreadable.
func (x *Index) Update(ctx context.Context, paths []string) (UpdateStats, error) {
	x.updateMu.Lock()
	defer x.updateMu.Unlock()
	start := time.Now()
	var st UpdateStats
	if !x.rebuiltTold {
		st.Rebuilt, x.rebuiltTold = x.rebuilt, true
	}
	files, blocked, err := x.expandPaths(paths, &st)
	if err != nil {
		return st, err
	}
	rows, err := x.fileRows(ctx)
	if err != nil {
		return st, err
	}
	acts, drops, err := x.plan(ctx, files, blocked, rows, &st)
	defer func() {
		for _, a := range acts {
			a.c.discard()
		}
	}()
	if err != nil {
		return st, err
	}
	w := &writer{x: x, ctx: ctx, st: &st}
	defer w.rollback()
	w.sizes(acts)
	rebuild := false
	if len(drops) > 0 || hasMoves(acts) {
		if err := w.relocate(acts, drops); err != nil {
			return st, err
		}
		rebuild = len(drops) > 0
	}
	for _, a := range acts {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if a.unread != nil {
			continue
		}
		w.prog.size = a.stat.size
		rewritten, err := w.apply(a)
		if err != nil {
			return st, err
		}
		rebuild = rebuild || rewritten
		w.prog.base += a.stat.size
		w.progress(0)
	}
	if err := w.commit(); err != nil {
		return st, err
	}
	// A file only moved changed no message: no links to redo.
	if st.New+st.Appended+st.Rewritten+st.Dropped > 0 || st.Messages > 0 {
		if err := x.finish(ctx, rebuild); err != nil {
			return st, err
		}
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

func hasMoves(acts []*action) bool {
	for _, a := range acts {
		if a.moved {
			return true
		}
	}
	return false
}

// canonical is the key of a file in the index: its absolute path with
// symbolic links resolved, so one file indexed under two spellings is one
// file.
func canonical(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(a); err == nil {
		return r, nil
	}
	return filepath.Clean(a), nil
}

// expandPaths lists the files behind paths by canonical path, leaving out
// the index's own data directory (an archive tree may hold it). Missing or
// unlistable paths are logged and counted, not fatal: the files of a
// missing one are gone; those under one that exists but cannot be listed
// (blocked) are kept as indexed.
func (x *Index) expandPaths(paths []string, st *UpdateStats) (out, blocked []string, err error) {
	seen := map[string]bool{}
	own, err := canonical(x.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("index: %w", err)
	}
	mine := func(a string) bool { return a == own || strings.HasPrefix(a, own+string(filepath.Separator)) }
	for _, arg := range paths {
		if arg == "-" {
			return nil, nil, errors.New("index: standard input cannot be indexed (messages must be re-readable); save it to a file")
		}
		if _, err := os.Lstat(arg); err != nil && strings.ContainsAny(arg, "*?[") {
			if _, err := filepath.Match(arg, ""); err != nil {
				return nil, nil, fmt.Errorf("index: pattern %q: %w", arg, err)
			}
		}
		for _, in := range x.expand(arg) {
			if in.Err != nil {
				st.Unreadable++
				if errors.Is(in.Err, fs.ErrNotExist) {
					slog.Warn("index: input not found; files indexed from it are dropped", "path", in.Path, "err", errText(in.Err))
				} else if a, err := canonical(in.Path); err == nil {
					blocked = append(blocked, a)
					slog.Warn("index: input cannot be listed; files indexed from it are kept", "path", in.Path, "err", errText(in.Err))
				}
				continue
			}
			a, err := canonical(in.Path)
			if err != nil || seen[a] || mine(a) {
				continue
			}
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, blocked, nil
}

// expand lists the files behind one path argument, by the source's rule
// (sources.Expander); a source without paths names itself.
func (x *Index) expand(arg string) []sources.Input {
	if e, ok := x.opts.Source.(sources.Expander); ok {
		return e.Expand(arg)
	}
	return []sources.Input{{Path: arg}}
}

// errText words an error without repeating the path.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// fileRows loads every indexed file by path.
func (x *Index) fileRows(ctx context.Context) (map[string]*fileRow, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT id, path, size, mtime, ino, ctime, indexed_size,
		prefix_crc, head_crc, checked_at, next_line, next_index FROM files`)
	if err != nil {
		return nil, fmt.Errorf("index: files: %w", err)
	}
	defer rows.Close()
	out := map[string]*fileRow{}
	for rows.Next() {
		f := &fileRow{}
		if err := rows.Scan(&f.id, &f.path, &f.stat.size, &f.stat.mtime, &f.stat.ino, &f.stat.ctime,
			&f.indexed, &f.prefixCRC, &f.headCRC, &f.checkedAt, &f.nextLine, &f.nextIndex); err != nil {
			return nil, fmt.Errorf("index: files: %w", err)
		}
		out[f.path] = f
	}
	return out, rows.Err()
}

// plan decides what to do with each file: compare the listed files with
// their rows, match new paths against rows whose file went away or
// changed (a move keeps the messages), and drop the rest of those.
func (x *Index) plan(ctx context.Context, files, blocked []string, rows map[string]*fileRow, st *UpdateStats) (acts []*action, drops []*fileRow, err error) {
	listed := map[int64]bool{}
	for _, f := range rows {
		for _, b := range blocked {
			if f.path == b || strings.HasPrefix(f.path, b+string(filepath.Separator)) {
				listed[f.id] = true // cannot be listed now: kept as indexed
			}
		}
	}
	var fresh []*action
	for _, p := range files {
		if err := ctx.Err(); err != nil {
			return acts, nil, err
		}
		st.Files++
		a := &action{path: p, row: rows[p]}
		acts = append(acts, a)
		if a.row != nil {
			listed[a.row.id] = true
		}
		a.checked = time.Now().UnixNano()
		fi, err := os.Stat(p)
		if err == nil {
			a.stat = statOf(fi)
			err = x.probe(a)
		}
		if err != nil {
			a.unread = err
			st.Unreadable++
			slog.Warn("index: file cannot be read; what was indexed of it is kept", "file", p, "err", errText(err))
			continue
		}
		if a.row == nil {
			fresh = append(fresh, a)
		}
	}
	// Rows that may have moved: unlisted ones, and listed ones whose file
	// now holds other content (rotation: a.hl7 became a.hl7.1).
	var pool []*fileRow
	for _, f := range rows {
		if !listed[f.id] {
			pool = append(pool, f)
		}
	}
	for _, a := range acts {
		if a.row != nil && a.unread == nil && a.same == sameNot {
			pool = append(pool, a.row)
		}
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i].id < pool[j].id })
	taken := map[int64]bool{}
	for _, a := range fresh {
		f, same, err := matchMoved(a.c, pool, taken)
		if err != nil {
			return acts, nil, err
		}
		if f == nil {
			continue
		}
		taken[f.id] = true
		// The file's old path, if listed and rewritten, is a new file now.
		for _, b := range acts {
			if b.row == f {
				b.row = nil
			}
		}
		slog.Info("index: file moved; its indexed messages are kept", "from", f.path, "to", a.path)
		a.row, a.same, a.moved = f, same, true
		st.Moved++
	}
	for _, f := range pool {
		if !listed[f.id] && !taken[f.id] {
			drops = append(drops, f)
			st.Dropped++
			why := "no longer under the indexed paths"
			if _, err := os.Lstat(f.path); errors.Is(err, fs.ErrNotExist) {
				why = "gone"
			}
			slog.Warn("index: file dropped with its messages", "file", f.path, "reason", why)
		}
	}
	return acts, drops, nil
}

// probe compares a listed file with its row (a.row nil: a new file) and
// prepares its content when something must be read.
func (x *Index) probe(a *action) error {
	f := a.row
	if f != nil && a.stat == f.stat && !a.stat.racy(f.checkedAt) {
		a.same = sameAll
		return nil
	}
	c, err := x.content(a.path, a.stat.size)
	if err != nil {
		return err
	}
	a.c = c
	if f == nil {
		return nil
	}
	a.same, err = compare(c, f)
	return err
}

// compare says how content relates to what was indexed of row f.
func compare(c *content, f *fileRow) (sameness, error) {
	if c.broken != "" || !f.prefixCRC.Valid || c.size < f.indexed {
		return sameNot, nil
	}
	crc, err := prefixCRC(c.path, f.indexed)
	if err != nil {
		return sameNot, err
	}
	switch {
	case uint64(f.prefixCRC.Int64) != crc:
		return sameNot, nil
	case c.size == f.indexed:
		return sameAll, nil
	}
	return sameAppended, nil
}

// matchMoved finds the row among pool whose indexed content c starts
// with: the first headWindow bytes select candidates, the checksum of all
// indexed bytes decides.
func matchMoved(c *content, pool []*fileRow, taken map[int64]bool) (*fileRow, sameness, error) {
	if c == nil || c.broken != "" || c.size == 0 || len(pool) == 0 {
		return nil, sameNot, nil
	}
	head := make([]byte, min(c.size, headWindow))
	if err := readFull(c.path, head); err != nil {
		return nil, sameNot, err
	}
	for _, f := range pool {
		if taken[f.id] || f.indexed == 0 || f.indexed > c.size || !f.prefixCRC.Valid || !f.headCRC.Valid {
			continue
		}
		if sources.DataHash(head[:min(f.indexed, headWindow)]) != uint64(f.headCRC.Int64) {
			continue
		}
		same, err := compare(c, f)
		if err != nil {
			return nil, sameNot, err
		}
		if same != sameNot {
			return f, same, nil
		}
	}
	return nil, sameNot, nil
}

func readFull(path string, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.ReadFull(f, buf)
	return err
}

// prefixCRC is the checksum of the first n bytes of path.
func prefixCRC(path string, n int64) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var crc uint64
	buf := make([]byte, 256<<10)
	for n > 0 {
		k, err := f.Read(buf[:min(int64(len(buf)), n)])
		crc = sources.UpdateHash(crc, buf[:k])
		n -= int64(k)
		if err == io.EOF && n > 0 {
			return crc, io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return 0, err
		}
	}
	return crc, nil
}

// content is what the index reads of the file at path: the file, or
// the source's fresh decompressed copy of a compressed one
// (sources.Unpacker). A corrupt stream keeps what decompressed; a
// decompression bomb keeps nothing; both are marked broken.
func (x *Index) content(path string, size int64) (*content, error) {
	c := &content{path: path, size: size}
	u, ok := x.opts.Source.(sources.Unpacker)
	if !ok {
		return c, nil
	}
	fresh, err := u.Unpack(path, size)
	if err != nil || fresh == nil {
		return c, err // err: reading the input failed: unreadable, not broken
	}
	c.path, c.size, c.broken, c.fresh = fresh.Path, fresh.Bytes, fresh.Broken, fresh
	if fresh.Discard {
		c.path, c.size, c.fresh = "", 0, nil
	}
	return c, nil
}

// forget tells the source that no copy of path is needed any more.
func (x *Index) forget(path string) {
	if u, ok := x.opts.Source.(sources.Unpacker); ok {
		u.Forget(path)
	}
}

// relocate applies moves and drops in one transaction: a moved row takes
// its new path (through a placeholder, so two files may swap names), a
// dropped one goes with its messages and spool.
func (w *writer) relocate(acts []*action, drops []*fileRow) error {
	if err := w.begin(); err != nil {
		return err
	}
	for _, f := range drops {
		if err := w.deleteMessages(f.id); err != nil {
			return err
		}
		if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM files WHERE id = ?`, f.id); err != nil {
			return err
		}
		w.x.forget(f.path)
	}
	for _, a := range acts {
		if a.moved {
			w.x.forget(a.row.path) // re-read from the new path (place keeps its copy)
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE files SET path = ? WHERE id = ?`, "moving:"+strconv.FormatInt(a.row.id, 10), a.row.id); err != nil {
				return err
			}
		}
	}
	for _, a := range acts {
		if a.moved {
			if _, err := w.tx.ExecContext(w.ctx, `UPDATE files SET path = ? WHERE id = ?`, a.path, a.row.id); err != nil {
				return fmt.Errorf("index: %s: %w", a.path, err)
			}
			a.row.path = a.path
		}
	}
	return nil
}

// deleteMessages removes a file's messages and their counts.
func (w *writer) deleteMessages(fileID int64) error {
	if err := w.uncountSenders(fileID); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM asked WHERE msg IN (SELECT id FROM messages WHERE file_id = ?)`, fileID); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `UPDATE counts SET n = n - coalesce((SELECT CASE counts.kind WHEN ? THEN sum(m.warn)
		ELSE sum(m.kind = counts.kind) END FROM messages m WHERE m.file_id = ?), 0)`, kindWarned, fileID); err != nil {
		return err
	}
	_, err := w.tx.ExecContext(w.ctx, `DELETE FROM messages WHERE file_id = ?`, fileID)
	return err
}

// apply brings one file up to date as planned.
func (w *writer) apply(a *action) (rewritten bool, err error) {
	f := a.row
	from := int64(0)
	switch {
	case f == nil:
		w.st.New++
		if err := w.begin(); err != nil {
			return false, err
		}
		res, err := w.tx.ExecContext(w.ctx, `INSERT INTO files(path) VALUES(?)`, a.path)
		if err != nil {
			return false, fmt.Errorf("index: %s: %w", a.path, err)
		}
		id, _ := res.LastInsertId()
		f = &fileRow{id: id, path: a.path, nextLine: 1}
	case a.same == sameAll:
		if !a.moved {
			w.st.Unchanged++
		}
		if a.c == nil && !a.moved {
			return false, nil // nothing to record
		}
		// Touched, or moved: the same content, recorded where it is now.
		if err := w.begin(); err != nil {
			return false, err
		}
		if err := w.place(a); err != nil {
			return false, err
		}
		_, err := w.tx.ExecContext(w.ctx, `UPDATE files SET size = ?, mtime = ?, ino = ?, ctime = ?, checked_at = ? WHERE id = ?`,
			a.stat.size, a.stat.mtime, a.stat.ino, a.stat.ctime, a.checked, f.id)
		return false, err
	case a.same == sameAppended:
		if !a.moved {
			w.st.Appended++
		}
		from = f.indexed
	default:
		w.st.Rewritten++
		rewritten = true
		slog.Info("index: file changed since indexing; reading it again", "file", a.path)
		if err := w.begin(); err != nil {
			return false, err
		}
		if err := w.deleteMessages(f.id); err != nil {
			return false, err
		}
		f.nextLine, f.nextIndex, f.prefixCRC = 1, 0, sql.NullInt64{}
	}
	if err := w.begin(); err != nil {
		return false, err
	}
	if err := w.place(a); err != nil {
		return false, err
	}
	f.stat, f.checkedAt = a.stat, a.checked
	if a.c.broken != "" && a.c.path == "" {
		// Nothing kept (gzip bomb): only the error item.
		w.cur = f
		w.pos.size, w.pos.line, w.pos.index, w.pos.crc, w.pos.final = 0, 1, 0, sql.NullInt64{}, true
		defer func() { w.cur = nil }()
		if err := w.brokenItem(f, a.c.broken); err != nil {
			return rewritten, err
		}
		return rewritten, w.saveProgress()
	}
	return rewritten, w.read(f, from, a.c)
}

// place tells the source where the file's content is read from now: its
// fresh copy becomes the kept one, or (no longer compressed) no copy.
func (w *writer) place(a *action) error {
	if a.c == nil {
		return nil
	}
	if a.c.fresh == nil {
		w.x.forget(a.path)
		return nil
	}
	if err := w.x.opts.Source.(sources.Unpacker).Keep(a.path, a.c.fresh); err != nil {
		return fmt.Errorf("index: %s: %w", a.path, err)
	}
	a.c.path, a.c.fresh = a.c.fresh.Path, nil
	return nil
}

// brokenItem records that (the rest of) file f could not be read, as an
// error item after what was read.
func (w *writer) brokenItem(f *fileRow, reason string) error {
	w.st.Broken++
	slog.Warn("index: broken input file", "file", f.path, "reason", reason)
	r := &sources.Record{Kind: sources.Broken, Err: reason}
	r.Loc.Source = f.path
	r.Loc.Offset = w.pos.size
	r.Loc.Line = int(w.pos.line)
	r.Loc.Index = int(w.pos.index) + 1
	if err := w.store(f.id, r); err != nil {
		return err
	}
	w.pos.index++
	w.st.Messages++
	w.st.Errors++
	w.n++
	return nil
}

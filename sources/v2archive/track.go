package v2archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// Change tracking (sources.Source.Changes): files are keyed by canonical
// absolute path. A file whose size, mtime, inode and ctime are as last
// seen (and were not modified within racyWindow of that look) is skipped
// unread; any difference makes the source compare the checksum
// (sources.DataHash) of every byte indexed: the same prefix means
// appended bytes (read) or only touched; anything else is a rewrite. A
// new path whose content starts with the indexed content of a file gone
// or rewritten (renamed, rotated, gzipped) takes that file's place: its
// records stay and are re-read from the new place. Files that are gone or
// no longer under the paths given are dropped. What the source knows of a
// file between updates is its cursor, which the index keeps for it.

// headWindow is how many first bytes of a file's content identify it
// when looking for a file that moved (with the checksum of everything
// indexed, which decides).
const headWindow = 4096

// racyWindow: a file modified this close to (or after) the moment the
// source last compared it may have changed again within the file
// system's timestamp granularity, so equal size and times do not prove it
// unchanged; its content is compared instead (git's "racily clean").
var racyWindow = 2 * time.Second

// cursor is what the source knows of one indexed file (JSON, kept by the
// index).
type cursor struct {
	Stat    fileStat `json:"stat"`    // of the file when last compared
	Checked int64    `json:"checked"` // wall clock (unix ns) of that comparison
	Indexed int64    `json:"indexed"` // content bytes indexed (decompressed, for a gzip file)
	// CRC is the checksum of those bytes, Head of their first
	// min(headWindow, Indexed) bytes; nil: unknown (a read that did not
	// end, a broken gzip): the file is read again whole when it changes.
	CRC   *uint64 `json:"crc,omitempty"`
	Head  *uint64 `json:"head,omitempty"`
	Line  int64   `json:"line"`  // the next line
	Index int64   `json:"index"` // items read
}

// fileStat is what the file system says about a file; any difference
// from the stored one makes the source compare the file's content.
type fileStat struct {
	Size  int64 `json:"size"`
	Mtime int64 `json:"mtime"`
	Ino   int64 `json:"ino"`
	Ctime int64 `json:"ctime"`
}

func statOf(fi fs.FileInfo) fileStat {
	st := fileStat{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	st.Ino, st.Ctime = inodeCtime(fi)
	return st
}

// racy says whether the file may have changed since checked without its
// size or times showing it.
func (st fileStat) racy(checked int64) bool {
	lim := checked - int64(racyWindow)
	return st.Mtime >= lim || st.Ctime >= lim
}

func (c *cursor) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// known is an indexed file with its cursor.
type known struct {
	name string
	cur  cursor
}

func decodeCursor(name string, b []byte) *known {
	k := &known{name: name, cur: cursor{Line: 1}}
	if len(b) > 0 && json.Unmarshal(b, &k.cur) != nil {
		k.cur = cursor{Line: 1} // unknown: read again whole
	}
	return k
}

// content is a file's messages as the source reads them: the file itself,
// or a fresh decompressed copy of a gzip file.
type content struct {
	path   string // what to read ("" when nothing could be kept)
	size   int64
	fresh  *unpacked // the copy, until it is kept
	broken string    // why (part of) the file is not read: decompression bomb, corrupt stream
}

// discard removes a fresh copy nobody kept.
func (c *content) discard() {
	if c != nil && c.fresh != nil && c.fresh.path != "" {
		os.Remove(c.fresh.path)
		c.fresh = nil
	}
}

// plan is what the source decided for one file (sources.Change.State).
type plan struct {
	path    string
	stat    fileStat
	row     *known // nil: a new file
	c       *content
	same    sameness
	moved   bool  // row was indexed under another path
	unread  error // the file cannot be read now
	dropped bool
	// checked is the wall clock just before the file was looked at: a
	// change after it leaves a newer time than it (see racy).
	checked int64
}

type sameness int

const (
	sameNot      sameness = iota // read again from the start
	sameAppended                 // read from row.cur.Indexed
	sameAll                      // nothing to read
)

// Changes compares the files behind q.Args (files, directories walked
// recursively in lexical order, glob patterns: Expand, so every command
// reads the same files) with those indexed (sources.Source).
func (s *Source) Changes(ctx context.Context, q sources.Scope) (*sources.Changes, error) {
	files, blocked, unlisted, err := expandPaths(q.Args, q.Own)
	if err != nil {
		return nil, err
	}
	rows := make(map[string]*known, len(q.Known))
	for name, b := range q.Known {
		rows[name] = decodeCursor(name, b)
	}
	plans, err := s.plan(ctx, files, blocked, rows)
	release := func() {
		for _, p := range plans {
			p.c.discard()
		}
	}
	if err != nil {
		release()
		return nil, err
	}
	out := &sources.Changes{Unlisted: unlisted, Release: release}
	for _, p := range plans {
		out.Inputs = append(out.Inputs, p.change())
	}
	return out, nil
}

// change words p for the index.
func (p *plan) change() sources.Change {
	c := sources.Change{Name: p.path, Size: p.stat.Size, State: p}
	if p.c != nil {
		c.Broken = p.c.broken
	}
	if p.moved {
		c.From = p.row.name
	}
	// No checksum and a size no file has: the next Changes reads the
	// file again whole (its stat cannot match).
	partial := &cursor{Stat: fileStat{Size: -1}, Line: 1}
	switch {
	case p.dropped:
		c.Op = sources.Dropped
	case p.unread != nil:
		c.Op, c.Err = sources.Unreadable, p.unread
	case p.row == nil:
		c.Op = sources.New
	case p.same == sameAll:
		c.Op = sources.Unchanged
	case p.same == sameAppended:
		c.Op = sources.Appended
	default:
		c.Op = sources.Rewritten
	}
	if c.Op == sources.New || c.Op == sources.Appended || c.Op == sources.Rewritten {
		c.Cursor = partial.encode()
	}
	return c
}

// expandPaths lists the files behind args by canonical path, leaving out
// own (the index's data directory: an archive tree may hold it). Missing
// or unlistable paths are logged and counted, not fatal: the files of a
// missing one are gone; those under one that exists but cannot be listed
// (blocked) are kept as indexed.
func expandPaths(args []string, own string) (out, blocked []string, unlisted int, err error) {
	seen := map[string]bool{}
	if own != "" {
		if own, err = canonical(own); err != nil {
			return nil, nil, 0, fmt.Errorf("v2archive: %w", err)
		}
	}
	mine := func(a string) bool {
		return own != "" && (a == own || strings.HasPrefix(a, own+string(filepath.Separator)))
	}
	for _, arg := range args {
		if arg == "-" {
			return nil, nil, 0, errors.New("v2archive: standard input cannot be indexed (messages must be re-readable); save it to a file")
		}
		if _, err := os.Lstat(arg); err != nil && hasMeta(arg) {
			if _, err := filepath.Match(arg, ""); err != nil {
				return nil, nil, 0, fmt.Errorf("v2archive: pattern %q: %w", arg, err)
			}
		}
		for _, in := range expand(arg) {
			if in.err != nil {
				unlisted++
				if errors.Is(in.err, fs.ErrNotExist) {
					slog.Warn("v2archive: input not found; files indexed from it are dropped", "path", in.path, "err", reason(in.err))
				} else if a, err := canonical(in.path); err == nil {
					blocked = append(blocked, a)
					slog.Warn("v2archive: input cannot be listed; files indexed from it are kept", "path", in.path, "err", reason(in.err))
				}
				continue
			}
			a, err := canonical(in.path)
			if err != nil || seen[a] || mine(a) {
				continue
			}
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, blocked, unlisted, nil
}

// canonical is the name of a file in the index: its absolute path with
// symbolic links resolved, so one file named by two spellings is one
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

// plan decides what to do with each file: compare the listed files with
// their cursors, match new paths against indexed files that went away or
// changed (a move keeps the records), and drop the rest of those.
func (s *Source) plan(ctx context.Context, files, blocked []string, rows map[string]*known) (plans []*plan, err error) {
	listed := map[*known]bool{}
	for _, f := range rows {
		for _, b := range blocked {
			if f.name == b || strings.HasPrefix(f.name, b+string(filepath.Separator)) {
				listed[f] = true // cannot be listed now: kept as indexed
			}
		}
	}
	var fresh []*plan
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return plans, err
		}
		p := &plan{path: path, row: rows[path]}
		plans = append(plans, p)
		if p.row != nil {
			listed[p.row] = true
		}
		p.checked = time.Now().UnixNano()
		fi, err := os.Stat(path)
		if err == nil {
			p.stat = statOf(fi)
			err = s.probe(p)
		}
		if err != nil {
			p.unread = err
			slog.Warn("v2archive: file cannot be read; what was indexed of it is kept", "file", path, "err", reason(err))
			continue
		}
		if p.row == nil {
			fresh = append(fresh, p)
		}
	}
	// Files that may have moved: unlisted ones, and listed ones whose
	// file now holds other content (rotation: a.hl7 became a.hl7.1).
	var pool []*known
	for _, f := range rows {
		if !listed[f] {
			pool = append(pool, f)
		}
	}
	for _, p := range plans {
		if p.row != nil && p.unread == nil && p.same == sameNot {
			pool = append(pool, p.row)
		}
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i].name < pool[j].name })
	taken := map[*known]bool{}
	for _, p := range fresh {
		f, same, err := matchMoved(p.c, pool, taken)
		if err != nil {
			return plans, err
		}
		if f == nil {
			continue
		}
		taken[f] = true
		// The file's old path, if listed and rewritten, is a new file now.
		for _, b := range plans {
			if b.row == f {
				b.row = nil
			}
		}
		slog.Info("v2archive: file moved; its indexed messages are kept", "from", f.name, "to", p.path)
		p.row, p.same, p.moved = f, same, true
	}
	for _, f := range pool {
		if !listed[f] && !taken[f] {
			plans = append(plans, &plan{path: f.name, row: f, dropped: true})
			why := "no longer under the indexed paths"
			if _, err := os.Lstat(f.name); errors.Is(err, fs.ErrNotExist) {
				why = "gone"
			}
			slog.Warn("v2archive: file dropped with its messages", "file", f.name, "reason", why)
		}
	}
	return plans, nil
}

// probe compares a listed file with its cursor (p.row nil: a new file)
// and prepares its content when something must be read.
func (s *Source) probe(p *plan) error {
	f := p.row
	if f != nil && p.stat == f.cur.Stat && !p.stat.racy(f.cur.Checked) {
		p.same = sameAll
		return nil
	}
	c, err := s.content(p.path, p.stat.Size)
	if err != nil {
		return err
	}
	p.c = c
	if f == nil {
		return nil
	}
	p.same, err = compare(c, f)
	return err
}

// compare says how content relates to what was indexed of file f.
func compare(c *content, f *known) (sameness, error) {
	if c.broken != "" || f.cur.CRC == nil || c.size < f.cur.Indexed {
		return sameNot, nil
	}
	crc, err := prefixCRC(c.path, f.cur.Indexed)
	if err != nil {
		return sameNot, err
	}
	switch {
	case *f.cur.CRC != crc:
		return sameNot, nil
	case c.size == f.cur.Indexed:
		return sameAll, nil
	}
	return sameAppended, nil
}

// matchMoved finds the file among pool whose indexed content c starts
// with: the first headWindow bytes select candidates, the checksum of all
// indexed bytes decides.
func matchMoved(c *content, pool []*known, taken map[*known]bool) (*known, sameness, error) {
	if c == nil || c.broken != "" || c.size == 0 || len(pool) == 0 {
		return nil, sameNot, nil
	}
	head := make([]byte, min(c.size, headWindow))
	if err := readFull(c.path, head); err != nil {
		return nil, sameNot, err
	}
	for _, f := range pool {
		if taken[f] || f.cur.Indexed == 0 || f.cur.Indexed > c.size || f.cur.CRC == nil || f.cur.Head == nil {
			continue
		}
		if sources.DataHash(head[:min(f.cur.Indexed, headWindow)]) != *f.cur.Head {
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

// content is what the source reads of the file at path: the file, or a
// fresh decompressed copy of a gzip one. A corrupt stream keeps what
// decompressed; a decompression bomb keeps nothing; both are marked
// broken.
func (s *Source) content(path string, size int64) (*content, error) {
	c := &content{path: path, size: size}
	fresh, err := s.unpack(path, size)
	if err != nil || fresh == nil {
		return c, err // err: reading the input failed: unreadable, not broken
	}
	c.path, c.size, c.broken, c.fresh = fresh.path, fresh.bytes, fresh.broken, fresh
	if fresh.discard {
		c.path, c.size, c.fresh = "", 0, nil
	}
	return c, nil
}

// Scan carries out one change of the last Changes (sources.Source).
func (s *Source) Scan(ctx context.Context, c *sources.Change, fn func(*sources.Record) error) (sources.Scanned, error) {
	p, ok := c.State.(*plan)
	if !ok {
		return sources.Scanned{}, fmt.Errorf("v2archive: %s: a change this source did not make", c.Name)
	}
	switch c.Op {
	case sources.Dropped:
		s.forget(p.path)
		return sources.Scanned{}, nil
	case sources.Unreadable:
		return sources.Scanned{}, nil
	}
	if p.moved {
		s.forget(p.row.name) // re-read from the new path (place keeps its copy)
	}
	if err := s.place(p); err != nil {
		return sources.Scanned{}, err
	}
	if c.Op == sources.Unchanged {
		if p.c == nil && !p.moved {
			return sources.Scanned{}, nil // nothing to record
		}
		// Touched, or moved: the same content, recorded where it is now.
		cur := p.row.cur
		cur.Stat, cur.Checked = p.stat, p.checked
		return sources.Scanned{Cursor: cur.encode()}, nil
	}
	return s.read(ctx, p, c.Op == sources.Appended, c.Groupless, fn)
}

// place makes the file's fresh copy the one re-reads use, or (no longer
// compressed) removes the copy.
func (s *Source) place(p *plan) error {
	if p.c == nil {
		return nil
	}
	if p.c.fresh == nil {
		s.forget(p.path)
		return nil
	}
	if err := s.keep(p.path, p.c.fresh); err != nil {
		return err
	}
	p.c.path, p.c.fresh = p.c.fresh.path, nil
	return nil
}

// countReader counts bytes and newlines read, so an append resumes with
// the right offsets and line numbers, and the checksum of everything read.
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

// read reads the records of p's content, after what was indexed when
// appended, and returns the cursor that ends them.
func (s *Source) read(ctx context.Context, p *plan, appended, groupless bool, fn func(*sources.Record) error) (sources.Scanned, error) {
	cur := cursor{Stat: p.stat, Checked: p.checked, Line: 1}
	var crc uint64
	if appended {
		cur.Indexed, cur.Line, cur.Index, crc = p.row.cur.Indexed, p.row.cur.Line, p.row.cur.Index, *p.row.cur.CRC
	}
	from, baseLine, baseIndex := cur.Indexed, cur.Line, cur.Index
	var n int64
	if p.c.path != "" { // else nothing kept (gzip bomb): only the error record
		in, err := os.Open(p.c.path)
		if err != nil {
			return sources.Scanned{}, fmt.Errorf("v2archive: %w", err)
		}
		defer in.Close()
		if _, err := in.Seek(from, io.SeekStart); err != nil {
			return sources.Scanned{}, fmt.Errorf("v2archive: %s: %w", p.path, err)
		}
		cr := &countReader{r: in, crc: crc}
		err = s.records(p.path, cr, groupless, func(r *sources.Record) error {
			r.Loc.Offset += from
			r.Loc.Line += int(baseLine) - 1
			r.Loc.Index += int(baseIndex)
			cur.Index = int64(r.Loc.Index)
			return fn(r)
		})
		if err != nil {
			return sources.Scanned{}, fmt.Errorf("v2archive: %s: %w", p.path, err)
		}
		if err := ctx.Err(); err != nil {
			return sources.Scanned{}, err
		}
		n = cr.n
		cur.Indexed, cur.Line, crc = from+cr.n, baseLine+cr.lines, cr.crc
	}
	if p.c.broken != "" {
		// What follows could not be read: an error record, and no
		// checksum, so any change reads the file again from the start.
		slog.Warn("v2archive: broken input file", "file", p.path, "reason", p.c.broken)
		cur.Index++
		r := &sources.Record{Kind: sources.Broken, Err: p.c.broken}
		r.Loc.Source, r.Loc.Offset, r.Loc.Line, r.Loc.Index = p.path, cur.Indexed, int(cur.Line), int(cur.Index)
		if err := fn(r); err != nil {
			return sources.Scanned{}, err
		}
		return sources.Scanned{Cursor: cur.encode(), Bytes: n}, nil
	}
	cur.CRC = &crc
	if cur.Indexed > 0 {
		head := make([]byte, min(cur.Indexed, headWindow))
		if err := readFull(p.c.path, head); err != nil {
			return sources.Scanned{}, fmt.Errorf("v2archive: %s: %w", p.path, err)
		}
		h := sources.DataHash(head)
		cur.Head = &h
	}
	return sources.Scanned{Cursor: cur.encode(), Bytes: n}, nil
}

// Package v2archive streams HL7 v2 messages out of the archives registries
// and interface engines leave behind: single files, directory trees, glob
// patterns, gzip files (recognised by content) and standard input, with
// messages separated by blank lines, by the next MSH segment, by MLLP
// framing (0x0B … 0x1C 0x0D) or wrapped in FHS/BHS/BTS/FTS batches, in any
// mix. Each message comes out as UTF-8 bytes with its Location; broken
// input becomes an error Item and the stream goes on.
//
// # Framing
//
// Segments end with \r, \n or \r\n (also \r\r\n, what a second CRLF
// conversion leaves), mixed freely. An MSH segment starts a message. A
// message ends at the next MSH, a blank line, an MLLP start (0x0B) or end
// (0x1C, with the 0x0D after it) byte, a batch segment (FHS, BHS, BTS,
// FTS) or the end of input. Inside an MLLP frame blank lines do not end
// the message. Batch segments are not messages; BTS-1 and FTS-1 are
// checked against the messages and batches seen, and a mismatch is a
// warning on the last message of the batch. UTF-8 BOMs at the start of a
// segment are dropped; lines of only spaces, tabs or DOS end-of-file marks
// (0x1A) count as blank; an indented MSH still starts a message.
//
// Broken input becomes an Item with Err: segments before any MSH (the item
// spans them up to the next boundary), a message holding control bytes
// such as NUL, a segment over MaxSegmentBytes or a message over
// MaxMessageBytes (skipped without being held), an MLLP frame cut short,
// an unusable MSH, an empty file, a file that cannot be opened, a read
// error such as a corrupt gzip stream (the message being read then fails).
//
// # Locations
//
// Loc.Offset and Loc.Length give the item's span in the (decompressed)
// stream: from the MLLP start byte, or the first byte of MSH, to the end
// of its last segment terminator or MLLP end. ReadAt re-reads a span.
// Loc.Line counts line breaks (\r\n, \n, or a lone \r) before the span,
// plus one. Loc.Index counts the items of the file, errors included.
//
// Memory stays flat: input is read through a fixed buffer and a message is
// held only up to Options.MaxMessageBytes.
package v2archive

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// Options tune a Reader. The zero value is usable.
type Options struct {
	// Encoding of the input: "auto" (default), "utf-8", "latin1" or
	// "windows-1252". In auto mode valid UTF-8 stays as is, other bytes are
	// read as Windows-1252, and MSH-18 "8859/1" forces Latin-1 and
	// "UNICODE UTF-8" forces UTF-8. An explicit Encoding ignores MSH-18.
	Encoding string
	// MaxMessageBytes bounds one message (default 4 MiB); a longer one is
	// an error item and is skipped without being held.
	MaxMessageBytes int
	// MaxSegmentBytes bounds one segment (default 1 MiB), likewise.
	MaxSegmentBytes int
	// SpoolDir is where a Source keeps decompressed copies of gzip inputs
	// so their messages can be read again by offset (the index's data
	// directory's spool/); without it gzip inputs cannot be indexed.
	SpoolDir string
}

const (
	defaultMaxMessage = 4 << 20
	defaultMaxSegment = 1 << 20
	readBufSize       = 256 << 10
)

func (o Options) normalized() (Options, error) {
	switch strings.ToLower(strings.ReplaceAll(o.Encoding, "_", "-")) {
	case "", "auto":
		o.Encoding = "auto"
	case "utf-8", "utf8":
		o.Encoding = "utf-8"
	case "latin1", "latin-1", "iso-8859-1", "8859/1":
		o.Encoding = "latin1"
	case "windows-1252", "cp1252":
		o.Encoding = "windows-1252"
	default:
		return o, fmt.Errorf("v2archive: unknown encoding %q (want auto, utf-8, latin1 or windows-1252)", o.Encoding)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMaxMessage
	}
	if o.MaxSegmentBytes <= 0 {
		o.MaxSegmentBytes = defaultMaxSegment
	}
	o.MaxSegmentBytes = min(o.MaxSegmentBytes, o.MaxMessageBytes)
	return o, nil
}

// Item is one message, or one stretch of broken input.
//
// A message has Data and Header set and Err nil. A broken stretch has
// Err set (an *Error) and no Data. Rarely an Item has neither: it only
// carries Warnings about the input (a batch count mismatch with no message
// to attach it to). Data and Header are valid until the next call to
// Next; copy Data to keep it.
type Item struct {
	Data []byte // one message, UTF-8, framing removed, segments ended by \r
	// Header is the MSH segment parsed on its own (Segments() holds MSH
	// only): type, sender, time and control id without a full parse. Call
	// hl7v2.Parse(Data) for the rest.
	Header   *hl7v2.Message
	Loc      sources.Location
	Err      error
	Warnings []string // non-fatal problems of the input around this item
}

// Error says why a stretch of input is not a message. It holds no message
// content (only segment names, offsets and byte values), so it may be
// logged; the place is the Item's Loc.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// Counts summarise what a Reader has read so far.
type Counts struct {
	Files    int   // inputs opened (stdin counts as one)
	Messages int   // message items
	Errors   int   // error items (broken input, unreadable files)
	Warnings int   // warnings carried by items
	Bytes    int64 // input bytes read, after gzip decompression
}

// Reader streams Items from a list of inputs, in order. It is not safe for
// concurrent use.
type Reader struct {
	opts  Options
	args  []string
	queue []input // expanded inputs of the current argument
	cur   *stream
	close io.Closer
	pf    *prefetch // reads the current input ahead, when the Reader opened it
	stdin io.Reader

	counts    Counts
	bytesDone int64
	rbuf      []byte
	mbuf      []byte
}

// input is one file to read, or an error found while expanding arguments.
type input struct {
	path string
	err  error
}

// Open prepares to read paths in order: files, directories (every file
// below, recursively, in lexical order, skipping names that start with a
// dot), glob patterns (sorted matches) and "-" for standard input.
// Arguments are expanded when reached; a missing or unreadable path
// becomes an error Item, not an error here. Open fails only on bad
// options or a malformed pattern.
func Open(paths []string, opts Options) (*Reader, error) {
	o, err := opts.normalized()
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("v2archive: no input paths")
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			continue // an existing name is taken literally
		}
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("v2archive: pattern %q: %w", p, err)
		}
	}
	return &Reader{opts: o, args: paths, stdin: os.Stdin}, nil
}

// OpenReader reads one stream (gzip detected by content) under name.
func OpenReader(name string, r io.Reader, opts Options) (*Reader, error) {
	o, err := opts.normalized()
	if err != nil {
		return nil, err
	}
	rd := &Reader{opts: o}
	if it := rd.start(name, r, nil, false); it != nil {
		rd.queue = append(rd.queue, input{path: name, err: it.Err})
	}
	return rd, nil
}

// Next returns the next item, or io.EOF after the last one. Broken input
// never stops the stream: it comes out as an Item with Err set.
func (r *Reader) Next() (*Item, error) {
	for {
		if r.cur != nil {
			if it := r.cur.next(); it != nil {
				r.tally(it)
				return it, nil
			}
			r.endFile()
		}
		if len(r.queue) > 0 {
			in := r.queue[0]
			r.queue = r.queue[1:]
			if in.err == nil {
				in.err = r.openFile(in.path)
			}
			if in.err != nil {
				it := &Item{Loc: sources.Location{Source: in.path, Line: 1, Index: 1}, Err: &Error{Reason: reason(in.err)}}
				r.tally(it)
				return it, nil
			}
			continue
		}
		if len(r.args) > 0 {
			a := r.args[0]
			r.args = r.args[1:]
			r.queue = expand(a)
			continue
		}
		return nil, io.EOF
	}
}

func (r *Reader) tally(it *Item) {
	switch {
	case it.Err != nil:
		r.counts.Errors++
	case it.Data != nil:
		r.counts.Messages++
	}
	r.counts.Warnings += len(it.Warnings)
}

// Counts reports totals so far.
func (r *Reader) Counts() Counts {
	c := r.counts
	c.Bytes = r.bytesDone
	if r.cur != nil {
		c.Bytes += r.cur.sc.nbytes
	}
	return c
}

// Close releases the current input. Standard input is not closed.
func (r *Reader) Close() error {
	var err error
	r.stopPrefetch()
	if r.close != nil {
		err = r.close.Close()
		r.close = nil
	}
	if r.cur != nil {
		r.bytesDone += r.cur.sc.nbytes
		r.cur = nil
	}
	r.args, r.queue = nil, nil
	return err
}

func (r *Reader) stopPrefetch() {
	if r.pf != nil {
		r.pf.stop()
		r.pf = nil
	}
}

func (r *Reader) endFile() {
	r.stopPrefetch()
	r.bytesDone += r.cur.sc.nbytes
	r.mbuf = r.cur.buf[:0]
	r.cur = nil
	if r.close != nil {
		r.close.Close()
		r.close = nil
	}
}

func (r *Reader) openFile(path string) error {
	if path == "-" {
		if it := r.start("-", r.stdin, nil, true); it != nil {
			return it.Err
		}
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if it := r.start(path, f, f, true); it != nil {
		return it.Err
	}
	return nil
}

// start begins reading src; gzip is recognised by its magic bytes.
func (r *Reader) start(name string, src io.Reader, c io.Closer, async bool) *Item {
	r.counts.Files++
	src, err := maybeGzip(src)
	if err != nil {
		if c != nil {
			c.Close()
		}
		return &Item{Err: &Error{Reason: err.Error()}}
	}
	if r.rbuf == nil {
		r.rbuf = make([]byte, readBufSize)
	}
	if async {
		r.pf = newPrefetch(src)
		src = r.pf
	}
	r.cur = newStream(name, newScanner(src, r.rbuf, 0, 1), &r.opts, r.mbuf)
	r.close = c
	return nil
}

func maybeGzip(src io.Reader) (io.Reader, error) {
	var head [2]byte
	n, err := io.ReadFull(src, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read error: %w", err)
	}
	src = io.MultiReader(bytes.NewReader(head[:n]), src)
	if n == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return gz, nil
	}
	return src, nil
}

// Input is one file a PATH argument names, or why it cannot be read.
type Input struct {
	Path string
	Err  error // the path is missing or cannot be listed
}

// Expand lists the files behind one PATH argument exactly as a Reader
// reads them: a file as is, a directory walked recursively in lexical
// order, a glob pattern's sorted matches; names starting with a dot are
// skipped inside directories and when a wildcard matched them (as a shell
// does), so every command that takes PATH reads the same files.
func Expand(arg string) []Input {
	in := expand(arg)
	out := make([]Input, len(in))
	for i, x := range in {
		out[i] = Input{Path: x.path, Err: x.err}
	}
	return out
}

// expand lists the inputs behind one argument.
func expand(arg string) []input {
	if arg == "-" {
		return []input{{path: "-"}}
	}
	fi, err := os.Stat(arg)
	if err == nil {
		if fi.IsDir() {
			return walk(arg)
		}
		return []input{{path: arg}}
	}
	if !hasMeta(arg) {
		return []input{{path: arg, err: err}}
	}
	matches, gerr := filepath.Glob(arg)
	if gerr != nil {
		return []input{{path: arg, err: gerr}}
	}
	if len(matches) == 0 {
		return []input{{path: arg, err: errors.New("no file matches the pattern")}}
	}
	var out []input
	for _, m := range matches {
		if hiddenMatch(arg, m) {
			continue
		}
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			out = append(out, walk(m)...)
		} else {
			out = append(out, input{path: m})
		}
	}
	return out
}

// reason words an I/O error without repeating the path (Loc holds it).
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

// hiddenMatch reports whether a wildcard matched a name starting with a
// dot, which a shell would not do either.
func hiddenMatch(pattern, match string) bool {
	pp := strings.Split(filepath.ToSlash(pattern), "/")
	mp := strings.Split(filepath.ToSlash(match), "/")
	if len(pp) != len(mp) {
		return false
	}
	for i := range mp {
		if strings.HasPrefix(mp[i], ".") && !strings.HasPrefix(pp[i], ".") {
			return true
		}
	}
	return false
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

// walk lists the regular files under dir in lexical order. Names that
// start with a dot (.git, editor backups) are skipped.
func walk(dir string) []input {
	var out []input
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		dir += string(filepath.Separator) // a link to a directory: walk what it names
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, input{path: p, err: err})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			out = append(out, input{path: p})
		} else if d.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(p); err != nil || fi.Mode().IsRegular() {
				out = append(out, input{path: p, err: err})
			}
		}
		return nil
	})
	return out
}

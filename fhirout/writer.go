package fhirout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
)

const bufSize = 64 << 10

// RotateOptions bound each output file; 0 means unbounded.
type RotateOptions struct {
	MaxResources int64
	MaxBytes     int64 // including newlines; a longer single line still gets a file of its own
}

// FileInfo describes one finished output file.
type FileInfo struct {
	Type  string // resourceType of every line
	Path  string
	Count int64 // lines
	Bytes int64
}

// DirWriter writes NDJSON files per resource type into a directory:
// Patient.ndjson, then Patient.2.ndjson ... when rotation cuts a file.
// Files are created on the first line of their type. A DirWriter is not
// safe for concurrent use. After a write error every later call returns
// that error.
type DirWriter struct{ impl dirWriterImpl }

type dirWriterImpl struct {
	dir  string
	opts RotateOptions
	// sink, when set, opens each file instead of os.Create in dir
	// (NewSinkWriter): FileInfo.Path is then the bare file name.
	sink  func(name string) (io.WriteCloser, error)
	open  map[string]*typeFile
	files []FileInfo // creation order; open files are updated on close
	buf   []byte
	err   error // sticky: first failure

	closed   bool
	closeErr error
}

type typeFile struct {
	f     io.WriteCloser
	w     *bufio.Writer
	seq   int // 1 for Patient.ndjson, 2 for Patient.2.ndjson ...
	idx   int // index in files
	count int64
	bytes int64
}

// NewDirWriter writes into dir, which must exist.
func NewDirWriter(dir string, opts RotateOptions) (*DirWriter, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("fhirout: output directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("fhirout: output directory %s: not a directory", dir)
	}
	if opts.MaxResources < 0 || opts.MaxBytes < 0 {
		return nil, fmt.Errorf("fhirout: negative rotation bound %+v", opts)
	}
	return &DirWriter{impl: dirWriterImpl{dir: dir, opts: opts, open: map[string]*typeFile{}}}, nil
}

// NewSinkWriter is a DirWriter whose files are opened by open (an object
// store's upload, say) rather than created in a directory. A file's
// WriteCloser may also have an Abort() error method, which Abort calls.
func NewSinkWriter(open func(name string) (io.WriteCloser, error), opts RotateOptions) (*DirWriter, error) {
	if opts.MaxResources < 0 || opts.MaxBytes < 0 {
		return nil, fmt.Errorf("fhirout: negative rotation bound %+v", opts)
	}
	return &DirWriter{impl: dirWriterImpl{sink: open, opts: opts, open: map[string]*typeFile{}}}, nil
}

// Abort discards the files still open (their Abort when they have one,
// else Close) and fails every later call; for a failed export whose
// uploads must leave nothing behind.
func (w *DirWriter) Abort() {
	d := &w.impl
	if d.closed {
		return
	}
	d.closed = true
	for _, tf := range d.open {
		if a, ok := tf.f.(interface{ Abort() error }); ok {
			a.Abort()
		} else {
			tf.f.Close()
		}
	}
	clear(d.open)
	d.closeErr = errors.New("fhirout: DirWriter aborted")
	d.err = d.closeErr
}

// Write appends r as one line to the file of its resourceType.
func (w *DirWriter) Write(r *Object) error {
	d := &w.impl
	if d.err != nil {
		return d.err
	}
	t := r.ResourceType()
	if err := checkType(t); err != nil {
		return err
	}
	// Not checkLine's scan for a newline: AppendJSON escapes every
	// control character, and its line is never empty.
	d.buf = r.AppendJSON(d.buf[:0])
	return d.writeLine(t, d.buf)
}

// WriteLine appends already-encoded JSON (no newline) as a resource of type t.
func (w *DirWriter) WriteLine(t string, line []byte) error {
	d := &w.impl
	if d.err != nil {
		return d.err
	}
	if err := checkLine(t, line); err != nil {
		return err
	}
	return d.writeLine(t, line)
}

// writeLine is WriteLine once the line is checked.
func (d *dirWriterImpl) writeLine(t string, line []byte) error {
	n := int64(len(line)) + 1
	tf := d.open[t]
	if tf != nil && tf.count > 0 &&
		((d.opts.MaxResources > 0 && tf.count >= d.opts.MaxResources) ||
			(d.opts.MaxBytes > 0 && tf.bytes+n > d.opts.MaxBytes)) {
		if err := d.closeFile(tf); err != nil {
			return d.fail(err)
		}
		seq := tf.seq + 1
		delete(d.open, t)
		var err error
		if tf, err = d.create(t, seq); err != nil {
			return d.fail(err)
		}
	} else if tf == nil {
		var err error
		if tf, err = d.create(t, 1); err != nil {
			return d.fail(err)
		}
	}
	if _, err := tf.w.Write(line); err != nil {
		return d.fail(fmt.Errorf("fhirout: write %s: %w", d.files[tf.idx].Path, err))
	}
	if err := tf.w.WriteByte('\n'); err != nil {
		return d.fail(fmt.Errorf("fhirout: write %s: %w", d.files[tf.idx].Path, err))
	}
	tf.count++
	tf.bytes += n
	return nil
}

func (d *dirWriterImpl) fail(err error) error {
	if d.err == nil {
		d.err = err
	}
	return err
}

func (d *dirWriterImpl) create(t string, seq int) (*typeFile, error) {
	name := t + ".ndjson"
	if seq > 1 {
		name = t + "." + strconv.Itoa(seq) + ".ndjson"
	}
	var tf *typeFile
	path := name
	if d.sink != nil {
		f, err := d.sink(name)
		if err != nil {
			return nil, fmt.Errorf("fhirout: create %s: %w", name, err)
		}
		tf = &typeFile{f: f, w: bufio.NewWriterSize(f, bufSize)}
	} else {
		path = filepath.Join(d.dir, name)
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("fhirout: %w", err) // *PathError names the file
		}
		tf = &typeFile{f: f, w: bufio.NewWriterSize(newDropBehind(f), bufSize)}
	}
	tf.seq, tf.idx = seq, len(d.files)
	d.files = append(d.files, FileInfo{Type: t, Path: path})
	d.open[t] = tf
	return tf, nil
}

// closeFile flushes and closes tf and records its final counts.
func (d *dirWriterImpl) closeFile(tf *typeFile) error {
	fi := &d.files[tf.idx]
	fi.Count, fi.Bytes = tf.count, tf.bytes
	err := tf.w.Flush()
	if err != nil {
		err = fmt.Errorf("fhirout: write %s: %w", fi.Path, err)
	}
	if cerr := tf.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("fhirout: close %s: %w", fi.Path, cerr)
	}
	return err
}

// Close flushes and closes every file and lists them in creation order.
// On error the list still describes what was written, and the error names
// the file that failed (the first failure, including earlier write errors).
func (w *DirWriter) Close() ([]FileInfo, error) {
	d := &w.impl
	if d.closed {
		return d.files, d.closeErr
	}
	d.closed = true
	errs := []error{d.err}
	for _, fi := range d.files {
		tf := d.open[fi.Type]
		if tf == nil || d.files[tf.idx].Path != fi.Path {
			continue
		}
		errs = append(errs, d.closeFile(tf))
		delete(d.open, fi.Type)
	}
	d.closeErr = errors.Join(errs...)
	if d.err == nil {
		d.err = errors.New("fhirout: DirWriter is closed")
	}
	return d.files, d.closeErr
}

// checkLine refuses what would break NDJSON: a bad type name, an empty
// line or one holding a newline (pretty-printed JSON).
func checkLine(t string, line []byte) error {
	if err := checkType(t); err != nil {
		return err
	}
	if len(line) == 0 {
		return fmt.Errorf("fhirout: empty %s line", t)
	}
	if bytes.IndexByte(line, '\n') >= 0 {
		return fmt.Errorf("fhirout: %s line holds a newline: NDJSON needs one resource per line", t)
	}
	return nil
}

// checkType refuses a bad type name (validType).
func checkType(t string) error {
	if !validType(t) {
		return fmt.Errorf("fhirout: resource type %q is not a FHIR resource type name", t)
	}
	return nil
}

// validType accepts FHIR resource type names (letters, starting upper
// case): they become file names, so nothing else may pass.
func validType(t string) bool {
	if t == "" || len(t) > 64 || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// StreamWriter writes every resource, of any type, as NDJSON to one writer,
// buffered: call Flush at the end. Not safe for concurrent use.
type StreamWriter struct{ impl streamWriterImpl }

type streamWriterImpl struct {
	w      *bufio.Writer
	counts map[string]int64
	buf    []byte
	err    error
}

func NewStreamWriter(w io.Writer) *StreamWriter {
	return &StreamWriter{impl: streamWriterImpl{w: bufio.NewWriterSize(w, bufSize), counts: map[string]int64{}}}
}

// Write appends r as one line.
func (w *StreamWriter) Write(r *Object) error {
	s := &w.impl
	if s.err != nil {
		return s.err
	}
	s.buf = r.AppendJSON(s.buf[:0])
	return w.WriteLine(r.ResourceType(), s.buf)
}

// WriteLine appends already-encoded JSON (no newline) counted as type t.
func (w *StreamWriter) WriteLine(t string, line []byte) error {
	s := &w.impl
	if s.err != nil {
		return s.err
	}
	if err := checkLine(t, line); err != nil {
		return err
	}
	if _, err := s.w.Write(line); err != nil {
		s.err = fmt.Errorf("fhirout: write NDJSON stream: %w", err)
		return s.err
	}
	if err := s.w.WriteByte('\n'); err != nil {
		s.err = fmt.Errorf("fhirout: write NDJSON stream: %w", err)
		return s.err
	}
	s.counts[t]++
	return nil
}

// Counts returns the lines written so far per resource type.
func (w *StreamWriter) Counts() map[string]int64 { return maps.Clone(w.impl.counts) }

// Flush writes buffered lines to the underlying writer.
func (w *StreamWriter) Flush() error {
	s := &w.impl
	if s.err != nil {
		return s.err
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("fhirout: write NDJSON stream: %w", err)
	}
	return s.err
}

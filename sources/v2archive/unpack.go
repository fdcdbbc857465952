package v2archive

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iisbridge/iisbridge/sources"
)

// Gzip expansion limits: a gzip input that decompresses to more than
// MaxGzipRatio times its size, and more than GzipRatioFloor bytes, is a
// gzip bomb (HL7 archives compress 5-20×); it is reported as broken input
// and nothing of it is kept.
const (
	MaxGzipRatio   = 100
	GzipRatioFloor = 64 << 20
)

// Spools: a gzip input is read again by offset from its decompressed copy
// in Options.SpoolDir, named by a hash of the input's path (the index
// keys files by canonical path). A fresh copy is written under a
// temporary name and renamed into place (keep), so an export that opened
// the old copy keeps its bytes.

// spoolOf is where the kept copy of the gzip file at path lives.
func (s *Source) spoolOf(path string) string {
	h := sha256.Sum256([]byte(path))
	return filepath.Join(s.opts.SpoolDir, hex.EncodeToString(h[:12]))
}

// cleanSpool removes temporary copies a killed update left behind (an
// update under way in another process renames its own within the hour),
// and copies of the layout before the source kept them (named by the
// index's file id: that index is rebuilt, and spools again).
func cleanSpool(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), "tmp-"):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(p)
			}
		case sources.AllDigits(e.Name()):
			os.Remove(p)
		}
	}
}

// unpacked is a fresh decompressed copy of a gzip file.
type unpacked struct {
	// path is the copy to read ("" with discard). Until keep, the caller
	// owns it: it removes the file when it does not keep it.
	path  string
	bytes int64 // decompressed bytes written
	// broken says why the rest could not be decompressed (a corrupt
	// stream: what was written is kept), or, with discard, why nothing
	// may be kept (an expansion past the limit: a decompression bomb).
	broken  string
	discard bool
}

// unpack decompresses the file at path (size bytes) into a fresh copy
// when it is gzip (by content); nil when it is not. err is a failure to
// read the file (or write the copy).
func (s *Source) unpack(path string, size int64) (*unpacked, error) {
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if !isGzipFile(in) {
		return nil, nil
	}
	if s.opts.SpoolDir == "" {
		return nil, errors.New("v2archive: a gzip input needs a spool directory (Options.SpoolDir) to be indexed")
	}
	if err := os.MkdirAll(s.opts.SpoolDir, 0o755); err != nil {
		return nil, err
	}
	out, err := os.CreateTemp(s.opts.SpoolDir, "tmp-*")
	if err != nil {
		return nil, err
	}
	u, err := inflate(in, size, out)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	u.path = out.Name()
	if err != nil || u.discard {
		os.Remove(out.Name()) // nothing may be kept (a decompression bomb)
		u.path = ""
	}
	if err != nil {
		return nil, err // reading the input failed: unreadable, not broken
	}
	return u, nil
}

func inflate(in io.Reader, size int64, w io.Writer) (*unpacked, error) {
	limit := max(int64(GzipRatioFloor), MaxGzipRatio*size)
	var n int64
	zr, err := gzip.NewReader(in)
	if err == nil {
		n, err = io.Copy(w, io.LimitReader(zr, limit+1))
	}
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return &unpacked{bytes: n}, err // reading the input (or writing the spool) failed: unreadable, not broken
	case n > limit:
		return &unpacked{discard: true,
			broken: fmt.Sprintf("gzip input expands more than %d times its %d bytes (a gzip bomb?); not read", MaxGzipRatio, size)}, nil
	case err != nil:
		return &unpacked{bytes: n, broken: fmt.Sprintf("gzip stream broken after %d decompressed bytes: %v", n, err)}, nil
	}
	return &unpacked{bytes: n}, nil
}

// keep makes the fresh copy u the one read for path (a copy already open
// in a running export stays readable to it); u.path becomes the kept
// copy's.
func (s *Source) keep(path string, u *unpacked) error {
	sp := s.spoolOf(path)
	if u.path == sp {
		return nil
	}
	if err := os.Rename(u.path, sp); err != nil {
		return fmt.Errorf("v2archive: spool: %w", err)
	}
	u.path = sp
	return nil
}

// forget removes the copy kept for path, if any: the file is gone, moved
// or no longer compressed.
func (s *Source) forget(path string) {
	if s.opts.SpoolDir != "" {
		os.Remove(s.spoolOf(path))
	}
}

// reread is where the messages of the file at path are read again: its
// kept copy when it has one, else the file itself.
func (s *Source) reread(path string) string {
	if s.opts.SpoolDir == "" {
		return path
	}
	sp := s.spoolOf(path)
	if _, err := os.Stat(sp); err == nil {
		return sp
	}
	return path
}

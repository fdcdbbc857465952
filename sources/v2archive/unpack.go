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
// temporary name and renamed into place (Keep), so an export that opened
// the old copy keeps its bytes.

var _ sources.Unpacker = (*Source)(nil)

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

// Unpack decompresses the file at path into a fresh copy when it is gzip
// (sources.Unpacker).
func (s *Source) Unpack(path string, size int64) (*sources.Unpacked, error) {
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
	u, err := unpack(in, size, out)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	u.Path = out.Name()
	if err != nil || u.Discard {
		os.Remove(out.Name()) // nothing may be kept (a decompression bomb)
		u.Path = ""
	}
	if err != nil {
		return nil, err // reading the input failed: unreadable, not broken
	}
	return u, nil
}

func unpack(in io.Reader, size int64, w io.Writer) (*sources.Unpacked, error) {
	limit := max(int64(GzipRatioFloor), MaxGzipRatio*size)
	var n int64
	zr, err := gzip.NewReader(in)
	if err == nil {
		n, err = io.Copy(w, io.LimitReader(zr, limit+1))
	}
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return &sources.Unpacked{Bytes: n}, err // reading the input (or writing the spool) failed: unreadable, not broken
	case n > limit:
		return &sources.Unpacked{Discard: true,
			Broken: fmt.Sprintf("gzip input expands more than %d times its %d bytes (a gzip bomb?); not read", MaxGzipRatio, size)}, nil
	case err != nil:
		return &sources.Unpacked{Bytes: n, Broken: fmt.Sprintf("gzip stream broken after %d decompressed bytes: %v", n, err)}, nil
	}
	return &sources.Unpacked{Bytes: n}, nil
}

// Keep makes u the copy read for path (sources.Unpacker).
func (s *Source) Keep(path string, u *sources.Unpacked) error {
	sp := s.spoolOf(path)
	if u.Path == sp {
		return nil
	}
	if err := os.Rename(u.Path, sp); err != nil {
		return fmt.Errorf("v2archive: spool: %w", err)
	}
	u.Path = sp
	return nil
}

// Forget removes the copy kept for path (sources.Unpacker).
func (s *Source) Forget(path string) {
	if s.opts.SpoolDir != "" {
		os.Remove(s.spoolOf(path))
	}
}

// content is where the messages of the file at path are read again: its
// kept copy when it has one, else the file itself.
func (s *Source) content(path string) string {
	if s.opts.SpoolDir == "" {
		return path
	}
	sp := s.spoolOf(path)
	if _, err := os.Stat(sp); err == nil {
		return sp
	}
	return path
}

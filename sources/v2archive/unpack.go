package v2archive

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

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

var _ sources.Unpacker = (*Source)(nil)

// Compressed says whether the file at path is gzip (by its magic bytes).
func (s *Source) Compressed(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return isGzipFile(f), nil
}

// Unpack decompresses the gzip file at path into w (sources.Unpacker).
func (s *Source) Unpack(path string, size int64, w io.Writer) (sources.Unpacked, error) {
	in, err := os.Open(path)
	if err != nil {
		return sources.Unpacked{}, err
	}
	defer in.Close()
	limit := max(int64(GzipRatioFloor), MaxGzipRatio*size)
	var n int64
	zr, err := gzip.NewReader(in)
	if err == nil {
		n, err = io.Copy(w, io.LimitReader(zr, limit+1))
	}
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe):
		return sources.Unpacked{Bytes: n}, err // reading the input (or writing the spool) failed: unreadable, not broken
	case n > limit:
		return sources.Unpacked{Discard: true,
			Broken: fmt.Sprintf("gzip input expands more than %d times its %d bytes (a gzip bomb?); not read", MaxGzipRatio, size)}, nil
	case err != nil:
		return sources.Unpacked{Bytes: n, Broken: fmt.Sprintf("gzip stream broken after %d decompressed bytes: %v", n, err)}, nil
	}
	return sources.Unpacked{Bytes: n}, nil
}

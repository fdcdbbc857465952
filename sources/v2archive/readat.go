package v2archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"iisbridge/sources"
)

// ReadAt reads the message at loc again, as Next returned it (less the
// batch-count warnings, which need the whole file). Plain files are read
// with one positioned read of loc.Length bytes. A gzip file is
// decompressed from its start up to loc.Offset, so each call costs a scan
// of the file up to there: callers that revisit gzip input often should
// spool it to a plain file first. Standard input cannot be read again.
//
// The error is for I/O problems; broken bytes give an Item with Err set.
func ReadAt(loc sources.Location, opts Options) (*Item, error) {
	o, err := opts.normalized()
	if err != nil {
		return nil, err
	}
	if loc.Source == "-" || loc.Source == "" {
		return nil, errors.New("v2archive: ReadAt: standard input cannot be read again")
	}
	if loc.Offset < 0 || loc.Length <= 0 || loc.Length > 2*int64(o.MaxMessageBytes)+1<<16 {
		return nil, fmt.Errorf("v2archive: ReadAt %s: bad span (offset %d, length %d)", loc.Source, loc.Offset, loc.Length)
	}
	f, err := os.Open(loc.Source)
	if err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt: %w", err)
	}
	defer f.Close()
	span := make([]byte, loc.Length)
	var head [2]byte
	if n, _ := f.ReadAt(head[:], 0); n == 2 && head[0] == 0x1f && head[1] == 0x8b {
		src, err := maybeGzip(f)
		if err != nil {
			return nil, fmt.Errorf("v2archive: ReadAt %s: %w", loc.Source, err)
		}
		if _, err := io.CopyN(io.Discard, src, loc.Offset); err != nil {
			return nil, fmt.Errorf("v2archive: ReadAt %s: skipping to offset %d: %w", loc.Source, loc.Offset, err)
		}
		if _, err := io.ReadFull(src, span); err != nil {
			return nil, fmt.Errorf("v2archive: ReadAt %s at offset %d: %w", loc.Source, loc.Offset, err)
		}
	} else if _, err := f.ReadAt(span, loc.Offset); err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt %s at offset %d: %w", loc.Source, loc.Offset, err)
	}
	return readSpan(loc, span, &o), nil
}

// readSpan scans span, which starts at loc, and returns its first item.
func readSpan(loc sources.Location, span []byte, o *Options) *Item {
	line := max(loc.Line, 1)
	sc := newScanner(bytes.NewReader(span), make([]byte, 4096), loc.Offset, line)
	s := newStream(loc.Source, sc, o, nil)
	s.span = true
	s.index = max(loc.Index-1, 0)
	it := s.next()
	if it == nil {
		return &Item{Loc: loc, Err: &Error{Reason: "no message at this location"}}
	}
	it.Loc.Length = loc.Length
	return it
}

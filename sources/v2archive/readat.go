package v2archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
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
	if err := checkSpan(loc, &o); err != nil {
		return nil, err
	}
	f, err := os.Open(loc.Source)
	if err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt: %w", err)
	}
	defer f.Close()
	if isGzipFile(f) {
		return readGzipAt(f, loc, &o)
	}
	span := make([]byte, loc.Length)
	if _, err := f.ReadAt(span, loc.Offset); err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt %s at offset %d: %w", loc.Source, loc.Offset, err)
	}
	return readSpan(loc, span, &o), nil
}

// checkSpan refuses locations that cannot hold one message.
func checkSpan(loc sources.Location, o *Options) error {
	if loc.Source == "-" || loc.Source == "" {
		return errors.New("v2archive: ReadAt: standard input cannot be read again")
	}
	if loc.Offset < 0 || loc.Length <= 0 || loc.Length > 2*int64(o.MaxMessageBytes)+1<<16 {
		return fmt.Errorf("v2archive: ReadAt %s: bad span (offset %d, length %d)", loc.Source, loc.Offset, loc.Length)
	}
	return nil
}

// isGzipFile says whether f starts with the gzip magic bytes.
func isGzipFile(f *os.File) bool {
	var head [2]byte
	n, _ := f.ReadAt(head[:], 0)
	return n == 2 && head[0] == 0x1f && head[1] == 0x8b
}

// readGzipAt decompresses f from its start up to loc and reads the span.
func readGzipAt(f *os.File, loc sources.Location, o *Options) (*Item, error) {
	src, err := maybeGzip(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt %s: %w", loc.Source, err)
	}
	if _, err := io.CopyN(io.Discard, src, loc.Offset); err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt %s: skipping to offset %d: %w", loc.Source, loc.Offset, err)
	}
	span := make([]byte, loc.Length)
	if _, err := io.ReadFull(src, span); err != nil {
		return nil, fmt.Errorf("v2archive: ReadAt %s at offset %d: %w", loc.Source, loc.Offset, err)
	}
	return readSpan(loc, span, o), nil
}

// readSpan scans span, which starts at loc, and returns its first item.
func readSpan(loc sources.Location, span []byte, o *Options) *Item {
	return readSpanWith(loc, span, o, nil)
}

// readSpanWith is readSpan, parsing the header of a plain message with p
// when not nil: the item's Header is then valid until p's next use.
func readSpanWith(loc sources.Location, span []byte, o *Options, p *hl7v2.Parser) *Item {
	if data, ascii, ok := plainMessage(span, o); ok {
		// What the stream would collect is the span itself: skip it.
		it := &Item{Loc: loc}
		it.Loc.Line, it.Loc.Index = max(loc.Line, 1), max(loc.Index-1, 0)+1
		var (
			msh *hl7v2.Message
			err error
		)
		if p != nil {
			msh, err = p.Parse(data[:headerEnd(data)])
		} else {
			msh, err = hl7v2.Parse(data[:headerEnd(data)])
		}
		if err != nil {
			it.Err = &Error{Reason: "MSH: " + err.Error()}
			return it
		}
		if !ascii && !readAsIs(data, msh, o) {
			return readSpanStream(loc, span, o) // decoded, or with warnings
		}
		it.Data, it.Header, it.Loc.ControlID = data, msh, msh.ControlID()
		return it
	}
	return readSpanStream(loc, span, o)
}

// readAsIs reports whether the stream would take data, not ASCII, as it
// is: valid UTF-8 read as UTF-8, without a warning about the encoding.
func readAsIs(data []byte, msh *hl7v2.Message, o *Options) bool {
	enc, warns := encodingOf(data, msh, o.Encoding)
	return enc == "utf-8" && len(warns) == 0 && utf8.Valid(data)
}

// plainMessage reports whether span is one message in the plainest form,
// the form of nearly every re-read: no control bytes but CR, no DEL, no
// 0xEF (it may start a BOM, which the stream drops; other non-ASCII bytes
// are readAsIs's to judge), starting with MSH, segments ended by CR, no
// blank line, no further MSH or batch segment, within the size limits. Its data is then the span
// (with a CR added when the last segment had none); ascii says it has
// no byte above 0x7f.
func plainMessage(span []byte, o *Options) (data []byte, ascii, ok bool) {
	if len(span) < 4 || string(span[:3]) != "MSH" || len(span) > o.MaxMessageBytes {
		return nil, false, false
	}
	start := 0
	var high byte // OR of the bytes checked one by one (printable8's are ASCII)
	for i := 0; i <= len(span); i++ {
		for i+8 <= len(span) && printable8(binary.LittleEndian.Uint64(span[i:])) {
			i += 8
		}
		if i < len(span) {
			c := span[i]
			if c != '\r' {
				if c < 0x20 || c == 0x7f || c == 0xEF {
					return nil, false, false
				}
				high |= c
				continue
			}
		}
		seg := span[start:i]
		if len(seg) == 0 {
			if i == len(span) && start > 0 {
				break // the last segment had its CR
			}
			return nil, false, false // a blank line ends a message
		}
		if len(seg) > o.MaxSegmentBytes || isBlankLine(seg) {
			return nil, false, false
		}
		if t := trimIndent(seg); start > 0 && len(t) >= 3 && (t[0] == 'M' || t[0] == 'F' || t[0] == 'B') &&
			(isSegName(t, "MSH") || batchName(t) != "") {
			return nil, false, false // the names checked all start with M, F or B
		}
		start = i + 1
	}
	ascii = high < 0x80
	if span[len(span)-1] == '\r' {
		return span, ascii, true
	}
	if len(span)+1 > o.MaxMessageBytes {
		return nil, false, false
	}
	return append(span[:len(span):len(span)], '\r'), ascii, true
}

// printable8 reports whether the eight bytes of x are all printable
// ASCII (0x20 to 0x7e). A false answer may be spurious only in a byte
// above one that is not printable: the caller looks at bytes one by one
// from the first of the eight.
func printable8(x uint64) bool {
	const ones, hi = 0x0101010101010101, 0x8080808080808080
	return ((x-0x20*ones)|(x+ones)|x)&hi == 0
}

// readSpanStream reads span through the stream, as Next reads a file.
func readSpanStream(loc sources.Location, span []byte, o *Options) *Item {
	line := max(loc.Line, 1)
	sc := newScanner(bytes.NewReader(span), make([]byte, min(len(span)+16, 4096)), loc.Offset, line)
	// The message is collected in one buffer sized for the span, not grown.
	s := newStream(loc.Source, sc, o, make([]byte, 0, len(span)+16))
	s.span = true
	s.index = max(loc.Index-1, 0)
	it := s.next()
	if it == nil {
		return &Item{Loc: loc, Err: &Error{Reason: "no message at this location"}}
	}
	it.Loc.Length = loc.Length
	return it
}

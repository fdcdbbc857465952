package v2archive

import (
	"encoding/binary"
	"io"
	"math/bits"
)

// The scanner cuts a byte stream into tokens: segments (text up to a line
// terminator), blank lines and the MLLP start/end bytes. It owns a fixed
// read buffer and copies segment bytes into the caller's buffer up to a
// limit, so a segment of any length is consumed without being held whole.

const (
	mllpStart = 0x0B
	mllpEnd   = 0x1C
)

type tokKind uint8

const (
	tokSeg        tokKind = iota + 1
	tokBlank              // an empty line
	tokFrameStart         // 0x0B
	tokFrameEnd           // 0x1C, with the 0x0D after it when present
	tokEOF
	tokErr // read error; scanner.err holds it
)

// byte classes for the hot loop
const (
	clText  = 0
	clTerm  = 1 // \r \n 0x0B 0x1C: ends a segment
	clCtrl  = 2 // other C0 control bytes (not tab): binary garbage
	clFirst = 3 // EF: may start a BOM; only matters at segment start
)

var class [256]uint8

func init() {
	for c := 0; c < 0x20; c++ {
		class[c] = clCtrl
	}
	class['\t'] = clText
	class['\r'] = clTerm
	class['\n'] = clTerm
	class[mllpStart] = clTerm
	class[mllpEnd] = clTerm
}

type token struct {
	kind  tokKind
	off   int64 // stream offset of the first byte
	end   int64 // stream offset after the last byte (terminator included)
	line  int   // line of the first byte
	size  int64 // segment bytes seen (may exceed what was stored)
	over  bool  // segment longer than the limit: only a prefix was stored
	ctrl  int64 // offset of the first control byte in the segment, -1 if none
	ctrlB byte
}

type scanner struct {
	src    io.Reader
	buf    []byte
	r, w   int
	off    int64 // stream offset of buf[r]
	line   int   // line number at buf[r]
	err    error // sticky: io.EOF or a read error
	nbytes int64 // bytes consumed
}

func newScanner(src io.Reader, buf []byte, off int64, line int) *scanner {
	return &scanner{src: src, buf: buf, off: off, line: line}
}

// fill reads more data, keeping buf[r:w]. It returns false when nothing
// more can come (s.err set).
func (s *scanner) fill() bool {
	if s.err != nil {
		return false
	}
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.w = n
		s.r = 0
	}
	for tries := 0; tries < 100; tries++ {
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.err = io.ErrNoProgress
	return false
}

// peek returns at least n buffered bytes unless the stream ends first.
func (s *scanner) peek(n int) []byte {
	for s.w-s.r < n && s.fill() {
	}
	return s.buf[s.r:s.w]
}

func (s *scanner) advance(n int) {
	s.r += n
	s.off += int64(n)
	s.nbytes += int64(n)
}

// skipTerm consumes one line terminator at buf[r]: \r\n, \r\r\n (a CRLF
// conversion applied twice), \r or \n.
func (s *scanner) skipTerm() {
	p := s.peek(3)
	switch {
	case len(p) >= 2 && p[0] == '\r' && p[1] == '\n':
		s.advance(2)
	case len(p) >= 3 && p[0] == '\r' && p[1] == '\r' && p[2] == '\n':
		s.advance(3)
		s.line++ // the lone \r counts as a line break of its own
	default:
		s.advance(1)
	}
	s.line++
}

// next reads one token. Segment bytes are appended to *dst up to limit
// bytes of segment content; the segment's terminator is not stored.
func (s *scanner) next(dst *[]byte, limit int) token {
	for { // BOMs at the start of a segment are dropped
		if s.r == s.w && !s.fill() {
			return s.endTok()
		}
		if p := s.peek(3); len(p) < 3 || p[0] != 0xEF || p[1] != 0xBB || p[2] != 0xBF {
			break
		}
		s.advance(3)
	}
	t := token{off: s.off, line: s.line, ctrl: -1}
	switch s.buf[s.r] {
	case mllpStart:
		s.advance(1)
		t.kind, t.end = tokFrameStart, s.off
		return t
	case mllpEnd:
		s.advance(1)
		if p := s.peek(1); len(p) > 0 && p[0] == '\r' {
			s.skipTerm()
		}
		t.kind, t.end = tokFrameEnd, s.off
		return t
	case '\r', '\n':
		s.skipTerm()
		t.kind, t.end = tokBlank, s.off
		return t
	}
	t.kind = tokSeg
	d := *dst
	stored := 0
	for {
		b := s.buf[s.r:s.w]
		i := 0
		// 16 bytes at a time until one is < 0x20 (segments run 50-150
		// bytes: the loop's own cost counts). (x-lo)&^x&hi flags the
		// bytes < 0x20 of a word exactly up to the first (a borrow only
		// runs upwards), so its lowest bit is the first one.
		const lo, hi = 0x2020202020202020, 0x8080808080808080
		for ; i+16 <= len(b); i += 16 {
			w := b[i : i+16 : i+16]
			x, y := binary.LittleEndian.Uint64(w), binary.LittleEndian.Uint64(w[8:])
			if m := (x - lo) &^ x & hi; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			if m := (y - lo) &^ y & hi; m != 0 {
				i += 8 + bits.TrailingZeros64(m)>>3
				break
			}
		}
		for i < len(b) && class[b[i]] == clText {
			i++
		}
		if i < len(b) && class[b[i]] == clCtrl {
			if t.ctrl < 0 {
				t.ctrl, t.ctrlB = s.off+int64(i), b[i]
			}
			i++ // keep it in the segment; the message will be rejected
			if room := limit - stored; room > 0 {
				k := min(i, room)
				d = append(d, b[:k]...)
				stored += k
			}
			t.size += int64(i)
			s.advance(i)
			continue
		}
		if room := limit - stored; room > 0 {
			k := min(i, room)
			d = append(d, b[:k]...)
			stored += k
		}
		t.size += int64(i)
		s.advance(i)
		if s.r < s.w { // a terminator
			break
		}
		if !s.fill() {
			break // segment ends with the stream
		}
	}
	*dst = d
	t.over = t.size > int64(limit)
	if s.r < s.w && (s.buf[s.r] == '\r' || s.buf[s.r] == '\n') {
		s.skipTerm()
	}
	t.end = s.off
	return t
}

func (s *scanner) endTok() token {
	t := token{off: s.off, end: s.off, line: s.line, ctrl: -1, kind: tokEOF}
	if s.err != io.EOF {
		t.kind = tokErr
	}
	return t
}

package v2archive

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/iisbridge/iisbridge/hl7v2"
	"github.com/iisbridge/iisbridge/sources"
)

// stream turns the tokens of one input (a file, stdin, one gzip stream)
// into Items. Message boundaries: an MSH segment starts a message; a blank
// line (outside an MLLP frame), an MLLP start or end byte, a batch
// header/trailer segment or the end of input ends it. Segments that come
// before any MSH form an error item that spans them.
//
// The message buffer holds the message being built followed by at most
// one segment read ahead; that segment is moved to the front on the next
// call, which is why Item.Data is only valid until then.
type stream struct {
	name string
	sc   *scanner
	opts *Options
	buf  []byte
	conv []byte // decoded message when the input was not UTF-8
	// hp parses the headers of Items: Item.Header, like Data, is valid
	// only until the next item, so one Parser serves them all.
	hp hl7v2.Parser

	held      token // a token read ahead and not yet processed
	hasHeld   bool
	heldBytes int // length of held segment bytes at the end of buf

	msg   building
	index int  // items emitted
	done  bool // end of input seen
	span  bool // ReadAt: the input is one message's span, frames may be cut

	inFrame   bool
	frameOff  int64
	frameLine int
	frameUsed bool // a message already started in the current frame

	batchSegs bool // any FHS/BHS/BTS/FTS seen
	bhsOpen   bool
	bhsLine   int
	fhsOpen   bool
	fhsLine   int
	batchMsgs int // MSH segments since the last BHS/BTS
	batches   int // BHS segments since the last FHS/FTS

	pendWarn []string // warnings waiting for an item to travel with
}

// building is the message (or run of MSH-less segments) being assembled.
type building struct {
	open     bool
	orphan   bool // no MSH: an error region
	name     string
	off      int64
	line     int
	start    int // index in buf
	mshEnd   int // end of the MSH segment in buf (0: not stored whole)
	reason   string
	dropping bool // over MaxMessageBytes: later segments are not stored
	segs     int
}

func newStream(name string, sc *scanner, opts *Options, buf []byte) *stream {
	return &stream{name: name, sc: sc, opts: opts, buf: buf[:0]}
}

// isSegName reports a segment named name (three bytes), byte by byte:
// called on every segment, a string compare would call memequal.
func isSegName(b []byte, name string) bool {
	return len(b) >= 3 && b[0] == name[0] && b[1] == name[1] && b[2] == name[2] && (len(b) == 3 || !isAlnum(b[3]))
}

func isAlnum(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z'
}

func batchName(b []byte) string {
	if len(b) < 3 || b[0] != 'F' && b[0] != 'B' { // most segments: one test
		return ""
	}
	for _, n := range [...]string{"FHS", "BHS", "BTS", "FTS"} {
		if isSegName(b, n) {
			return n
		}
	}
	return ""
}

// next returns the next item, or nil at the end of the stream.
func (s *stream) next() *Item {
	if s.hasHeld && s.held.kind == tokSeg {
		n := copy(s.buf, s.buf[len(s.buf)-s.heldBytes:])
		s.buf = s.buf[:n]
	} else {
		s.buf = s.buf[:0]
	}
	var ready *Item
	for {
		var t token
		segStart := len(s.buf)
		if s.hasHeld {
			t, s.hasHeld = s.held, false
			segStart = len(s.buf) - s.heldBytes
		} else if s.done {
			return s.flush(ready)
		} else {
			t = s.sc.next(&s.buf, s.opts.MaxSegmentBytes)
		}
		seg := s.buf[segStart:]
		if t.kind == tokSeg && !t.over && isBlankLine(seg) {
			t.kind, s.buf, seg = tokBlank, s.buf[:segStart], nil
		}
		seg = trimIndent(seg) // an indented MSH still starts a message
		if ready != nil {
			// Blank lines and batch trailers after a message are consumed
			// now so that count warnings travel with that message.
			absorb := t.kind == tokBlank || t.kind == tokEOF || t.kind == tokFrameEnd && !s.msg.open ||
				t.kind == tokSeg && (isSegName(seg, "BTS") || isSegName(seg, "FTS"))
			if !absorb {
				s.hold(t, segStart)
				return s.flush(ready)
			}
		}
		switch t.kind {
		case tokSeg:
			if bn := batchName(seg); bn != "" {
				if s.msg.open {
					ready = s.close(segStart, t.off, "")
				}
				s.batchSegment(bn, seg, t.line, ready)
				s.buf = s.buf[:segStart]
				continue
			}
			if isSegName(seg, "MSH") {
				if s.msg.open {
					ready = s.close(segStart, t.off, "")
					s.hold(t, segStart)
					return s.flush(ready)
				}
				s.batchMsgs++
				s.open(t, segStart, false)
			} else if !s.msg.open {
				s.open(t, segStart, true)
			}
			s.addSegment(t, segStart)
		case tokBlank:
			if s.msg.open && !s.inFrame {
				ready = s.close(segStart, t.off, "")
			}
		case tokFrameStart:
			if s.msg.open {
				reason := ""
				if s.inFrame {
					reason = fmt.Sprintf("truncated MLLP frame: no end byte 0x1C before the next frame at offset %d", t.off)
				}
				ready = s.close(segStart, t.off, reason)
				s.hold(t, segStart)
				return s.flush(ready)
			}
			s.inFrame, s.frameOff, s.frameLine, s.frameUsed = true, t.off, t.line, false
		case tokFrameEnd:
			if s.msg.open {
				ready = s.close(segStart, t.end, "")
			}
			s.inFrame = false
		case tokEOF, tokErr:
			s.done = true
			if t.kind == tokErr {
				reason := "read error: " + s.sc.err.Error()
				if s.msg.open {
					ready = s.close(segStart, t.off, reason)
				} else {
					ready = s.errItem(t.off, t.line, t.off, reason)
				}
			} else if s.msg.open {
				reason := ""
				if s.inFrame && !s.span {
					reason = "truncated MLLP frame: no end byte 0x1C before the end of the input"
				}
				ready = s.close(segStart, t.off, reason)
			}
			s.finish(ready)
			if ready == nil && s.index == 0 && !s.batchSegs {
				what := "no HL7 message in input (only blank lines or framing bytes)"
				if s.sc.nbytes == 0 {
					what = "empty file"
				}
				ready = s.errItem(0, 1, s.sc.nbytes, what)
			}
			if ready == nil && len(s.pendWarn) > 0 {
				ready = &Item{Loc: s.loc(t.off, t.line, 0)}
			}
			return s.flush(ready)
		}
	}
}

// hold keeps t for the next call; its segment bytes stay at the end of buf.
func (s *stream) hold(t token, segStart int) {
	s.held, s.hasHeld = t, true
	s.heldBytes = len(s.buf) - segStart
	if t.kind != tokSeg {
		s.heldBytes = 0
	}
}

// flush attaches waiting warnings to it.
func (s *stream) flush(it *Item) *Item {
	if it != nil && len(s.pendWarn) > 0 {
		it.Warnings = append(s.pendWarn, it.Warnings...)
		s.pendWarn = nil
	}
	return it
}

func (s *stream) loc(off int64, line int, length int64) sources.Location {
	s.index++
	return sources.Location{Source: s.name, Offset: off, Length: length, Line: line, Index: s.index}
}

func (s *stream) errItem(off int64, line int, end int64, reason string) *Item {
	return &Item{Loc: s.loc(off, line, end-off), Err: &Error{Reason: reason}}
}

func (s *stream) open(t token, segStart int, orphan bool) {
	m := building{open: true, orphan: orphan, off: t.off, line: t.line, start: segStart}
	if s.inFrame && !s.frameUsed {
		m.off, m.line = s.frameOff, s.frameLine
	}
	s.frameUsed = s.frameUsed || s.inFrame
	if orphan {
		m.name = segLabel(trimIndent(s.buf[segStart:]))
	}
	s.msg = m
}

func segLabel(b []byte) string {
	if len(b) >= 3 && isUpperAlnum(b[0]) && isUpperAlnum(b[1]) && isUpperAlnum(b[2]) && (len(b) == 3 || !isAlnum(b[3])) {
		return string(b[:3])
	}
	return ""
}

// addSegment records the segment just stored at buf[segStart:].
func (s *stream) addSegment(t token, segStart int) {
	m := &s.msg
	m.segs++
	if t.ctrl >= 0 && m.reason == "" {
		m.reason = fmt.Sprintf("binary data: byte 0x%02X at offset %d", t.ctrlB, t.ctrl)
	}
	if t.over {
		if m.reason == "" {
			m.reason = fmt.Sprintf("segment at line %d is %d bytes long, over the limit of %d", t.line, t.size, s.opts.MaxSegmentBytes)
		}
		s.buf = s.buf[:segStart]
		return
	}
	if m.dropping || m.orphan {
		s.buf = s.buf[:segStart] // not needed: the item is an error
		return
	}
	s.buf = append(s.buf, '\r')
	if m.segs == 1 {
		m.mshEnd = len(s.buf)
	}
	if len(s.buf)-m.start > s.opts.MaxMessageBytes {
		if m.reason == "" {
			m.reason = fmt.Sprintf("message is over the limit of %d bytes", s.opts.MaxMessageBytes)
		}
		m.dropping = true
		s.buf = s.buf[:max(segStart, m.mshEnd)]
	}
}

// close ends the open message: its bytes are buf[m.start:dataEnd], its
// span in the stream ends at end. A non-empty reason makes it an error.
func (s *stream) close(dataEnd int, end int64, reason string) *Item {
	m := s.msg
	s.msg = building{}
	if m.reason != "" {
		reason = m.reason
	}
	it := &Item{Loc: s.loc(m.off, m.line, end-m.off)}
	if m.orphan {
		what := "data"
		if m.name != "" {
			what = "segment " + m.name
		}
		r := fmt.Sprintf("no MSH segment: %s at line %d does not follow a message header", what, m.line)
		if reason != "" {
			r += "; " + reason
		}
		it.Err = &Error{Reason: r}
		return it
	}
	if reason != "" {
		it.Err = &Error{Reason: reason}
		if m.mshEnd > 0 {
			if msh, err := s.hp.Parse(s.buf[m.start:m.mshEnd]); err == nil {
				it.Loc.ControlID = printable(msh.ControlID())
			}
		}
		return it
	}
	// The header alone is parsed: enough for MSH-10 and MSH-18 and for
	// callers that only route or count; the full parse is the caller's.
	raw := s.buf[m.start:dataEnd]
	hdr := headerEnd(raw)
	msh, err := s.hp.Parse(raw[:hdr])
	if err != nil {
		it.Err = &Error{Reason: "MSH: " + err.Error()}
		return it
	}
	data, warns := s.decode(raw, msh)
	if len(data) > 0 && &data[0] != &raw[0] && !isASCII(raw[:hdr]) {
		// the header itself was re-encoded: parse the UTF-8 form
		if msh, err = s.hp.Parse(data[:headerEnd(data)]); err != nil {
			it.Err = &Error{Reason: "MSH: " + err.Error()}
			return it
		}
	}
	it.Data, it.Header, it.Warnings = data, msh, warns
	it.Loc.ControlID = msh.ControlID()
	return it
}

// printable drops an id that holds control bytes (it came from garbage).
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			return ""
		}
	}
	return s
}

// batchSegment checks batch counts: BTS-1 is the number of messages in
// the batch, FTS-1 the number of batches in the file. A mismatch warns on
// the message just closed (or the next item when there is none).
func (s *stream) batchSegment(name string, seg []byte, line int, ready *Item) {
	s.batchSegs = true
	var warn string
	switch name {
	case "FHS":
		s.fhsOpen, s.fhsLine, s.batches = true, line, 0
	case "BHS":
		if s.bhsOpen {
			warn = fmt.Sprintf("batch header BHS at line %d has no BTS trailer before the next BHS at line %d", s.bhsLine, line)
		}
		s.bhsOpen, s.bhsLine, s.batchMsgs = true, line, 0
		s.batches++
	case "BTS":
		if n, ok := countField(seg); ok && n != s.batchMsgs {
			warn = fmt.Sprintf("BTS-1 at line %d says %d messages, the batch holds %d", line, n, s.batchMsgs)
		}
		s.bhsOpen, s.batchMsgs = false, 0
	case "FTS":
		if n, ok := countField(seg); ok && n != s.batches {
			warn = fmt.Sprintf("FTS-1 at line %d says %d batches, the file holds %d", line, n, s.batches)
		}
		s.fhsOpen, s.batches = false, 0
	}
	s.warn(warn, ready)
}

func (s *stream) warn(w string, ready *Item) {
	if w == "" {
		return
	}
	if ready != nil {
		ready.Warnings = append(ready.Warnings, w)
	} else {
		s.pendWarn = append(s.pendWarn, w)
	}
}

// finish reports batches left open at the end of the input.
func (s *stream) finish(ready *Item) {
	if s.span {
		return
	}
	if s.bhsOpen {
		s.warn(fmt.Sprintf("batch header BHS at line %d has no BTS trailer", s.bhsLine), ready)
	}
	if s.fhsOpen {
		s.warn(fmt.Sprintf("file header FHS at line %d has no FTS trailer", s.fhsLine), ready)
	}
}

// countField reads field 1 of a BTS/FTS segment (the separator is the
// segment's fourth byte). ok is false when it is absent or not a number.
func countField(seg []byte) (int, bool) {
	if len(seg) < 5 {
		return 0, false
	}
	sep := seg[3]
	f := seg[4:]
	for i, c := range f {
		if c == sep || c == '^' {
			f = f[:i]
			break
		}
	}
	n, err := strconv.Atoi(string(f))
	return n, err == nil
}

func isUpperAlnum(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// isBlankLine reports a line of spaces, tabs and DOS end-of-file marks
// (Ctrl-Z): a blank line.
func isBlankLine(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != 0x1A {
			return false
		}
	}
	return len(b) > 0
}

func trimIndent(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// headerEnd returns the end of the first segment of a message (its \r).
func headerEnd(b []byte) int {
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		return i + 1
	}
	return len(b)
}

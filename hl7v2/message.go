package hl7v2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"sync"
)

// Message is one parsed message. It references the bytes given to Parse
// (no copy): the caller must not modify them while the Message is in use.
// A Message is safe for concurrent reads.
type Message struct {
	impl messageImpl

	ordersOnce sync.Once
	orders     []Order // Orders, computed once
}

type messageImpl struct {
	data     []byte
	d        Delimiters
	segs     Segments
	seps     []int32 // field separator offsets of all segments, relative to each segment start
	warnings []string
}

// maxMessage keeps offsets within int32.
const maxMessage = math.MaxInt32

// Parse splits data (one message; segments ended by \r, \n or \r\n) into
// segments. It fails when data does not start with MSH (after an optional
// BOM / whitespace) or MSH-1/MSH-2 are unusable.
//
// Parse records where segments and fields start; fields, repetitions and
// components are found when accessed. Blank lines, leading spaces on a line,
// MLLP framing bytes (0x0B, 0x1C) and trailing field separators are
// tolerated. A line whose name is not a 3-character segment name but looks
// like one (letters and digits before the field separator, e.g. "WHOOPS|")
// is kept with a warning; a line that is no segment at all is skipped with
// a warning, or fails Parse when it holds binary control bytes.
func Parse(data []byte) (*Message, error) {
	var impl messageImpl
	return impl.parse(data, nil, false)
}

// A Parser parses messages into memory it reuses: the Message its Parse
// returns (its segment table and field offsets) is valid only until the
// next call, and values read from it must be copied to outlive it (the
// mapping's output does). For a worker done with each message before it
// parses the next: it then allocates nothing per message. The zero
// Parser is ready; it is not safe for concurrent use.
type Parser struct {
	msg   *Message
	table []segData
	segs  Segments
	seps  []int32
	room  []int32 // ParseLazy's: the segments' seps, found when read
	used  int     // segments of the last message in table
}

// Parse is the package's Parse, into p's memory.
func (p *Parser) Parse(data []byte) (*Message, error) {
	var impl messageImpl
	return impl.parse(data, p, false)
}

// ParseLazy is Parse for a reader of a few segments (an index's scan
// reads MSH, PID and the RXAs of a 20-40 line message): the fields of a
// segment are found when it is first read, not all at parse time. The
// segments, warnings and errors are Parse's, and so is every value read.
// Reading a segment's fields writes to the message: unlike Parse's, the
// Message is not safe for concurrent reads. p keeps room for 4 bytes per
// byte of the largest message it parsed lazily.
func (p *Parser) ParseLazy(data []byte) (*Message, error) {
	var impl messageImpl
	return impl.parse(data, p, true)
}

// parse fills m (a local of Parse) and returns it copied into the Message
// allocated with its segment tables, or into p's when p is not nil.
//
// lazy (with p) finds only the first field separator of each line (where
// its name ends) and leaves each segment's seps empty, with room for one
// separator per byte, for split to fill on the first read.
func (m *messageImpl) parse(data []byte, p *Parser, lazy bool) (*Message, error) {
	if len(data) > maxMessage {
		return nil, fmt.Errorf("hl7v2: message of %d bytes is too large", len(data))
	}
	m.data = data
	start := skipLeader(data)
	rest := data[start:]
	if len(rest) < 3 || string(rest[:3]) != "MSH" {
		return nil, fmt.Errorf("hl7v2: message does not start with MSH (found %s)", describeStart(rest))
	}
	d, repaired, err := readDelimiters(rest)
	if err != nil {
		return nil, err
	}
	m.d = d
	if repaired != "" {
		m.warnings = append(m.warnings, repaired+" (repaired)")
	}
	fs := d.Field
	packed := pack(d)
	var (
		seps  []int32
		msg   *Message
		table []segData
		segs  Segments
	)
	if p != nil {
		// p's tables keep the room of the largest message it parsed:
		// they grow while a message needs it, and its lines and
		// separators are not counted first.
		seps, msg, table, segs = p.reuse()
	} else {
		// Exact (or, with CRLF, close) table sizes cost three vector
		// scans and save regrowing.
		lines := max(bytes.Count(rest, []byte{'\r'}), bytes.Count(rest, []byte{'\n'}))
		if c := rest[len(rest)-1]; c != '\r' && c != '\n' {
			lines++ // a last line without terminator
		}
		seps = make([]int32, 0, bytes.Count(rest, []byte{fs}))
		msg, table, segs = newMessage(lines)
	}
	line := 1
	for _, c := range data[:start] {
		if c == '\n' {
			line++
		}
	}
	n := len(data)
	nextCR, nextLF := -1, -1
	for pos := start; pos < n; {
		c := data[pos]
		if c == '\n' || c == '\r' {
			if c == '\n' || pos+1 >= n || data[pos+1] != '\n' {
				line++
			}
			pos++
			continue
		}
		// Leading blanks and MLLP framing on a line carry nothing.
		for pos < n && (data[pos] == ' ' || data[pos] == '\t' || data[pos] == 0x0b || data[pos] == 0x1c) {
			pos++
		}
		ls := pos
		s0 := len(seps)
		// The line ends at the nearer of the next \r and \n; each is
		// searched again only once passed.
		if nextCR < pos {
			nextCR = indexFrom(data, pos, '\r')
		}
		if nextLF < pos {
			nextLF = indexFrom(data, pos, '\n')
		}
		le := min(nextCR, nextLF)
		pos = le
		if !lazy {
			seps = appendSeps(seps, data, ls, le, fs)
		} else if i := bytes.IndexByte(data[ls:le], fs); i >= 0 {
			seps = append(seps, int32(i))
		}
		if le > ls && data[le-1] == 0x1c { // MLLP end block without \r
			le--
		}
		if le == ls {
			continue
		}
		nameEnd := le - ls
		if len(seps) > s0 {
			nameEnd = int(seps[s0])
		}
		name := data[ls : ls+nameEnd]
		nameStr, known := lookupName(name)
		switch {
		case known:
		case validSegmentName(name):
			if name[0] != 'Z' {
				m.warnings = append(m.warnings, fmt.Sprintf("line %d: unknown segment %s kept", line, name))
			}
		case alnum(name) && (len(seps) > s0 || len(name) > 3):
			// Not echoed: a wrapped line can start with a person's name.
			m.warnings = append(m.warnings, fmt.Sprintf("line %d: invalid segment name (%d characters, not 3) kept", line, len(name)))
		default:
			if isBinary(data[ls:le]) {
				return nil, fmt.Errorf("hl7v2: line %d: binary data, not a segment", line)
			}
			if !isBlank(data[ls:le]) {
				m.warnings = append(m.warnings, fmt.Sprintf("line %d: not a segment (no segment name), skipped", line))
			}
			seps = seps[:s0]
			continue
		}
		if nameStr == "" {
			nameStr = string(name)
		}
		// A header without fields (a bare "MSH" line) has no MSH-1 to return.
		hdr := (nameStr == "MSH" || nameStr == "FHS" || nameStr == "BHS") && len(seps) > s0
		if len(table) > 0 && nameStr == "MSH" {
			m.warnings = append(m.warnings, fmt.Sprintf("line %d: second MSH in one message", line))
		}
		// seps is still growing: the segment takes its slice at the end.
		// One vector search per segment spares Rep a scan per field read.
		from := ls
		if hdr {
			from += repFrom(seps[s0:], le-ls)
		}
		norep := !lazy && (d.Repetition == 0 || bytes.IndexByte(data[from:le], d.Repetition) < 0)
		table = append(table, segData{raw: data[ls:le:le], name: nameStr, key: nameKey(nameStr), d: packed, hdr: hdr, norep: norep, s0: int32(s0), s1: int32(len(seps))})
	}
	m.seps = seps
	if cap(segs) < len(table) {
		segs = make(Segments, len(table), cap(table))
	}
	m.segs = segs[:len(table):len(table)]
	if lazy {
		p.lazyRoom(table, m.segs, len(data))
	} else {
		for i := range table {
			t := &table[i]
			t.seps = seps[t.s0:t.s1:t.s1]
			m.segs[i].impl.segData = t
		}
	}
	msg.impl = *m
	if p != nil {
		p.table, p.segs, p.seps, p.used = table[:0], segs[:0], seps[:0], len(table)
	}
	return msg, nil
}

// lazyRoom gives each segment of a lazily parsed message of n bytes its
// room in p.room (a segment has at most one field separator per byte)
// and its place in segs.
func (p *Parser) lazyRoom(table []segData, segs Segments, n int) {
	if cap(p.room) < n {
		p.room = make([]int32, n)
	}
	at := 0
	for i := range table {
		t := &table[i]
		end := at + len(t.raw)
		t.seps, t.lazy = p.room[at:at:end], true
		at = end
		segs[i].impl.segData = t
	}
}

// repFrom is where the fields of a header segment (MSH) of n bytes with
// field separators seps may hold a repetition separator (norep): after
// MSH-2, which holds it.
func repFrom(seps []int32, n int) int {
	if len(seps) > 1 {
		return int(seps[1])
	}
	return n // MSH-2 is the last field
}

// split finds the field separators of a segment of a lazily parsed
// message on its first read, in the room parse left in its seps.
func (sd *segData) split() {
	sd.seps = appendSeps(sd.seps[:0], sd.raw, 0, len(sd.raw), sd.d.field())
	from := 0
	if sd.hdr {
		from = repFrom(sd.seps, len(sd.raw))
	}
	rep := sd.d.rep()
	sd.norep = rep == 0 || bytes.IndexByte(sd.raw[from:], rep) < 0
	sd.lazy = false
}

// reuse hands out p's tables, empty, and a cleared Message.
func (p *Parser) reuse() ([]int32, *Message, []segData, Segments) {
	if p.msg == nil {
		p.msg, p.table, p.segs = newMessage(parserLines)
	}
	*p.msg = Message{}
	clear(p.table[:p.used]) // no reference to the last message stays behind
	p.used = 0
	return p.seps[:0], p.msg, p.table[:0], p.segs
}

// parserLines is the room for segments a Parser starts with.
const parserLines = 32

// Message blocks: a Message with room for n segments in its segment
// table and its Segments, in one allocation instead of three. Sizes step
// by a quarter or less so little room is wasted (a VXU has 10-40 lines).
type (
	msgBlock8 struct {
		m     Message
		segs  [8]Segment
		table [8]segData
	}
	msgBlock12 struct {
		m     Message
		segs  [12]Segment
		table [12]segData
	}
	msgBlock16 struct {
		m     Message
		segs  [16]Segment
		table [16]segData
	}
	msgBlock20 struct {
		m     Message
		segs  [20]Segment
		table [20]segData
	}
	msgBlock24 struct {
		m     Message
		segs  [24]Segment
		table [24]segData
	}
	msgBlock32 struct {
		m     Message
		segs  [32]Segment
		table [32]segData
	}
	msgBlock40 struct {
		m     Message
		segs  [40]Segment
		table [40]segData
	}
	msgBlock48 struct {
		m     Message
		segs  [48]Segment
		table [48]segData
	}
	msgBlock64 struct {
		m     Message
		segs  [64]Segment
		table [64]segData
	}
)

// newMessage returns a new Message, an empty segment table with room for
// n segments and room for their Segments (nil when allocated apart, once
// their number is known).
func newMessage(n int) (*Message, []segData, Segments) {
	switch {
	case n <= 8:
		b := new(msgBlock8)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 12:
		b := new(msgBlock12)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 16:
		b := new(msgBlock16)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 20:
		b := new(msgBlock20)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 24:
		b := new(msgBlock24)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 32:
		b := new(msgBlock32)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 40:
		b := new(msgBlock40)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 48:
		b := new(msgBlock48)
		return &b.m, b.table[:0], b.segs[:]
	case n <= 64:
		b := new(msgBlock64)
		return &b.m, b.table[:0], b.segs[:]
	}
	return new(Message), make([]segData, 0, n), nil
}

// appendSeps appends the offsets, relative to ls, of every fs in
// data[ls:le]. Fields are short (a VXU has one separator every 5-8 bytes),
// so a search call per separator costs more than reading the line eight
// bytes at a time and picking the matches out of each word. The line's
// last bytes are one word too (tailWord), not a word masked past le in
// every step, nor a byte at a time at the end of data.
func appendSeps(seps []int32, data []byte, ls, le int, fs byte) []int32 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	pat := uint64(fs) * 0x0101010101010101
	line := data[:le]
	p := ls
	for ; p+8 <= len(line); p += 8 {
		x := binary.LittleEndian.Uint64(line[p:p+8:p+8]) ^ pat
		// The high bit of each zero byte of x, exactly (no carries
		// cross bytes: (x&0x7f)+0x7f stays within the byte).
		for m := ^((x&low7 + low7) | x | low7); m != 0; m &= m - 1 {
			seps = append(seps, int32(p-ls+bits.TrailingZeros64(m)>>3))
		}
	}
	if p < len(line) {
		x := tailWord(line, p) ^ pat
		for m := ^((x&low7 + low7) | x | low7); m != 0; m &= m - 1 {
			seps = append(seps, int32(p-ls+bits.TrailingZeros64(m)>>3))
		}
	}
	return seps
}

// tailWord is b[p:], fewer than 8 bytes, as a little-endian word padded
// with zero bytes (which match no delimiter): a line's last bytes in one
// word step. The loads overlap bytes already read or each other.
func tailWord(b []byte, p int) uint64 {
	n := len(b) - p
	if len(b) >= 8 {
		return binary.LittleEndian.Uint64(b[len(b)-8:]) >> (8 * uint(8-n) & 63)
	}
	c := b[p:]
	switch {
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(c)) | uint64(binary.LittleEndian.Uint32(c[n-4:]))<<(8*uint(n-4)&63)
	case n >= 2:
		return uint64(binary.LittleEndian.Uint16(c)) | uint64(binary.LittleEndian.Uint16(c[n-2:]))<<(8*uint(n-2)&63)
	}
	return uint64(c[0])
}

// indexFrom is the index of c in b at or after from, or len(b).
func indexFrom(b []byte, from int, c byte) int {
	if i := bytes.IndexByte(b[from:], c); i >= 0 {
		return from + i
	}
	return len(b)
}

// skipLeader skips a UTF-8 byte order mark, whitespace and MLLP start bytes.
func skipLeader(b []byte) int {
	i := 0
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		i = 3
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n', 0x0b, 0x0c:
			i++
			continue
		}
		break
	}
	return i
}

// describeStart names what was found instead of MSH without echoing
// content (it may be PHI): a segment-like name, or a byte count.
func describeStart(b []byte) string {
	if len(b) == 0 {
		return "no data"
	}
	i := 0
	for i < len(b) && i < 4 && isAlnum(b[i]) {
		i++
	}
	if i == 3 {
		return strconv.Quote(string(b[:3]))
	}
	return fmt.Sprintf("%d bytes of other data", len(b))
}

func validSegmentName(b []byte) bool {
	return len(b) == 3 && b[0] >= 'A' && b[0] <= 'Z' && isUpperAlnum(b[1]) && isUpperAlnum(b[2])
}

func isUpperAlnum(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isUpperAlnum(c) || c >= 'a' && c <= 'z' }

func alnum(b []byte) bool {
	if len(b) == 0 || len(b) > 16 {
		return false
	}
	for _, c := range b {
		if !isAlnum(c) {
			return false
		}
	}
	return true
}

// isBinary reports control bytes that never occur in ER7 text.
func isBinary(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' && c != 0x0b && c != 0x0c && c != 0x1a && c != 0x1b && c != 0x1c {
			return true
		}
		if c == 0x7f {
			return true
		}
	}
	return false
}

// isBlank reports a line of blanks, MLLP framing or DOS end-of-file bytes.
func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != 0x0b && c != 0x0c && c != 0x1a && c != 0x1c {
			return false
		}
	}
	return true
}

// Delimiters returns the message's encoding characters.
func (m *Message) Delimiters() Delimiters { return m.impl.d }

// Raw returns the bytes given to Parse.
func (m *Message) Raw() []byte { return m.impl.data }

// Segments lists every segment in order (MSH first). The slice is shared:
// do not modify it.
func (m *Message) Segments() Segments { return m.impl.segs }

// Type is MSH-9: code (VXU), trigger (V04), structure (VXU_V04, may be empty).
func (m *Message) Type() (code, trigger, structure string) {
	v := m.impl.segs[0].Field(9).Rep(1)
	return v.Component(1).String(), v.Component(2).String(), v.Component(3).String()
}

// ControlID is MSH-10, decoded.
func (m *Message) ControlID() string { return m.impl.segs[0].Field(10).Rep(1).String() }

// Warnings lists non-fatal oddities seen while parsing (unknown non-Z
// segment names, repaired MSH-2, ...), for the error file. They name lines
// and segments, never field content.
func (m *Message) Warnings() []string { return m.impl.warnings }

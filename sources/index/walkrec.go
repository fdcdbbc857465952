package index

import (
	"encoding/binary"
	"errors"
)

// walkRecord is what Walk and Messages read of a person's message besides
// its arrival order, stored by the writer in one column (messages.walk):
// every column read through the driver costs about 1,200 instructions a
// row (SQLite's record and sorter work, the driver's calls and database/
// sql's copy), and the walk's fifteen columns were most of its cost.
// Small ints are varints, the two times eight bytes (their varints would
// take as many), the checksum eight bytes after a presence byte, strings
// a length and their bytes.
type walkRecord struct {
	source, input, off, len, line, idx int64
	atTime, indexed                    int64
	hasHash                            bool
	hash                               uint64
	recID, typ, orgKey, orgName, err   string
}

// appendWalkRecord appends r's encoding to b.
func appendWalkRecord(b []byte, r *walkRecord) []byte {
	b = binary.AppendVarint(b, r.source)
	b = binary.AppendVarint(b, r.input)
	b = binary.AppendVarint(b, r.off)
	b = binary.AppendVarint(b, r.len)
	b = binary.AppendVarint(b, r.line)
	b = binary.AppendVarint(b, r.idx)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.atTime))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.indexed))
	if r.hasHash {
		b = binary.LittleEndian.AppendUint64(append(b, 1), r.hash)
	} else {
		b = append(b, 0)
	}
	for _, s := range [...]string{r.recID, r.typ, r.orgKey, r.orgName, r.err} {
		b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	return b
}

var errWalkRecord = errors.New("malformed walk record")

// readWalkRecord decodes what appendWalkRecord wrote. Its strings share
// one copy of b.
func readWalkRecord(b []byte) (walkRecord, error) {
	d := recReader{b: b, s: string(b), ok: true}
	r := walkRecord{source: d.varint(), input: d.varint(), off: d.varint(), len: d.varint(),
		line: d.varint(), idx: d.varint(), atTime: int64(d.fixed()), indexed: int64(d.fixed())}
	if d.byte() == 1 {
		r.hasHash, r.hash = true, d.fixed()
	}
	r.recID, r.typ, r.orgKey, r.orgName, r.err = d.str(), d.str(), d.str(), d.str(), d.str()
	if !d.ok || d.i != len(b) {
		return walkRecord{}, errWalkRecord
	}
	return r, nil
}

// recReader reads a walk record's fields in turn; past its end, or at a
// malformed field, ok turns false and the rest read as zero.
type recReader struct {
	b  []byte
	s  string // b, the strings' one copy
	i  int
	ok bool
}

func (d *recReader) varint() int64 {
	if d.i < len(d.b) && d.b[d.i] < 0x80 { // most are one byte
		x := d.b[d.i]
		d.i++
		return int64(x>>1) ^ -int64(x&1)
	}
	v, n := binary.Varint(d.b[min(d.i, len(d.b)):])
	if n <= 0 {
		d.ok, d.i = false, len(d.b)
		return 0
	}
	d.i += n
	return v
}

func (d *recReader) fixed() uint64 {
	if len(d.b)-d.i < 8 {
		d.ok, d.i = false, len(d.b)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.i:])
	d.i += 8
	return v
}

func (d *recReader) byte() byte {
	if d.i >= len(d.b) {
		d.ok = false
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *recReader) str() string {
	var n uint64
	if d.i < len(d.b) && d.b[d.i] < 0x80 { // most are one byte
		n = uint64(d.b[d.i])
		d.i++
	} else {
		v, k := binary.Uvarint(d.b[min(d.i, len(d.b)):])
		if k <= 0 {
			d.ok, d.i = false, len(d.b)
			return ""
		}
		n, d.i = v, d.i+k
	}
	if n > uint64(len(d.b)-d.i) {
		d.ok, d.i = false, len(d.b)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

package v2archive

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReader feeds arbitrary bytes as one file. The reader must not panic
// or hang, every item must lie inside the input in order, every byte
// outside the items must be framing (terminators, MLLP bytes, BOMs) or a
// batch header/trailer, and every message must read back from its span.
func FuzzReader(f *testing.F) {
	a, b := msg("M1", "M\xDCLLER", "\r"), msg("M2", "ROE", "\n")
	for _, s := range []string{
		"", "\r\n", a + b, "\x0b" + a + "\x1c\r\n\x0b" + b, "\x0b" + a,
		"FHS|^~\\&\rBHS|^~\\&\r" + a + "BTS|2\rFTS|1", "PID|1\r\r" + a, "MSH|\r", "MSH",
		"\xEF\xBB\xBF" + a + "\x00\x01" + b, "\r\r\n" + a + "\r\r\nOBX|1\r\r\n",
	} {
		f.Add([]byte(s))
	}
	opts := Options{MaxMessageBytes: 300, MaxSegmentBytes: 120}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := OpenReader("fuzz", bytes.NewReader(in), opts)
		if err != nil {
			t.Fatal(err)
		}
		var covered []bool
		if len(in) > 0 && (len(in) < 2 || in[0] != 0x1f || in[1] != 0x8b) {
			covered = make([]bool, len(in))
		}
		var end int64
		n, msgs, errs := 0, 0, 0
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			n++
			if n > len(in)+2 {
				t.Fatalf("more items than input bytes")
			}
			loc := it.Loc
			if loc.Offset < end || loc.Length < 0 || covered != nil && loc.Offset+loc.Length > int64(len(in)) {
				t.Fatalf("item %d: span %d+%d after %d, input %d bytes", n, loc.Offset, loc.Length, end, len(in))
			}
			end = loc.Offset + loc.Length
			if covered != nil {
				for i := loc.Offset; i < end; i++ {
					covered[i] = true
				}
			}
			switch {
			case it.Err != nil:
				errs++
				if it.Data != nil {
					t.Fatalf("error item with data")
				}
			case it.Data != nil:
				msgs++
				if !utf8.Valid(it.Data) {
					t.Fatalf("data is not UTF-8: %q", it.Data)
				}
				if covered != nil {
					again := readSpan(loc, in[loc.Offset:end], &r.opts)
					if !bytes.Equal(again.Data, it.Data) {
						t.Fatalf("span %d+%d reads back as %q (%v), not %q", loc.Offset, loc.Length, again.Data, again.Err, it.Data)
					}
				}
			case len(it.Warnings) == 0:
				t.Fatalf("item %d carries nothing", n)
			}
		}
		c := r.Counts()
		if c.Messages != msgs || c.Errors != errs {
			t.Fatalf("counts %+v, saw %d messages %d errors of %d items", c, msgs, errs, n)
		}
		if covered == nil {
			return
		}
		// bytes no item covers: framing or batch segments only
		var rest []byte
		for i, c := range in {
			if covered[i] {
				c = '\n'
			}
			rest = append(rest, c)
		}
		rest = bytes.ReplaceAll(rest, []byte("\xEF\xBB\xBF"), nil)
		for _, line := range strings.FieldsFunc(string(rest), func(r rune) bool { return r == '\r' || r == '\n' || r == 0x0B || r == 0x1C }) {
			if batchName(trimIndent([]byte(line))) == "" && !isBlankLine([]byte(line)) {
				t.Fatalf("bytes %q belong to no item", line)
			}
		}
	})
}

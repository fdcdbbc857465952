package v2archive

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources"
	"github.com/iisbridge/iisbridge/sources/v2archive/internal/archivegen"
)

// TestPlainSpanFastPath: re-reading a span through the fast path gives the
// same item as the stream for every item of mixed archives (framings,
// terminators, Latin-1, batches) and for edge cases; and the fast path is
// taken for the plain ones, so the comparison is not vacuous.
func TestPlainSpanFastPath(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	if _, err := archivegen.Write(&b, 400<<10, 3); err != nil {
		t.Fatal(err)
	}
	edges := []string{
		msg("E1", "DOE", "\r"),                                        // plain
		msg("E2", "DOE", "\r") + " PID|2||X\r",                        // indented segment
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E3|P|2.5.1\rPID|1\t|X\r", // tab
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E4|P|2.5.1\r   \r",       // blank line of spaces
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E5|P|2.5.1\rBHS|x\rPID|1\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E6|P|2.5.1\r  MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E7|P|2.5.1\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E8|P|2.5.1\rPID|1||\x01\r",
		"MSH^~\\&|bad\rPID|1\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|E9|P|2.5.1\rPID|1||LAST", // no final CR
		// Non-ASCII: read as is only as valid UTF-8 without a warning.
		msg("U1", "JOS\u00c9", "\r"), // UTF-8, no MSH-18
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U2|P|2.5.1|||||||UNICODE UTF-8\rPID|1||\u00c9\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U3|P|2.5.1|||||||8859/1\rPID|1||\u00c9\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U4|P|2.5.1|||||||KOI8\rPID|1||\u00c9\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U5|P|2.5.1|||||||UNICODE UTF-8\rPID|1||\xc9X\r",
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U6|P|2.5.1\rPID|1||\xe9\r",       // Latin-1
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U7|P|2.5.1\r\ufeffPID|1||X\r",    // BOM
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|U8|P|2.5.1\rPID|1||\ufffd\x7f\r", // EF not a BOM, DEL
		"MSH|^~\\&|A|B|C|D|20240101||VXU^V04|\u00c9|P|2.5.1\rPID|1||X\r",      // MSH-10 not ASCII
	}
	edge := strings.Join(edges, "")
	// Plain messages one after another, as most archives hold them, so the
	// fast path is exercised on a bare clone too (the generator mixes
	// framings and the real corpus may be absent).
	var plain strings.Builder
	for i := range 120 {
		plain.WriteString(msg(fmt.Sprintf("P%d", i), "ROE", "\r"))
	}
	paths := []string{
		writeFile(t, dir, "gen.hl7", b.Bytes()),
		writeFile(t, dir, "edge.hl7", []byte(edge)),
		writeFile(t, dir, "plain.hl7", []byte(plain.String())),
	}
	if c := os.Getenv("IISBRIDGE_CORPUS"); c != "" {
		paths = append(paths, filepath.Join(c, "v2"))
	} else if _, err := os.Stat("../../../shared/corpus/v2"); err == nil {
		paths = append(paths, "../../../shared/corpus/v2")
	} else {
		t.Log("real corpus not found (set IISBRIDGE_CORPUS): generated and hand-written spans only")
	}
	r, err := Open(paths, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := collect(t, r)
	o, _ := Options{}.normalized()
	fast, total := 0, 0
	for _, it := range items {
		if it.loc.Length <= 0 {
			continue
		}
		span := make([]byte, it.loc.Length)
		f, err := os.Open(it.loc.Source)
		if err != nil {
			t.Fatal(err)
		}
		if !isGzipFile(f) {
			if _, err := f.ReadAt(span, it.loc.Offset); err != nil {
				t.Fatal(err)
			}
		} else {
			f.Close()
			continue
		}
		f.Close()
		total++
		if data, ascii, ok := plainMessage(span, &o); ok {
			fast++
			if ascii != isASCII(data) {
				t.Errorf("%s at %d: plainMessage says ascii %v", filepath.Base(it.loc.Source), it.loc.Offset, ascii)
			}
		}
		got := readSpan(it.loc, bytes.Clone(span), &o)
		want := readSpanStream(it.loc, bytes.Clone(span), &o)
		if d := itemDiff(got, want); d != "" {
			t.Errorf("%s at %d (%q...): %s", filepath.Base(it.loc.Source), it.loc.Offset, head(span), d)
		}
	}
	// Spans as an archive rewritten since indexing may give them: the
	// bytes at a recorded place need not be one message any more.
	for i, one := range edges {
		for _, span := range []string{one, strings.Join(edges[i:], "")} {
			loc := sources.Location{Source: "edge", Offset: 10, Length: int64(len(span)), Line: 3, Index: 2}
			if data, ascii, ok := plainMessage([]byte(span), &o); ok {
				fast++
				if ascii != isASCII(data) {
					t.Errorf("edge %d: plainMessage says ascii %v", i, ascii)
				}
			}
			total++
			got := readSpan(loc, []byte(span), &o)
			want := readSpanStream(loc, []byte(span), &o)
			if d := itemDiff(got, want); d != "" {
				t.Errorf("edge span %d (%q): %s", i, span, d)
			}
		}
	}
	if fast < total/4 || fast == total {
		t.Errorf("fast path taken for %d of %d spans: the test needs both kinds", fast, total)
	}
	t.Logf("%d spans, %d through the fast path", total, fast)
}

func head(b []byte) []byte { return b[:min(len(b), 24)] }

func itemDiff(a, b *Item) string {
	es := func(e error) string {
		if e == nil {
			return ""
		}
		return e.Error()
	}
	ctl := func(it *Item) string {
		if it.Header == nil {
			return "<nil>"
		}
		return it.Header.ControlID()
	}
	switch {
	case !bytes.Equal(a.Data, b.Data):
		return fmt.Sprintf("data %q, want %q", a.Data, b.Data)
	case !reflect.DeepEqual(a.Loc, b.Loc):
		return fmt.Sprintf("loc %+v, want %+v", a.Loc, b.Loc)
	case es(a.Err) != es(b.Err):
		return fmt.Sprintf("error %q, want %q", es(a.Err), es(b.Err))
	case len(a.Warnings)+len(b.Warnings) > 0 && !reflect.DeepEqual(a.Warnings, b.Warnings):
		return fmt.Sprintf("warnings %q, want %q", a.Warnings, b.Warnings)
	case ctl(a) != ctl(b):
		return fmt.Sprintf("header control id %q, want %q", ctl(a), ctl(b))
	}
	return ""
}

// TestPrintable8: never true for a word with a byte that is not printable
// ASCII, and true for printable words.
func TestPrintable8(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	word := func() []byte {
		w := make([]byte, 8)
		for i := range w {
			w[i] = byte(0x20 + rnd.IntN(0x7f-0x20))
		}
		return w
	}
	for range 2000 {
		for pos := range 8 {
			for c := range 256 {
				w := word()
				w[pos] = byte(c)
				want := c >= 0x20 && c < 0x7f
				if got := printable8(binary.LittleEndian.Uint64(w)); got != want {
					t.Fatalf("printable8(%q) = %v", w, got)
				}
			}
		}
	}
	for range 200000 {
		var w [8]byte
		for i := range w {
			w[i] = byte(rnd.Uint32())
		}
		all := true
		for _, c := range w {
			all = all && c >= 0x20 && c < 0x7f
		}
		if printable8(binary.LittleEndian.Uint64(w[:])) && !all {
			t.Fatalf("printable8(%q) = true", w)
		}
	}
}

package v2archive

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/sources"
)

// got is a copy of one Item, safe to keep after Next.
type got struct {
	data  string
	loc   sources.Location
	err   string
	warns []string
}

func collect(t *testing.T, r *Reader) ([]got, Counts) {
	t.Helper()
	var out []got
	for {
		it, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		g := got{data: string(it.Data), loc: it.Loc, warns: it.Warnings}
		if it.Err != nil {
			g.err = it.Err.Error()
		}
		out = append(out, g)
	}
	c := r.Counts()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return out, c
}

func readString(t *testing.T, in string, opts Options) ([]got, Counts) {
	t.Helper()
	r, err := OpenReader("in.hl7", strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	return collect(t, r)
}

// msg builds a small VXU with segments joined by term.
func msg(id, family, term string) string {
	segs := []string{
		`MSH|^~\&|EHR|CLINIC^2.16.840.1.113883.3.1^ISO|IIS|STATE|20230105101500-0500||VXU^V04^VXU_V04|` + id + `|P|2.5.1|||ER|AL|||||Z22^CDCPHINVS`,
		`PID|1||PAT` + id + `^^^CLINIC^MR||` + family + `^ANNA^^^^^L||20220704|F`,
		`ORC|RE||DOSE` + id + `^CLINIC`,
		`RXA|0|1|20230105||08^HepB^CVX|0.5|mL^mL^UCUM||00^New^NIP001`,
	}
	return strings.Join(segs, term) + term
}

// norm is how Data looks: every segment ended by \r.
func norm(m string) string {
	m = strings.ReplaceAll(m, "\r\n", "\r")
	return strings.ReplaceAll(m, "\n", "\r")
}

func wantMessages(t *testing.T, in string, items []got, msgs []string, ids []string) {
	t.Helper()
	if len(items) != len(msgs) {
		t.Fatalf("got %d items, want %d: %+v", len(items), len(msgs), items)
	}
	var end int64
	for i, it := range items {
		if it.err != "" {
			t.Fatalf("item %d: unexpected error %q at %v", i, it.err, it.loc)
		}
		if it.data != norm(msgs[i]) {
			t.Errorf("item %d data:\n got %q\nwant %q", i, it.data, norm(msgs[i]))
		}
		if it.loc.ControlID != ids[i] || it.loc.Index != i+1 {
			t.Errorf("item %d: id %q index %d, want %q %d", i, it.loc.ControlID, it.loc.Index, ids[i], i+1)
		}
		if it.loc.Offset < end || it.loc.Offset+it.loc.Length > int64(len(in)) {
			t.Errorf("item %d: span %d+%d overlaps or leaves the input", i, it.loc.Offset, it.loc.Length)
		}
		end = it.loc.Offset + it.loc.Length
		span := in[it.loc.Offset:end]
		if !strings.Contains(norm(strings.ReplaceAll(span, "\r\r\n", "\n")), strings.TrimRight(norm(msgs[i]), "\r")) {
			t.Errorf("item %d: span %q does not hold the message", i, span)
		}
		wantLine := strings.Count(norm(in[:it.loc.Offset]), "\r") + 1
		if it.loc.Line != wantLine {
			t.Errorf("item %d: line %d, want %d", i, it.loc.Line, wantLine)
		}
	}
}

func TestFramings(t *testing.T) {
	a, b, c := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\r"), msg("M3", "POE", "\r")
	aN, bN := msg("M1", "DOE", "\n"), msg("M2", "ROE", "\n")
	aRN, bRN := msg("M1", "DOE", "\r\n"), msg("M2", "ROE", "\r\n")
	mllp := func(m string) string { return "\x0b" + m + "\x1c\r" }
	cases := []struct {
		name string
		in   string
		msgs []string
	}{
		{"next MSH, CR", a + b + c, []string{a, b, c}},
		{"next MSH, LF", aN + bN, []string{aN, bN}},
		{"next MSH, CRLF", aRN + bRN, []string{aRN, bRN}},
		{"mixed terminators in a message", strings.Replace(a, "\r", "\r\n", 2) + b, []string{strings.Replace(a, "\r", "\r\n", 2), b}},
		{"double CRLF conversion", strings.ReplaceAll(aRN, "\n", "\r\n") + bRN, []string{aRN, bRN}},
		{"blank lines", "\n\n" + aN + "\n\n\n" + bN + "\n", []string{aN, bN}},
		{"no final terminator", a + strings.TrimSuffix(b, "\r"), []string{a, b}},
		{"MLLP", mllp(a) + mllp(b) + mllp(c), []string{a, b, c}},
		{"MLLP with LF between frames", mllp(a) + "\n" + mllp(b) + "\r\n", []string{a, b}},
		{"MLLP with blank line inside the frame", "\x0b" + a + "\r\x1c\r" + mllp(b), []string{a, b}},
		{"two messages in one frame", "\x0b" + a + b + "\x1c\r", []string{a, b}},
		{"mixed in one file", mllp(a) + "\n" + bN + "\n" + c + msg("M4", "LOE", "\r\n") + mllp(msg("M5", "KOE", "\n")),
			[]string{a, bN, c, msg("M4", "LOE", "\r\n"), msg("M5", "KOE", "\n")}},
		{"BOM", "\xEF\xBB\xBF" + a + b, []string{a, b}},
		{"indented MSH", a + "\t  " + b, []string{a, "\t  " + b}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, counts := readString(t, tc.in, Options{})
			ids := []string{"M1", "M2", "M3", "M4", "M5"}[:len(tc.msgs)]
			wantMessages(t, tc.in, items, tc.msgs, ids)
			if counts.Messages != len(tc.msgs) || counts.Errors != 0 || counts.Files != 1 || counts.Bytes != int64(len(tc.in)) {
				t.Errorf("counts %+v", counts)
			}
		})
	}
}

func TestMLLPSpanIncludesFraming(t *testing.T) {
	a := msg("M1", "DOE", "\r")
	in := "\x0b" + a + "\x1c\r" + "\x0b" + a + "\x1c\r"
	items, _ := readString(t, in, Options{})
	if len(items) != 2 {
		t.Fatalf("%d items", len(items))
	}
	for i, it := range items {
		if want := int64(len(a) + 3); it.loc.Length != want || it.loc.Offset != int64(i)*want {
			t.Errorf("item %d: span %d+%d, want %d+%d", i, it.loc.Offset, it.loc.Length, int64(i)*want, want)
		}
	}
}

func TestBatches(t *testing.T) {
	a, b := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\r")
	batch := func(bts, fts string) string {
		return "FHS|^~\\&|EHR|CLINIC\rBHS|^~\\&|EHR|CLINIC\r" + a + b + "BTS|" + bts + "\rFTS|" + fts + "\r"
	}
	t.Run("counts match", func(t *testing.T) {
		in := batch("2", "1")
		items, c := readString(t, in, Options{})
		wantMessages(t, in, items, []string{a, b}, []string{"M1", "M2"})
		if c.Warnings != 0 || items[1].warns != nil {
			t.Errorf("unexpected warnings %v", items[1].warns)
		}
	})
	t.Run("mismatch warns on the last message", func(t *testing.T) {
		in := batch("3", "2")
		items, c := readString(t, in, Options{})
		wantMessages(t, in, items, []string{a, b}, []string{"M1", "M2"})
		want := []string{"BTS-1 at line 11 says 3 messages, the batch holds 2", "FTS-1 at line 12 says 2 batches, the file holds 1"}
		if !reflect.DeepEqual(items[1].warns, want) || c.Warnings != 2 {
			t.Errorf("warnings %q, counts %+v", items[1].warns, c)
		}
	})
	t.Run("batch inside MLLP, LF", func(t *testing.T) {
		in := "\x0b" + strings.ReplaceAll(batch("2", "1"), "\r", "\n") + "\x1c\r"
		items, c := readString(t, in, Options{})
		if len(items) != 2 || c.Messages != 2 || c.Warnings != 0 || c.Errors != 0 {
			t.Errorf("items %+v counts %+v", items, c)
		}
	})
	t.Run("two batches, missing trailer", func(t *testing.T) {
		in := "FHS|^~\\&\rBHS|^~\\&\r" + a + "BTS|1\rBHS|^~\\&\r" + b
		items, _ := readString(t, in, Options{})
		if len(items) != 2 || len(items[1].warns) != 2 ||
			!strings.Contains(items[1].warns[0], "BHS at line 8 has no BTS") || !strings.Contains(items[1].warns[1], "FHS at line 1 has no FTS") {
			t.Errorf("items %+v", items)
		}
	})
	t.Run("missing trailer after a blank line", func(t *testing.T) {
		items, c := readString(t, "BHS|^~\\&\r"+a+"\r\n\r\n", Options{})
		if len(items) != 1 || len(items[0].warns) != 1 || c.Warnings != 1 {
			t.Errorf("items %+v", items)
		}
	})
	t.Run("empty batch with wrong count", func(t *testing.T) {
		items, c := readString(t, "BHS|^~\\&\rBTS|4\r", Options{})
		if len(items) != 1 || items[0].data != "" || items[0].err != "" || len(items[0].warns) != 1 || c.Messages != 0 || c.Warnings != 1 {
			t.Errorf("items %+v counts %+v", items, c)
		}
	})
}

func TestEncodings(t *testing.T) {
	latin := strings.Replace(msg("M1", "M\xDCLLER", "\r"), "|||||Z22", "||8859/1|||Z22", 1)
	utf := msg("M1", "MÜLLER", "\r")
	cases := []struct {
		name, in, enc, family string
		warn                  bool
	}{
		{"latin1 bytes, auto", msg("M1", "M\xDCLLER", "\r"), "", "MÜLLER", false},
		{"windows-1252 bytes, auto", msg("M1", "\x80 D\x92ARC", "\r"), "", "€ D’ARC", false},
		{"utf-8 stays", utf, "auto", "MÜLLER", false},
		{"MSH-18 8859/1", latin, "", "MÜLLER", false},
		{"MSH-18 8859/1 forces latin1 on utf-8", strings.Replace(utf, "|||||Z22", "||8859/1|||Z22", 1), "", "MÃ\u009cLLER", true},
		{"MSH-18 UNICODE UTF-8 with bad bytes", strings.Replace(msg("M1", "M\xDCLLER", "\r"), "|||||Z22", "||UNICODE UTF-8|||Z22", 1), "", "M\uFFFDLLER", true},
		{"option latin1", msg("M1", "M\x80LLER", "\r"), "latin1", "M\u0080LLER", false},
		{"option windows-1252", msg("M1", "M\x80LLER", "\r"), "windows-1252", "M€LLER", false},
		{"option utf-8", msg("M1", "M\xDCLLER", "\r"), "utf-8", "M\uFFFDLLER", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, _ := readString(t, tc.in, Options{Encoding: tc.enc})
			if len(items) != 1 || items[0].err != "" {
				t.Fatalf("items %+v", items)
			}
			if want := "PID|1||PATM1^^^CLINIC^MR||" + tc.family + "^ANNA"; !strings.Contains(items[0].data, want) {
				t.Errorf("data %q lacks %q", items[0].data, want)
			}
			if (len(items[0].warns) > 0) != tc.warn {
				t.Errorf("warnings %q", items[0].warns)
			}
		})
	}
	if _, err := OpenReader("x", strings.NewReader(""), Options{Encoding: "ebcdic"}); err == nil {
		t.Error("unknown encoding accepted")
	}
}

func gz(t *testing.T, parts ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, p := range parts { // one gzip member each
		w := gzip.NewWriter(&b)
		io.WriteString(w, p)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGzipByContent(t *testing.T) {
	dir := t.TempDir()
	a, b := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\n")
	// two members; the member boundary falls inside message b
	p := writeFile(t, dir, "feed.txt", gz(t, a+b[:40], b[40:]))
	r, err := Open([]string{p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, c := collect(t, r)
	wantMessages(t, a+b, items, []string{a, b}, []string{"M1", "M2"})
	if c.Bytes != int64(len(a+b)) {
		t.Errorf("Bytes %d counts decompressed bytes? want %d", c.Bytes, len(a+b))
	}
	for _, it := range items {
		again, err := ReadAt(it.loc, Options{})
		if err != nil || string(again.Data) != it.data {
			t.Errorf("ReadAt(%v) = %q, %v", it.loc, again.Data, err)
		}
	}
}

func TestDirectoryAndGlob(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b/2.hl7", []byte(msg("B2", "DOE", "\r")))
	writeFile(t, dir, "a/1.hl7", []byte(msg("A1", "DOE", "\r")))
	writeFile(t, dir, "a/sub/3.hl7.gz", gz(t, msg("A3", "DOE", "\r")))
	writeFile(t, dir, "a/.hidden.hl7", []byte(msg("HID", "DOE", "\r")))
	writeFile(t, dir, ".git/x.hl7", []byte(msg("GIT", "DOE", "\r")))
	writeFile(t, dir, "c.txt", []byte(msg("C", "DOE", "\r")))
	ids := func(paths ...string) []string {
		r, err := Open(paths, Options{})
		if err != nil {
			t.Fatal(err)
		}
		items, _ := collect(t, r)
		var out []string
		for _, it := range items {
			if it.err != "" {
				out = append(out, "error:"+it.err)
				continue
			}
			out = append(out, it.loc.ControlID)
		}
		return out
	}
	if got, want := ids(dir), []string{"A1", "A3", "B2", "C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("directory: %v, want %v", got, want)
	}
	if got, want := ids(filepath.Join(dir, "*", "*.hl7"), filepath.Join(dir, "c.txt")), []string{"A1", "B2", "C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("glob: %v, want %v", got, want)
	}
	if got := ids(filepath.Join(dir, "*.none")); len(got) != 1 || !strings.Contains(got[0], "no file matches") {
		t.Errorf("empty glob: %v", got)
	}
	if _, err := Open([]string{"[bad"}, Options{}); err == nil {
		t.Error("malformed pattern accepted")
	}
}

func TestStdin(t *testing.T) {
	a, b := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\r")
	pr, pw := io.Pipe()
	go func() {
		// written in small pieces, as a pipe delivers them
		data := gz(t, "\x0b"+a+"\x1c\r"+b)
		for len(data) > 0 {
			n := min(7, len(data))
			pw.Write(data[:n])
			data = data[n:]
		}
		pw.Close()
	}()
	r, err := Open([]string{"-"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.stdin = pr
	items, c := collect(t, r)
	wantMessages(t, "\x0b"+a+"\x1c\r"+b, items, []string{a, b}, []string{"M1", "M2"})
	if items[0].loc.Source != "-" || c.Files != 1 {
		t.Errorf("source %q, counts %+v", items[0].loc.Source, c)
	}
	if _, err := ReadAt(items[0].loc, Options{}); err == nil {
		t.Error("ReadAt on stdin should fail")
	}
}

func TestReadAtPlain(t *testing.T) {
	dir := t.TempDir()
	in := "\xEF\xBB\xBF" + msg("M1", "DOE", "\r\n") + "\n" + "\x0b" + msg("M2", "M\xDCLLER", "\r") + msg("M3", "ROE", "\r") + "\x1c\r" +
		"PID|1||X\r\r" + msg("M4", "POE", "\n")
	p := writeFile(t, dir, "mixed.hl7", []byte(in))
	r, _ := Open([]string{p}, Options{})
	items, _ := collect(t, r)
	if len(items) != 5 {
		t.Fatalf("%d items: %+v", len(items), items)
	}
	for _, it := range items {
		again, err := ReadAt(it.loc, Options{})
		if err != nil {
			t.Fatal(err)
		}
		gotErr := ""
		if again.Err != nil {
			gotErr = again.Err.Error()
		}
		if string(again.Data) != it.data || gotErr != it.err || again.Loc != it.loc {
			t.Errorf("ReadAt(%v):\n got %q %q %v\nwant %q %q", it.loc, again.Data, gotErr, again.Loc, it.data, it.err)
		}
	}
}

func TestCloseMidStream(t *testing.T) {
	var b strings.Builder
	for b.Len() < 3<<20 {
		b.WriteString(msg("M1", "DOE", "\r"))
	}
	p := writeFile(t, t.TempDir(), "big.hl7", []byte(b.String()))
	r, err := Open([]string{p, p}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if it, err := r.Next(); err != nil || it.Loc.ControlID != "M1" {
		t.Fatalf("Next: %v %v", it, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
}

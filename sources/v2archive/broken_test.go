package v2archive

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// kinds summarises items as "ID" for a message and "!reason" for an error.
func kinds(items []got) []string {
	var out []string
	for _, it := range items {
		if it.err != "" {
			out = append(out, "!"+it.err)
		} else {
			out = append(out, it.loc.ControlID)
		}
	}
	return out
}

func TestBrokenInput(t *testing.T) {
	a, b := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\r")
	cases := []struct {
		name string
		in   string
		want []string // message ids, or "!" + a substring of the error
		at   int      // index of the error item
		off  int64    // its offset
		line int      // and line
	}{
		{"no MSH", a + "\rPID|1||X^^^C^MR\rRXA|0|1\r\r" + b, []string{"M1", "!no MSH segment: segment PID at line 6", "M2"}, 1, int64(len(a) + 1), 6},
		{"garbage text before MSH", "hello world\n" + a, []string{"!no MSH segment: data at line 1", "M1"}, 0, 0, 1},
		{"truncated MLLP frame at end", a + "\x0b" + b[:50], []string{"M1", "!truncated MLLP frame: no end byte 0x1C before the end"}, 1, int64(len(a)), 5},
		{"MLLP frame cut by the next frame", "\x0b" + a + "\x0b" + b + "\x1c\r", []string{"!truncated MLLP frame: no end byte 0x1C before the next frame at offset " + itoa(len(a)+1), "M2"}, 0, 0, 1},
		{"NUL bytes", a + strings.Replace(b, "ROE", "R\x00\x00E", 1) + a, []string{"M1", "!binary data: byte 0x00 at offset " + itoa(len(a)+strings.Index(b, "ROE")+1), "M1"}, 1, int64(len(a)), 5},
		{"binary garbage between messages", a + "\r\x00\x01\x02\xff\xfe\r\r" + b, []string{"M1", "!no MSH segment: data at line 6 does not follow a message header; binary data: byte 0x00", "M2"}, 1, int64(len(a) + 1), 6},
		{"broken MSH-2", "MSH|\r" + b, []string{"!MSH:", "M2"}, 0, 0, 1},
		{"DOS end-of-file mark", a + "\x1a\x1a\r\n", []string{"M1"}, 0, 0, 1},
		{"whitespace lines between messages", a + " \t \r\n  " + b, []string{"M1", "M2"}, 0, 0, 1},
		{"Ctrl-Z inside a segment", strings.Replace(a, "DOE", "D\x1aE", 1), []string{"!binary data: byte 0x1A"}, 0, 0, 1},
		{"empty", "", []string{"!empty file"}, 0, 0, 1},
		{"only blank lines", "\r\n\r\n\x0b\x1c\r", []string{"!no HL7 message in input"}, 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, c := readString(t, tc.in, Options{})
			k := kinds(items)
			if len(k) != len(tc.want) {
				t.Fatalf("items %q, want %q", k, tc.want)
			}
			errs := 0
			for i := range k {
				if strings.HasPrefix(tc.want[i], "!") {
					errs++
					if !strings.HasPrefix(k[i], "!") || !strings.Contains(k[i], tc.want[i][1:]) {
						t.Errorf("item %d: %q, want error containing %q", i, k[i], tc.want[i][1:])
					}
				} else if k[i] != tc.want[i] {
					t.Errorf("item %d: %q, want %q", i, k[i], tc.want[i])
				}
			}
			e := items[tc.at]
			if !strings.HasPrefix(tc.want[tc.at], "!") {
				if e.loc.Length != int64(len(a)) {
					t.Errorf("span %+v", e.loc)
				}
			} else if e.loc.Offset != tc.off || e.loc.Line != tc.line || e.loc.Source != "in.hl7" || e.loc.Index != tc.at+1 || e.data != "" {
				t.Errorf("error item loc %+v, want offset %d line %d", e.loc, tc.off, tc.line)
			}
			if c.Errors != errs || c.Messages != len(k)-errs {
				t.Errorf("counts %+v", c)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// bigSegment yields a message whose OBX-5 is n bytes long, generated on
// the fly so the test itself never holds it.
type bigSegment struct {
	head, tail string
	n          int64
	pos        int64
}

func (g *bigSegment) Read(p []byte) (int, error) {
	total := int64(len(g.head)) + g.n + int64(len(g.tail))
	if g.pos >= total {
		return 0, io.EOF
	}
	i := 0
	for i < len(p) && g.pos < total {
		switch {
		case g.pos < int64(len(g.head)):
			p[i] = g.head[g.pos]
		case g.pos < int64(len(g.head))+g.n:
			p[i] = 'A'
		default:
			p[i] = g.tail[g.pos-int64(len(g.head))-g.n]
		}
		i++
		g.pos++
	}
	return i, nil
}

func TestHugeSegmentSkipped(t *testing.T) {
	a, b := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\r")
	head := a + strings.TrimSuffix(msg("BIG", "POE", "\r"), "\r") + "\rOBX|1|ED|X||"
	src := &bigSegment{head: head, n: 10 << 20, tail: "\r" + b}
	r, err := OpenReader("big.hl7", src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var k []string
	for {
		it, err := r.Next()
		if err == io.EOF {
			break
		}
		if it.Err != nil {
			k = append(k, it.Loc.ControlID+": "+it.Err.Error())
			if it.Loc.Offset != int64(len(a)) || it.Loc.Length != int64(len(head)-len(a))+10<<20+1 {
				t.Errorf("span %d+%d", it.Loc.Offset, it.Loc.Length)
			}
		} else {
			k = append(k, it.Loc.ControlID)
		}
		// the reader never buffers the whole segment
		if c := cap(r.cur.buf); c > 2*defaultMaxSegment {
			t.Errorf("message buffer grew to %d bytes", c)
		}
	}
	want := "BIG: segment at line 9 is " + itoa(len("OBX|1|ED|X||")+10<<20) + " bytes long, over the limit of 1048576"
	if len(k) != 3 || k[0] != "M1" || k[1] != want || k[2] != "M2" {
		t.Errorf("items %q\nwant [M1 %q M2]", k, want)
	}
}

func TestMessageOverLimit(t *testing.T) {
	a := msg("M1", "DOE", "\r")
	long := strings.TrimSuffix(msg("M2", "ROE", "\r"), "\r") + strings.Repeat("\rNTE|1||"+strings.Repeat("x", 90), 50) + "\r"
	items, c := readString(t, a+long+a, Options{MaxMessageBytes: 2000, MaxSegmentBytes: 500})
	k := kinds(items)
	if len(k) != 3 || k[0] != "M1" || k[1] != "!message is over the limit of 2000 bytes" || k[2] != "M1" || items[1].loc.ControlID != "M2" {
		t.Errorf("items %q (%+v)", k, items[1].loc)
	}
	if c.Errors != 1 || c.Messages != 2 {
		t.Errorf("counts %+v", c)
	}
}

func TestUnreadableAndCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := msg("M1", "DOE", "\r"), msg("M2", "ROE", "\r")
	good := writeFile(t, dir, "1-good.hl7", []byte(a))
	empty := writeFile(t, dir, "2-empty.hl7", nil)
	z := gz(t, a+b)
	truncated := writeFile(t, dir, "3-truncated.gz", z[:len(z)-12])
	bad := append([]byte(nil), z...)
	bad[len(bad)-6] ^= 0xff // CRC/size trailer damaged
	crc := writeFile(t, dir, "4-crc.gz", bad)
	header := writeFile(t, dir, "5-header.gz", []byte{0x1f, 0x8b, 0x99})
	missing := filepath.Join(dir, "6-missing.hl7")
	r, err := Open([]string{good, empty, truncated, crc, header, missing, good}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	items, c := collect(t, r)
	var k []string
	for _, it := range items {
		s := filepath.Base(it.loc.Source) + " " + it.loc.ControlID
		if it.err != "" {
			s += " !" + it.err
		}
		k = append(k, s)
	}
	want := []string{
		"1-good.hl7 M1",
		"2-empty.hl7  !empty file",
		"3-truncated.gz M1",
		"3-truncated.gz M2 !read error: unexpected EOF",
		"4-crc.gz M1",
		"4-crc.gz M2 !read error: gzip: invalid checksum",
		"5-header.gz  !gzip: unexpected EOF",
		"6-missing.hl7  !stat: no such file or directory",
		"1-good.hl7 M1",
	}
	if strings.Join(k, "\n") != strings.Join(want, "\n") {
		t.Errorf("items:\n%s\nwant:\n%s", strings.Join(k, "\n"), strings.Join(want, "\n"))
	}
	if c.Files != 6 || c.Messages != 4 || c.Errors != 5 {
		t.Errorf("counts %+v", c)
	}
	if os.Geteuid() != 0 { // root reads anything
		locked := writeFile(t, dir, "locked.hl7", []byte(a))
		os.Chmod(locked, 0)
		r, _ := Open([]string{locked}, Options{})
		items, _ := collect(t, r)
		if len(items) != 1 || !strings.Contains(items[0].err, "permission denied") {
			t.Errorf("locked file: %+v", items)
		}
	}
}

package fhirout

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/iisbridge/iisbridge/fhirout/fhirtest"
)

func patient(id string) *Object {
	p := NewResource("Patient")
	p.Set("id", id)
	return p
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s: does not end with a newline", path)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func checkInfos(t *testing.T, infos []FileInfo) {
	t.Helper()
	for _, fi := range infos {
		st, err := os.Stat(fi.Path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != fi.Bytes {
			t.Errorf("%s: FileInfo.Bytes %d, file has %d", fi.Path, fi.Bytes, st.Size())
		}
		if n := int64(len(readLines(t, fi.Path))); n != fi.Count {
			t.Errorf("%s: FileInfo.Count %d, file has %d lines", fi.Path, fi.Count, n)
		}
	}
}

func names(infos []FileInfo) string {
	var s []string
	for _, fi := range infos {
		s = append(s, filepath.Base(fi.Path)+":"+strconv.FormatInt(fi.Count, 10))
	}
	return strings.Join(s, " ")
}

func TestDirWriterRotateByCount(t *testing.T) {
	dir := t.TempDir()
	w, err := NewDirWriter(dir, RotateOptions{MaxResources: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := w.Write(patient("p" + strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			imm := sampleImmunization()
			if err := w.Write(imm); err != nil {
				t.Fatal(err)
			}
		}
	}
	infos, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(infos), "Patient.ndjson:2 Immunization.ndjson:1 Patient.2.ndjson:2 Patient.3.ndjson:1"; got != want {
		t.Fatalf("files %s, want %s", got, want)
	}
	checkInfos(t, infos)
	if got := readLines(t, infos[2].Path); got[0] != `{"resourceType":"Patient","id":"p2"}` || got[1] != `{"resourceType":"Patient","id":"p3"}` {
		t.Fatalf("order: %v", got)
	}
	for _, fi := range infos {
		fhirtest.ValidateNDJSON(t, fi.Path)
	}
}

func TestDirWriterRotateByBytes(t *testing.T) {
	line := []byte(`{"resourceType":"Patient","id":"p0"}`) // 36 bytes + newline = 37
	n := int64(len(line) + 1)
	for _, tc := range []struct {
		max  int64
		want string
	}{
		{3 * n, "Patient.ndjson:3 Patient.2.ndjson:3 Patient.3.ndjson:1"}, // exact fit stays
		{3*n - 1, "Patient.ndjson:2 Patient.2.ndjson:2 Patient.3.ndjson:2 Patient.4.ndjson:1"},
		{n - 1, "Patient.ndjson:1 Patient.2.ndjson:1 Patient.3.ndjson:1 Patient.4.ndjson:1 Patient.5.ndjson:1 Patient.6.ndjson:1 Patient.7.ndjson:1"}, // too long: alone
		{0, "Patient.ndjson:7"},
	} {
		dir := t.TempDir()
		w, err := NewDirWriter(dir, RotateOptions{MaxBytes: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		for range 7 {
			if err := w.WriteLine("Patient", line); err != nil {
				t.Fatal(err)
			}
		}
		infos, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := names(infos); got != tc.want {
			t.Errorf("MaxBytes %d: files %s, want %s", tc.max, got, tc.want)
		}
		checkInfos(t, infos)
		for _, fi := range infos {
			if tc.max > 0 && fi.Bytes > tc.max && fi.Count > 1 {
				t.Errorf("%s: %d bytes > MaxBytes %d", fi.Path, fi.Bytes, tc.max)
			}
		}
	}
}

func TestDirWriterBothBounds(t *testing.T) {
	dir := t.TempDir()
	w, _ := NewDirWriter(dir, RotateOptions{MaxResources: 3, MaxBytes: 100})
	long := bytes.Repeat([]byte("x"), 150)
	short := []byte(`{"a":1}`)
	for _, l := range [][]byte{short, short, short, short, long, short} {
		if err := w.WriteLine("Group", l); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(infos), "Group.ndjson:3 Group.2.ndjson:1 Group.3.ndjson:1 Group.4.ndjson:1"; got != want {
		t.Fatalf("files %s, want %s", got, want)
	}
	checkInfos(t, infos)
}

func TestDirWriterErrors(t *testing.T) {
	if _, err := NewDirWriter(filepath.Join(t.TempDir(), "missing"), RotateOptions{}); err == nil {
		t.Error("missing directory accepted")
	}
	dir := t.TempDir()
	w, _ := NewDirWriter(dir, RotateOptions{})
	for _, bad := range []string{"", "../Patient", "patient", "Pat/ient", "Pa tient"} {
		if err := w.WriteLine(bad, []byte(`{}`)); err == nil {
			t.Errorf("type %q accepted", bad)
		}
	}
	if err := w.Write(NewObject()); err == nil {
		t.Error("object without resourceType accepted")
	}
	if err := w.WriteLine("Patient", []byte("{\n}")); err == nil {
		t.Error("line with a newline accepted")
	}
	if err := w.WriteLine("Patient", nil); err == nil {
		t.Error("empty line accepted")
	}
	if err := NewStreamWriter(io.Discard).WriteLine("Patient", []byte("{\n}")); err == nil {
		t.Error("StreamWriter accepted a line with a newline")
	}
	// A failing file: make the path a directory so create fails and the
	// error names the path.
	os.Mkdir(filepath.Join(dir, "Group.ndjson"), 0o755)
	err := w.WriteLine("Group", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "Group.ndjson") {
		t.Fatalf("create failure: %v", err)
	}
	if err2 := w.WriteLine("Patient", []byte(`{}`)); !errors.Is(err2, err) && err2.Error() != err.Error() {
		t.Errorf("error not sticky: %v", err2)
	}
	if _, err := w.Close(); err == nil {
		t.Error("Close after a failure returned nil")
	}
}

func TestDirWriterFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	if err := os.Symlink("/dev/full", filepath.Join(dir, "Patient.ndjson")); err != nil {
		t.Skip(err)
	}
	w, _ := NewDirWriter(dir, RotateOptions{})
	big := bytes.Repeat([]byte("x"), bufSize)
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		err = w.WriteLine("Patient", big)
	}
	if err == nil {
		_, err = w.Close()
	} else if _, cerr := w.Close(); cerr == nil {
		t.Error("Close hid the write error")
	}
	if err == nil || !strings.Contains(err.Error(), "Patient.ndjson") {
		t.Fatalf("disk full: %v", err)
	}
}

func TestDirWriterCloseTwice(t *testing.T) {
	w, _ := NewDirWriter(t.TempDir(), RotateOptions{})
	w.Write(patient("a"))
	a, err1 := w.Close()
	b, err2 := w.Close()
	if err1 != nil || err2 != nil || len(a) != 1 || len(b) != 1 {
		t.Fatalf("close twice: %v %v %v %v", a, err1, b, err2)
	}
	if err := w.Write(patient("b")); err == nil {
		t.Fatal("write after close accepted")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("boom")
	}
	return len(p), nil
}

func TestStreamWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewStreamWriter(&buf)
	w.Write(patient("a"))
	w.Write(sampleImmunization())
	w.Write(patient("b"))
	w.WriteLine("Group", []byte(`{"resourceType":"Group"}`))
	if buf.Len() != 0 {
		t.Fatal("not buffered")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 || lines[0] != `{"resourceType":"Patient","id":"a"}` || lines[3] != `{"resourceType":"Group"}` {
		t.Fatalf("lines %q", lines)
	}
	c := w.Counts()
	if c["Patient"] != 2 || c["Immunization"] != 1 || c["Group"] != 1 || len(c) != 3 {
		t.Fatalf("counts %v", c)
	}
	c["Patient"] = 99
	if w.Counts()["Patient"] != 2 {
		t.Fatal("Counts exposes internal map")
	}

	fw := NewStreamWriter(&failWriter{n: 10})
	fw.WriteLine("Patient", []byte(`{"resourceType":"Patient"}`))
	if err := fw.Flush(); err == nil {
		t.Fatal("Flush hid write error")
	}
	if err := fw.Write(patient("c")); err == nil {
		t.Fatal("error not sticky")
	}
}

func BenchmarkDirWriter(b *testing.B) {
	w, err := NewDirWriter(b.TempDir(), RotateOptions{MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	r := sampleImmunization()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		b.Fatal(err)
	}
}

// prettyValue marshals itself over several lines.
type prettyValue struct{}

func (prettyValue) MarshalJSON() ([]byte, error) { return []byte("{\n  \"a\": 1\n}"), nil }

// Write sends one line per resource without looking for newlines in it:
// newlines in keys and values, and a value's own pretty JSON, come out
// escaped or compacted.
func TestDirWriterWriteOneLine(t *testing.T) {
	dir := t.TempDir()
	w, err := NewDirWriter(dir, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := NewResource("Patient")
	r.Set("id", "a\nb")
	r.Set("k\n", "v\r\n")
	r.Set("pretty", prettyValue{})
	r.Child("meta").Append("tag", "x\ny")
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(NewResource("Patient")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "Patient.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"resourceType":"Patient","id":"a\nb","k\n":"v\r\n","pretty":{"a":1},"meta":{"tag":["x\ny"]}}` + "\n" +
		`{"resourceType":"Patient"}` + "\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant\n%s", data, want)
	}
	w2, _ := NewDirWriter(t.TempDir(), RotateOptions{})
	if err := w2.Write(NewResource("../x")); err == nil || !strings.Contains(err.Error(), "not a FHIR resource type") {
		t.Errorf("bad type name: %v", err)
	}
}

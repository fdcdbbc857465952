package index

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"github.com/iisbridge/iisbridge/sources"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iisbridge/iisbridge/sources/v2archive"
)

// fourVXU writes an archive whose 2nd and 3rd messages have the same
// length and belong to different persons, and returns it with the byte
// spans of those two.
func fourVXU(t *testing.T, path string) (data []byte, x, y [2]int) {
	t.Helper()
	msgs := []string{
		vxu("C0001", "CLINICA", "20240101120000", "A1^^^CLINICA^MR", "ADAMS^ANN", "20200101", "F", rxa("20240101", "08", "00")),
		vxu("C0002", "CLINICA", "20240102120000", "X1^^^CLINICA^MR", "XAVIER^XIA", "20200202", "F", rxa("20240102", "20", "00")),
		vxu("C0003", "CLINICA", "20240103120000", "Y1^^^CLINICA^MR", "YOUNGS^YUL", "20190303", "M", rxa("20240103", "10", "00")),
		vxu("C0004", "CLINICA", "20240104120000", "D1^^^CLINICA^MR", "DOE^DAN", "20200404", "M", rxa("20240104", "03", "00")),
	}
	if len(msgs[1]) != len(msgs[2]) {
		t.Fatal("test premise: messages 2 and 3 differ in length")
	}
	write(t, path, msgs...)
	data, _ = os.ReadFile(path)
	off := 0
	for i, m := range msgs {
		if i == 1 {
			x = [2]int{off, off + len(m)}
		}
		if i == 2 {
			y = [2]int{off, off + len(m)}
		}
		off += len(m) + 1
	}
	return data, x, y
}

// reread re-reads every message of the person holding key and says what
// each gave: the PID-5 family name, or the error.
func reread(t *testing.T, x *Index, key string) []string {
	t.Helper()
	ctx := context.Background()
	s := openSnapshot(t, x)
	p, ok, err := s.Person(ctx, x.Identity().PatientID(key))
	if err != nil || !ok {
		t.Fatalf("person %s: %v %v", key, ok, err)
	}
	ms, err := s.Messages(ctx, p, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := x.Source().Rereader()
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Close()
	var out []string
	for i := range ms {
		data, err := rr.Reread(ms[i].Locator())
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		_, rest, _ := strings.Cut(string(data), "\rPID|1||")
		f := strings.Split(rest, "|")
		out = append(out, strings.Split(f[2], "^")[0])
	}
	return out
}

// A file indexed under a relative path and then under its absolute path
// is one file; its messages re-read from any working directory.
func TestCanonicalPaths(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o755)
	a := filepath.Join(dir, "in", "a.hl7")
	fourVXU(t, a)
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	t.Chdir(dir)
	if _, err := x.Update(ctx, []string{"in/a.hl7"}); err != nil {
		t.Fatal(err)
	}
	st, err := x.Update(ctx, []string{a})
	if err != nil || st.Unchanged != 1 || st.New != 0 {
		t.Fatalf("absolute path after relative: %+v %v", st, err)
	}
	// A symbolic link to the directory names the same file too.
	if err := os.Symlink(filepath.Join(dir, "in"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if st, err := x.Update(ctx, []string{"link"}); err != nil || st.Unchanged != 1 || st.New != 0 {
		t.Fatalf("through a symlink: %+v %v", st, err)
	}
	if n := len(persons(t, x)); n != 4 {
		t.Fatalf("%d persons, want 4", n)
	}
	t.Chdir(t.TempDir())
	if got := reread(t, x, sources.PrefixMRN+"CLINICA|MR|Y1"); len(got) != 1 || got[0] != "YOUNGS" {
		t.Fatalf("re-read from another directory: %v", got)
	}
}

// indexedAt lists the indexed-at times of every message, by control id.
func indexedAt(t *testing.T, x *Index) map[string]time.Time {
	t.Helper()
	rows, err := x.db.Query(`SELECT rec_id, indexed_at FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at int64
		rows.Scan(&id, &at)
		out[id] = fromMicros(at)
	}
	return out
}

// Rotation (a.hl7 → a.hl7.1, a new a.hl7) and compression (a.hl7.1 →
// a.hl7.1.gz) keep the indexed messages, re-read from the new place; a
// file that is gone or no longer listed is dropped with its messages.
func TestMovedGzippedAndDroppedFiles(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	a := filepath.Join(in, "a.hl7")
	data, _, _ := fourVXU(t, a)
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{in}); err != nil {
		t.Fatal(err)
	}
	first := indexedAt(t, x)
	// Rotated: the old content moves to a.hl7.1, a.hl7 starts afresh.
	if err := os.Rename(a, a+".1"); err != nil {
		t.Fatal(err)
	}
	write(t, a, vxu("C0005", "CLINICB", "20240105120000", "E1^^^CLINICB^MR", "EVANS^EVE", "20200505", "F"))
	st, err := x.Update(ctx, []string{in})
	if err != nil || st.Moved != 1 || st.New != 1 || st.Dropped != 0 || st.Messages != 1 {
		t.Fatalf("rotation: %+v %v", st, err)
	}
	for id, at := range first {
		if got := indexedAt(t, x)[id]; !got.Equal(at) {
			t.Errorf("message %s re-indexed by the rotation (indexed at %v, was %v)", id, got, at)
		}
	}
	if got := reread(t, x, sources.PrefixMRN+"CLINICA|MR|X1"); len(got) != 1 || got[0] != "XAVIER" {
		t.Fatalf("after rotation: %v", got)
	}
	// Compressed: a.hl7.1 becomes a.hl7.1.gz.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	os.WriteFile(a+".1.gz", buf.Bytes(), 0o644)
	os.Remove(a + ".1")
	st, err = x.Update(ctx, []string{in})
	if err != nil || st.Moved != 1 || st.Messages != 0 || st.Dropped != 0 {
		t.Fatalf("compression: %+v %v", st, err)
	}
	if got := reread(t, x, sources.PrefixMRN+"CLINICA|MR|X1"); len(got) != 1 || got[0] != "XAVIER" {
		t.Fatalf("after compression: %v", got)
	}
	if n := len(persons(t, x)); n != 5 {
		t.Fatalf("%d persons, want 5", n)
	}
	// Gone: dropped with its messages and spool.
	os.Remove(a + ".1.gz")
	st, err = x.Update(ctx, []string{in})
	if err != nil || st.Dropped != 1 {
		t.Fatalf("gone: %+v %v", st, err)
	}
	if n := len(persons(t, x)); n != 1 {
		t.Fatalf("after the drop %d persons, want 1", n)
	}
	if sp, _ := filepath.Glob(filepath.Join(dir, "data", "spool", "*")); len(sp) != 0 {
		t.Errorf("spool files left: %v", sp)
	}
	// No longer listed: dropped too.
	b := filepath.Join(dir, "b.hl7")
	fourVXU(t, b)
	if st, err := x.Update(ctx, []string{b}); err != nil || st.Dropped != 1 || st.New != 1 {
		t.Fatalf("unlisted: %+v %v", st, err)
	}
	s, _ := x.Snapshot(ctx)
	cn, _ := s.Counts(ctx)
	s.Close()
	if cn.Files != 1 || cn.Records != 4 {
		t.Fatalf("counts after drops: %+v", cn)
	}
}

// The same PATH expansion as the reader: dot files are skipped under a
// directory and by wildcards.
func TestDotFilesSkippedLikeTheReader(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	fourVXU(t, filepath.Join(in, "a.hl7"))
	fourVXU(t, filepath.Join(in, ".a.hl7.swp"))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	for _, arg := range []string{in, filepath.Join(in, "*")} {
		st, err := x.Update(context.Background(), []string{arg})
		if err != nil || st.Files != 1 {
			t.Fatalf("%s: %+v %v; want one file", arg, st, err)
		}
	}
}

// A gzip bomb is refused as broken input, nothing of it spooled; a
// corrupt gzip keeps what decompressed and reports the rest; the other
// files are indexed.
func TestGzipBombAndCorruptGzip(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	fourVXU(t, filepath.Join(in, "a.hl7"))
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range v2archive.GzipRatioFloor>>20 + 2 {
		zw.Write(zero)
	}
	zw.Close()
	os.WriteFile(filepath.Join(in, "bomb.gz"), bomb.Bytes(), 0o644)
	data, _, _ := fourVXU(t, filepath.Join(dir, "c.hl7"))
	var cut bytes.Buffer
	zw = gzip.NewWriter(&cut)
	zw.Write(data)
	zw.Close()
	os.WriteFile(filepath.Join(in, "c.gz"), cut.Bytes()[:cut.Len()*2/3], 0o644)

	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	st, err := x.Update(ctx, []string{in})
	if err != nil || st.Broken != 2 || st.New != 3 {
		t.Fatalf("update: %+v %v", st, err)
	}
	var reasons []string
	s, _ := x.Snapshot(ctx)
	s.Problems(ctx, time.Time{}, time.Time{}, func(p Problem) error {
		reasons = append(reasons, filepath.Base(p.Loc.Source)+": "+p.Reason)
		return nil
	})
	cn, _ := s.Counts(ctx)
	s.Close()
	if len(reasons) != 2 || !strings.Contains(strings.Join(reasons, "\n"), "bomb.gz: gzip input expands more than") ||
		!strings.Contains(strings.Join(reasons, "\n"), "c.gz: gzip stream broken") {
		t.Fatalf("problems: %q", reasons)
	}
	if cn.Person < 5 || cn.Person > 7 {
		t.Fatalf("person messages %d: want a.hl7's 4 and what decompressed of c.gz", cn.Person)
	}
	if sp, _ := filepath.Glob(filepath.Join(dir, "data", "spool", "*")); len(sp) != 1 {
		t.Errorf("spool holds %v; want only c.gz's", sp)
	}
}

// A file that cannot be read does not stop the update; what was indexed
// of it stays.
func TestUnreadableFileKept(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions are not enforced")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	a, b := filepath.Join(in, "a.hl7"), filepath.Join(in, "b.hl7")
	fourVXU(t, a)
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{in}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(a, 0)
	defer os.Chmod(a, 0o644)
	write(t, b, vxu("C0009", "CLINICB", "20240105120000", "E1^^^CLINICB^MR", "EVANS^EVE", "20200505", "F"))
	st, err := x.Update(ctx, []string{in})
	if err != nil || st.Unreadable != 1 || st.New != 1 || st.Dropped != 0 {
		t.Fatalf("update: %+v %v", st, err)
	}
	if n := len(persons(t, x)); n != 5 {
		t.Fatalf("%d persons, want 5", n)
	}
	got := reread(t, x, sources.PrefixMRN+"CLINICA|MR|X1")
	if len(got) != 1 || !strings.Contains(got[0], "permission denied") {
		t.Fatalf("re-read of an unreadable file: %v", got)
	}
}

// Instants far outside 1678-2262 do not wrap around.
func TestFarInstants(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hl7")
	write(t, a, "PID|1|orphan\r", vxu("C1", "CLINICA", "23000101120000", "A1^^^CLINICA^MR", "ADAMS^ANN", "20200101", "F"))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	if _, err := x.Update(ctx, []string{a}); err != nil {
		t.Fatal(err)
	}
	s, _ := x.Snapshot(ctx)
	defer s.Close()
	count := func(since, asOf time.Time) int {
		n := 0
		if err := s.Problems(ctx, since, asOf, func(Problem) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	if count(y(2100), time.Time{}) != 0 || count(y(2300), time.Time{}) != 0 || count(y(9999), time.Time{}) != 0 {
		t.Error("a _since after the indexing time gives problems")
	}
	if count(y(1500), time.Time{}) != 1 || count(y(1), y(9999)) != 1 || count(y(1500), y(1600)) != 0 {
		t.Error("a _since before the indexing time misses problems")
	}
	ps, _ := s.Persons(ctx, "", 10)
	ms, _ := s.Messages(ctx, ps[0], y(9999))
	if len(ms) != 1 || ms[0].Time.Year() != 2300 {
		t.Fatalf("message time of year 2300: %+v", ms)
	}
}

func TestVerifyRefusesOtherBytes(t *testing.T) {
	m := Message{}
	m.Loc.ControlID = "C1"
	it := &v2archive.Item{Data: []byte("MSH|x\r")}
	it.Loc.ControlID = "C1"
	if err := v2archive.Verify(it, m.Locator()); !errors.Is(err, ErrChanged) {
		t.Fatalf("a message without a stored checksum verified: %v", err)
	}
}

// A folder that cannot be listed keeps what was indexed from it; a
// folder that is gone drops it.
func TestUnlistableFolderKept(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: file permissions are not enforced")
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "in", "sub")
	os.MkdirAll(sub, 0o755)
	fourVXU(t, filepath.Join(sub, "a.hl7"))
	c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := openTest(t, filepath.Join(dir, "data"), c)
	ctx := context.Background()
	in := filepath.Join(dir, "in")
	if _, err := x.Update(ctx, []string{in}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(sub, 0)
	st, err := x.Update(ctx, []string{in})
	os.Chmod(sub, 0o755)
	if err != nil || st.Dropped != 0 || st.Unreadable != 1 || len(persons(t, x)) != 4 {
		t.Fatalf("unlistable folder: %+v %v", st, err)
	}
	os.RemoveAll(sub)
	if st, err := x.Update(ctx, []string{in}); err != nil || st.Dropped != 1 {
		t.Fatalf("gone folder: %+v %v", st, err)
	}
}
